//! The driver: owns the swarm, turns what the swarm, the streams, the sessions and the
//! settings report into the link's inputs, and does the effects the link returns. It
//! decides nothing itself. Streams a phone opened wait in a map, by the phone that opened
//! them, until the link says what to do with them; the swarm's dials wait in another, by
//! their connection, until they connect or fail. When the node takes a new identity
//! (`daily::Turns` says when), the driver starts the swarm and the link again.
//!
//! Near 700 lines, without tests of its own (`tests/net.rs` and `tests/lan.rs` drive it
//! whole): it is the one owner of the swarm, and `perform` is one match over the link's
//! effects, each beside the state it acts on.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};
use futures::StreamExt;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{ConnectionId, SwarmEvent};
use libp2p::{PeerId, Stream, Swarm};
use libp2p_stream::IncomingStreams;
use tokio::sync::{Notify, broadcast, mpsc, oneshot, watch};

use super::swarm::{self, Behaviour, BehaviourEvent, PAIR_PROTOCOL, SYNC_PROTOCOL, allow_list};
use super::{NetConfig, Node, Request};
use crate::net::addresses;
use crate::net::daily::{self, Days, Identity, NewIdentity, Turns};
use crate::net::error::{DialError, NetError, Paired};
use crate::net::invite::Invitation;
use crate::net::letters::{self, LETTERS_PROTOCOL};
use crate::net::link::{DialId, Effect, Input, Intent, PartnerLink, Reply, SessionId};
use crate::net::pairing::{Introduction, InviteCode, PairFailure, PairOutcome, Role};
use crate::net::peers::{self, Partner, Write};
use crate::net::session::{self, End, SessionContext, SessionReport};
use crate::net::sync::Arrived;
use crate::net::watch::FileWatch;
use crate::net::worker::StoreWorker;
use crate::net::{AbortOnDrop, relay};
use crate::net::{LinkState, NetEvent, NetStatus, WireTap};
use crate::store::Mailbox;
use crate::store::{Store, StoreError};

/// How often the node looks whether another process on this phone changed the journal
/// or the settings (the window, `steady pause`, `pair confirm`), when the kernel can't
/// say so at once.
const LOOK_EVERY: Duration = Duration::from_secs(1);
/// With the kernel saying so, the node still looks this often, in case it missed one: a
/// node left running while the partner is away must cost close to nothing.
const LOOK_ANYWAY: Duration = Duration::from_secs(5 * 60);
/// How long after the kernel tells of a write the file is looked at once more.
const LOOK_AFTER_NOTICE: Duration = Duration::from_millis(100);

/// Sets the driver going on the current tokio runtime, with the node's own connection to
/// the journal, and gives back the handle that asks it things.
pub(super) async fn start(
    store: Store,
    link: PartnerLink,
    swarm: Swarm<Behaviour>,
    identity: Identity,
    day: NaiveDate,
    config: &NetConfig,
) -> Result<Node, NetError> {
    let me = Arc::new(std::sync::Mutex::new(link.me()));
    let mut control = swarm.behaviour().stream.new_control();
    let (incoming_sync, incoming_pair, incoming_letters) = accept(&mut control)?;
    let mailbox = store.mailbox();
    let data_dir = store.path().parent().map(std::path::Path::to_path_buf);

    let (requests, request_rx) = mpsc::unbounded_channel();
    let (events, first) = broadcast::channel(1024);
    let (arrivals, _) = broadcast::channel(64);
    let local_change = Arc::new(Notify::new());
    let initial = NetStatus::at_rest(&store)?;
    let settings_version = store.data_version().ok();
    let watch = store.path().parent().and_then(FileWatch::start);
    let store = StoreWorker::start(store).map_err(|e| NetError::Start(e.to_string()))?;
    let (status_tx, status) = watch::channel(initial);
    let (reports_tx, reports) = mpsc::unbounded_channel();
    let (pair_tx, pair_results) = mpsc::unbounded_channel();

    let paired = link.partner_peer().is_some();
    let mut driver = Driver {
        swarm,
        identity,
        turns: Turns::new(day, paired),
        days: config.days.clone(),
        me: me.clone(),
        config: config.clone(),
        control,
        store,
        link,
        tap: config.tap.clone(),
        events: events.clone(),
        arrivals: arrivals.clone(),
        status: status_tx,
        local_change: local_change.clone(),
        reports_tx,
        pair_tx,
        session: None,
        streams: HashMap::new(),
        dials: HashMap::new(),
        replies: Replies::default(),
        seen_version: None,
        settings_version,
        publish_due: false,
        // Started again while the words were compared (the app closed, or staging
        // cut short): staged anew.
        stage_due: true,
        watch,
        partner_addresses: None,
        mailbox: mailbox.clone(),
        letters_changed: Arc::new(Notify::new()),
        relay_changed: Arc::new(Notify::new()),
        pusher: None,
        relays: None,
    };
    // The couple's relays, asked while the node runs; what they bring is opened at once.
    if let Some(dir) = data_dir.filter(|d| !d.as_os_str().is_empty()) {
        let (worker, arrivals, events) = (driver.store.clone(), arrivals.clone(), events.clone());
        let opened = move || {
            let (worker, arrivals) = (worker.clone(), arrivals.clone());
            async move {
                let _ = worker
                    .run(move |store| {
                        let show = move |arrived| drop(arrivals.send(Arc::new(arrived)));
                        letters::open_waiting(store, Some(&show))
                    })
                    .await;
            }
        };
        let task = relay::keep_in_touch(dir, mailbox, driver.relay_changed.clone(), events, opened);
        driver.relays = Some(AbortOnDrop(tokio::spawn(task)));
    }
    for address in config.dial.clone() {
        driver.feed(Input::Intent(Intent::Dial { address, ticket: None })).await;
    }
    tokio::spawn(driver.run(request_rx, [incoming_sync, incoming_pair, incoming_letters], reports, pair_results));
    Ok(Node {
        requests,
        events,
        arrivals,
        first: std::sync::Mutex::new(Some(first)),
        status,
        local_change,
        peer_id: me,
    })
}

/// The streams other phones open, of the three protocols this phone serves.
fn accept(
    control: &mut libp2p_stream::Control,
) -> Result<(IncomingStreams, IncomingStreams, IncomingStreams), NetError> {
    let sync = control.accept(SYNC_PROTOCOL).map_err(|e| NetError::Start(e.to_string()))?;
    let pair = control.accept(PAIR_PROTOCOL).map_err(|e| NetError::Start(e.to_string()))?;
    let letters = control.accept(LETTERS_PROTOCOL).map_err(|e| NetError::Start(e.to_string()))?;
    Ok((sync, pair, letters))
}

/// Folds the waiting shares into a new pairing's document ahead of time
/// ([`Store::stage_outbox`]) while the two people compare their words: after the
/// introduction, after a restart, and after a change took an earlier staging back. Does
/// nothing once both have confirmed (the session folds then), nor when the document
/// holds more than the genesis or is staged already.
fn stage_while_comparing(store: &mut Store) -> Result<usize, NetError> {
    match peers::partner(store)? {
        Some(partner) if !(partner.confirmed && peers::partner_confirmed(store, &partner)?) => {
            match store.stage_outbox() {
                // The pairing ended meanwhile.
                Err(StoreError::PairingChanged) => Ok(0),
                staged => Ok(staged?),
            }
        }
        _ => Ok(0),
    }
}

/// A pairing that could not start, told to the link as a failed one.
fn pairing_failed(peer: PeerId, role: Role, e: NetError) -> Input {
    let outcome = PairOutcome::Failed(PairFailure::Gone(e.to_string()));
    Input::Pairing { peer, role, outcome, at: Utc::now() }
}

/// Who waits for an answer to a request.
#[derive(Default)]
struct Replies {
    invite: Option<oneshot::Sender<Result<Invitation, NetError>>>,
    /// The join just asked for, until the link takes or refuses it.
    asking_join: Option<oneshot::Sender<Result<Paired, NetError>>>,
    /// The join under way.
    join: Option<oneshot::Sender<Result<Paired, NetError>>>,
    dials: HashMap<u64, oneshot::Sender<Result<(), NetError>>>,
    next_ticket: u64,
    done: Option<oneshot::Sender<Result<(), NetError>>>,
}

/// Owns the swarm and does what the link says.
struct Driver {
    swarm: Swarm<Behaviour>,
    /// The identity the swarm has, and the day it belongs to.
    identity: Identity,
    /// When the node takes a new identity.
    turns: Turns,
    days: Days,
    /// The same identity, as the node's handle tells it.
    me: Arc<std::sync::Mutex<PeerId>>,
    config: NetConfig,
    control: libp2p_stream::Control,
    store: StoreWorker,
    link: PartnerLink,
    tap: Option<WireTap>,
    events: broadcast::Sender<NetEvent>,
    arrivals: broadcast::Sender<Arc<Arrived>>,
    status: watch::Sender<NetStatus>,
    local_change: Arc<Notify>,
    reports_tx: mpsc::UnboundedSender<(u64, SessionReport)>,
    pair_tx: mpsc::UnboundedSender<(PeerId, Role, PairOutcome)>,
    session: Option<(SessionId, tokio::task::JoinHandle<()>)>,
    /// Streams a phone opened, by that phone, until the link says what to do with them.
    streams: HashMap<PeerId, Stream>,
    /// The dials the swarm is making, by their connection, with the link's name for each.
    dials: HashMap<ConnectionId, DialId>,
    replies: Replies,
    seen_version: Option<i64>,
    /// The file's `data_version` when the settings were last read.
    settings_version: Option<i64>,
    publish_due: bool,
    /// A pairing was just saved: fold the waiting shares ahead of time.
    stage_due: bool,
    /// Says when another process wrote the journal; without it, the node looks each second.
    watch: Option<FileWatch>,
    /// The partner's remembered addresses as last read, so that a redial while apart
    /// does not wake the journal's thread; read again once the file or the book changed.
    partner_addresses: Option<Vec<libp2p::Multiaddr>>,
    /// The letters beside the journal (`net::letters`).
    mailbox: Mailbox,
    /// Told when the journal changed, so the letters' sender looks for new ones.
    letters_changed: Arc<Notify>,
    /// Sends this phone's letters while the partner's phone is connected.
    pusher: Option<tokio::task::JoinHandle<()>>,
    /// Told when the journal changed, so the relays are asked again.
    relay_changed: Arc<Notify>,
    /// Keeps in touch with the couple's relays (`net::relay`).
    relays: Option<AbortOnDrop>,
}

/// Waits for the journal's folder to change, or forever without a watch.
async fn folder_changed(watch: &mut Option<FileWatch>) {
    match watch {
        Some(watch) => watch.changed().await,
        None => std::future::pending().await,
    }
}

impl Driver {
    async fn run(
        mut self,
        mut requests: mpsc::UnboundedReceiver<Request>,
        incoming: [IncomingStreams; 3],
        mut reports: mpsc::UnboundedReceiver<(u64, SessionReport)>,
        mut pair_results: mpsc::UnboundedReceiver<(PeerId, Role, PairOutcome)>,
    ) {
        let [mut incoming_sync, mut incoming_pair, mut incoming_letters] = incoming;
        self.publish().await;
        let look_every = if self.watch.is_some() { LOOK_ANYWAY } else { LOOK_EVERY };
        let mut next_look = Instant::now() + look_every;
        loop {
            // Asleep until something happens, the link has something due, or it is time
            // to look at the file again. No fixed tick.
            let wake = self.link.next_wake().map_or(next_look, |w| w.min(next_look));
            let wake = self.turns.wake().map_or(wake, |at| at.min(wake));
            let day = self.turns.day();
            tokio::select! {
                request = requests.recv() => match request {
                    None => break,
                    Some(Request::Shutdown(done)) => {
                        if let Some((_, task)) = self.session.take() {
                            task.abort();
                        }
                        if let Some(pusher) = self.pusher.take() {
                            pusher.abort();
                        }
                        let _ = done.send(());
                        break;
                    }
                    Some(request) => self.on_request(request).await,
                },
                event = self.swarm.select_next_some() => self.on_swarm_event(event).await,
                Some((peer, stream)) = incoming_sync.next() => {
                    self.on_stream(peer, stream, Input::IncomingSync { peer }).await;
                }
                Some((peer, stream)) = incoming_pair.next() => {
                    self.on_stream(peer, stream, Input::IncomingPair { peer }).await;
                }
                Some((peer, stream)) = incoming_letters.next() => self.on_letters(peer, stream),
                Some((id, report)) = reports.recv() => self.feed(Input::Session { id, report }).await,
                Some((peer, role, outcome)) = pair_results.recv() => {
                    self.feed(Input::Pairing { peer, role, outcome, at: Utc::now() }).await;
                }
                // Midnight, UTC: a new day's identity is taken below.
                _ = self.days.after(day) => {}
                _ = folder_changed(&mut self.watch) => {
                    self.reread_settings().await;
                    // The kernel tells of a write as it starts: a commit can land after
                    // the look it caused, with nothing more to tell. One more look soon.
                    next_look = next_look.min(Instant::now() + LOOK_AFTER_NOTICE);
                }
                _ = tokio::time::sleep_until(wake.into()) => {
                    if Instant::now() >= next_look {
                        self.reread_settings().await;
                        next_look = Instant::now() + look_every;
                    }
                    self.feed(Input::Tick).await;
                }
            }
            if let Some(why) = self.new_identity_due() {
                match self.start_again(why).await {
                    Ok((sync, pair, letters)) => {
                        (incoming_sync, incoming_pair, incoming_letters) = (sync, pair, letters);
                    }
                    Err(e) => tracing::warn!("a new network identity could not be taken: {e}"),
                }
            }
            if std::mem::take(&mut self.publish_due) {
                self.publish().await;
            }
            if std::mem::take(&mut self.stage_due) {
                // While the two people compare their words, the shares waiting for this
                // partner are folded into the new document, ready to go the moment both
                // say the words match; nothing is sent before. After the badge is
                // published, so the screen does not wait for it.
                let _ = self.store.submit(|store| {
                    if let Err(e) = stage_while_comparing(store) {
                        tracing::warn!("the waiting shares could not be made ready: {e}");
                    }
                });
            }
        }
    }

    /// A phone opened a stream: it waits, by that phone, while the link decides; one the
    /// link did not take is closed unanswered.
    async fn on_stream(&mut self, peer: PeerId, stream: Stream, input: Input) {
        self.streams.insert(peer, stream);
        self.feed(input).await;
        self.streams.remove(&peer);
    }

    /// Hands the link one input and does what it says. What an effect's doing tells the
    /// link (a write done, a dial failed) is handed back at once, and its effects done
    /// first.
    async fn feed(&mut self, input: Input) {
        // The stream that came with the input, if one did, is the one the effects mean
        // by "the stream that just arrived".
        let arrived = match &input {
            Input::IncomingSync { peer } | Input::IncomingPair { peer } => Some(*peer),
            _ => None,
        };
        let mut queue: VecDeque<Effect> = self.link.handle(Instant::now(), input).into();
        while let Some(effect) = queue.pop_front() {
            if let Some(answer) = self.perform(effect, arrived).await {
                for effect in self.link.handle(Instant::now(), answer).into_iter().rev() {
                    queue.push_front(effect);
                }
            }
        }
    }

    /// Takes the stream that arrived from `peer`, if it still waits.
    fn take_stream(&mut self, peer: Option<PeerId>) -> Option<Stream> {
        self.streams.remove(&peer?)
    }

    async fn on_request(&mut self, request: Request) {
        // A request acts on the settings as the file says them now.
        self.reread_settings().await;
        let intent = match request {
            Request::Invite(reply) => {
                self.replies.invite = Some(reply);
                Intent::Invite(InviteCode::random())
            }
            Request::CancelPairing => Intent::CancelPairing,
            Request::Join(invitation, reply) => {
                self.replies.asking_join = Some(reply);
                Intent::Join(invitation)
            }
            Request::Dial(address, reply) => {
                self.replies.next_ticket += 1;
                let ticket = self.replies.next_ticket;
                self.replies.dials.insert(ticket, reply);
                Intent::Dial { address, ticket: Some(ticket) }
            }
            Request::SetPaused(paused, reply) => {
                self.replies.done = Some(reply);
                Intent::SetPaused(paused)
            }
            Request::Unpair(reply) => {
                self.replies.done = Some(reply);
                Intent::Unpair
            }
            Request::Shutdown(_) => return,
        };
        self.feed(Input::Intent(intent)).await;
        // A join the link took is the one under way now.
        if let Some(reply) = self.replies.asking_join.take() {
            self.replies.join = Some(reply);
        }
    }

    /// Hands the link the settings again when another process may have changed them.
    async fn reread_settings(&mut self) {
        let seen = self.settings_version;
        let today = self.identity.day;
        let read = self
            .store
            .run(move |store| {
                let version = store.data_version().ok();
                (version != seen).then(|| (version, daily::settings_for(store, today)))
            })
            .await;
        let Ok(Some((version, settings))) = read else { return };
        self.settings_version = version;
        self.partner_addresses = None;
        self.publish_due = true;
        // A change to a waiting share takes a staged fold back: staged again, while the
        // words are still being compared.
        self.stage_due = true;
        // The session looks too: a share, or a confirmation, may be waiting to go.
        self.local_change.notify_one();
        // And the letters' sender: a letter may have been made.
        self.letters_changed.notify_one();
        self.relay_changed.notify_one();
        match settings {
            Ok(settings) => self.feed(Input::Settings(settings)).await,
            Err(e) => tracing::warn!("this phone's network settings can't be read: {e}"),
        }
    }

    /// Does one effect; what doing it tells the link, if anything.
    async fn perform(&mut self, effect: Effect, arrived: Option<PeerId>) -> Option<Input> {
        match effect {
            Effect::Dial { dial, peer, addresses, only_if_apart } => {
                let opts = match peer {
                    Some(peer) if only_if_apart => {
                        DialOpts::peer_id(peer).addresses(addresses).condition(PeerCondition::Disconnected).build()
                    }
                    Some(peer) => DialOpts::peer_id(peer).addresses(addresses).build(),
                    None => match addresses.into_iter().next() {
                        Some(address) => DialOpts::unknown_peer_id().address(address).build(),
                        None => return None,
                    },
                };
                let id = opts.connection_id();
                self.dials.insert(id, dial);
                if let Err(e) = self.swarm.dial(opts) {
                    self.dials.remove(&id);
                    // Refused before it began: told in the network's own words.
                    let reason = DialError::Other(e.to_string());
                    return Some(Input::DialFailed { dial, reason: reason.to_string() });
                }
            }
            Effect::RedialPartner(partner) => {
                let mut addresses = match &self.partner_addresses {
                    Some(known) => known.clone(),
                    None => {
                        let read = self.store.run(|store| peers::addresses(store).unwrap_or_default()).await;
                        let read = read.unwrap_or_default();
                        self.partner_addresses = Some(read.clone());
                        read
                    }
                };
                // The partner's phone listens on the day's port, where it is free.
                if let Some(today) = self.identity.day {
                    let moved: Vec<_> =
                        addresses.iter().filter_map(|a| addresses::at_port(a, today.partner_port)).collect();
                    addresses.extend(moved.into_iter().filter(|a| !addresses.contains(a)).collect::<Vec<_>>());
                }
                // And its courier, at its own port, in case the partner's phone is locked:
                // for letters alone, which the link never hears of.
                if let Some(today) = self.identity.day {
                    let courier: Vec<_> =
                        addresses.iter().filter_map(|a| addresses::at_port(a, today.partner_courier_port)).collect();
                    if !courier.is_empty() {
                        let opts = DialOpts::peer_id(today.partner_courier)
                            .addresses(courier)
                            .condition(PeerCondition::DisconnectedAndNotDialing)
                            .build();
                        let _ = self.swarm.dial(opts);
                    }
                }
                if !addresses.is_empty() {
                    let opts = DialOpts::peer_id(partner)
                        .addresses(addresses)
                        .condition(PeerCondition::DisconnectedAndNotDialing)
                        .build();
                    let _ = self.swarm.dial(opts);
                }
            }
            Effect::Disconnect(peer) => {
                let _ = self.swarm.disconnect_peer_id(peer);
            }
            Effect::Door(door) => self.swarm.behaviour_mut().allow = allow_list(&door, self.partner_courier()),
            Effect::Exempt(peer) => {
                self.swarm.behaviour_mut().limits.bypass_peer_id(&peer);
            }
            Effect::Unexempt(peer) => {
                self.swarm.behaviour_mut().limits.remove_peer_id(&peer);
            }
            Effect::OpenSession { id, peer, partner } => {
                let ctx = self.session_context(peer, *partner, id);
                let mut control = self.control.clone();
                let reports = self.reports_tx.clone();
                let task = tokio::spawn(async move {
                    match control.open_stream(peer, SYNC_PROTOCOL).await {
                        Ok(stream) => session::run_sync(ctx, stream).await,
                        Err(e) => {
                            let reason = format!("no sync stream: {e}");
                            let _ = reports.send((id, SessionReport::Ended { reason, end: End::Closed }));
                        }
                    }
                });
                self.replace_session(id, task);
            }
            Effect::AcceptSession { id, peer, partner } => {
                let stream = self.take_stream(Some(peer))?;
                let ctx = self.session_context(peer, *partner, id);
                let task = tokio::spawn(session::run_sync(ctx, stream));
                self.replace_session(id, task);
            }
            Effect::AbortSession(id) => {
                if let Some((running, task)) = self.session.take() {
                    if running == id {
                        task.abort();
                    } else {
                        self.session = Some((running, task));
                    }
                }
            }
            Effect::DropStream => drop(self.take_stream(arrived)),
            Effect::RefusePair(reason) => {
                if let Some(stream) = self.take_stream(arrived) {
                    tokio::spawn(session::refuse(stream, reason, self.tap.clone()));
                }
            }
            Effect::Invitee { peer, code } => {
                let stream = self.take_stream(Some(peer))?;
                let (me, tap, results) = (self.link.me(), self.tap.clone(), self.pair_tx.clone());
                let store = self.store.clone();
                match self.introduction().await {
                    Ok(who) => {
                        tokio::spawn(async move {
                            let outcome = session::invitee_arrived(stream, code, me, peer, who, store, tap).await;
                            let _ = results.send((peer, Role::Inviter, outcome));
                        });
                    }
                    Err(e) => return Some(pairing_failed(peer, Role::Inviter, e)),
                }
            }
            Effect::JoinAt { peer, code, continues } => {
                let (me, tap, results) = (self.link.me(), self.tap.clone(), self.pair_tx.clone());
                let mut control = self.control.clone();
                match self.introduction().await {
                    Ok(who) => {
                        tokio::spawn(async move {
                            let outcome = match control.open_stream(peer, PAIR_PROTOCOL).await {
                                Ok(stream) => session::join(stream, code, me, peer, who, continues, tap).await,
                                Err(e) => {
                                    tracing::debug!("no pairing stream to {peer}: {e}");
                                    PairOutcome::Failed(PairFailure::Gone(
                                        "it isn't showing an invite right now".to_owned(),
                                    ))
                                }
                            };
                            let _ = results.send((peer, Role::Joiner, outcome));
                        });
                    }
                    Err(e) => return Some(pairing_failed(peer, Role::Joiner, e)),
                }
            }
            Effect::Write(write) => {
                let job = write.clone();
                let result = self.store.run(move |store| peers::write(store, &job).map_err(NetError::from)).await;
                let result = result.unwrap_or_else(|e| Err(NetError::Start(e.to_string())));
                if matches!(write, Write::Address(_)) {
                    self.partner_addresses = None;
                }
                if matches!(write, Write::NewPartner { .. }) && result.is_ok() {
                    self.stage_due = true;
                    self.turns.paired_at(Instant::now());
                }
                if write.answered() {
                    return Some(Input::Written { write, result });
                } else if let Err(e) = result {
                    tracing::warn!("a network setting could not be saved: {e}");
                }
            }
            Effect::Emit(event) => {
                let _ = self.events.send(event);
            }
            Effect::Reply(reply) => self.reply(reply),
            Effect::Publish => self.publish_due = true,
            Effect::ListenAnyPort => {
                if self.swarm.listeners().next().is_none() {
                    let _ = self.swarm.listen_on(addresses::all_interfaces(0));
                }
            }
        }
        None
    }

    /// Sends this phone's letters to the partner's phone while it is connected: those
    /// ready now, and each later one once its undo has ended.
    fn start_pusher(&mut self, peer: PeerId) {
        if let Some(pusher) = self.pusher.take() {
            pusher.abort();
        }
        let (mailbox, mut control, store) = (self.mailbox.clone(), self.control.clone(), self.store.clone());
        let (events, arrivals, changed) = (self.events.clone(), self.arrivals.clone(), self.letters_changed.clone());
        let settle = move |_sent: &[usize]| {
            let (store, arrivals) = (store.clone(), arrivals.clone());
            async move {
                // The entries whose letters left say "Shared" from now on.
                let settled = store.run(|store| {
                    let ids = store.settle_letters()?;
                    store.listed(&ids)
                });
                if let Ok(Ok(listed)) = settled.await {
                    let _ = arrivals.send(Arc::new(listed));
                }
            }
        };
        self.pusher = Some(tokio::spawn(async move {
            letters::push_while_connected(peer, &mut control, &mailbox, &changed, &events, settle).await;
        }));
    }

    /// The partner's phone sends letters: kept sealed, then opened at once, since this
    /// phone is unlocked.
    fn on_letters(&mut self, peer: PeerId, stream: Stream) {
        if Some(peer) != self.link.partner_peer() && Some(peer) != self.partner_courier() {
            return;
        }
        let (mailbox, store, events, arrivals) =
            (self.mailbox.clone(), self.store.clone(), self.events.clone(), self.arrivals.clone());
        tokio::spawn(async move {
            let told = events.clone();
            let said = move |bytes| drop(told.send(NetEvent::LetterReceived { bytes }));
            if let Err(e) = letters::receive(&mailbox, stream, &said).await {
                tracing::debug!("letters: {e}");
            }
            let opened = store.run(move |store| {
                let show = move |arrived| drop(arrivals.send(Arc::new(arrived)));
                letters::open_waiting(store, Some(&show))
            });
            match opened.await {
                Ok(Ok(opened)) => {
                    for reason in opened.refused {
                        let _ = events.send(NetEvent::Refused { peer: Some(peer.to_base58()), reason });
                    }
                }
                Ok(Err(e)) => tracing::warn!("letters could not be opened: {e}"),
                Err(e) => tracing::warn!("letters could not be opened: {e}"),
            }
        });
    }

    fn reply(&mut self, reply: Reply) {
        let replies = &mut self.replies;
        match reply {
            Reply::Invite(result) => {
                if let Some(tx) = replies.invite.take() {
                    let _ = tx.send(result);
                }
            }
            Reply::JoinRefused(e) => {
                if let Some(tx) = replies.asking_join.take() {
                    let _ = tx.send(Err(e));
                }
            }
            Reply::Join(result) => {
                if let Some(tx) = replies.join.take().or_else(|| replies.asking_join.take()) {
                    let _ = tx.send(result);
                }
            }
            Reply::Dial { ticket, result } => {
                if let Some(tx) = replies.dials.remove(&ticket) {
                    let _ = tx.send(result);
                }
            }
            Reply::Done(result) => {
                if let Some(tx) = replies.done.take() {
                    let _ = tx.send(result);
                }
            }
        }
    }

    fn replace_session(&mut self, id: SessionId, task: tokio::task::JoinHandle<()>) {
        if let Some((_, old)) = self.session.replace((id, task)) {
            old.abort();
        }
    }

    /// Who this phone is, for the pairing exchange.
    async fn introduction(&mut self) -> Result<Introduction, NetError> {
        let read = self.store.run(|store| {
            let me = store.me().ok_or(NetError::NotSetUp)?;
            Ok(Introduction { name: me.name.clone(), person: me.id, actor: store.actor().to_bytes().to_vec() })
        });
        read.await.unwrap_or_else(|e| Err(NetError::Start(e.to_string())))
    }

    fn session_context(&self, peer: PeerId, partner: Partner, id: u64) -> SessionContext {
        SessionContext {
            peer,
            partner,
            store: self.store.clone(),
            local_change: self.local_change.clone(),
            reports: self.reports_tx.clone(),
            arrivals: self.arrivals.clone(),
            id,
            tap: self.tap.clone(),
        }
    }

    async fn publish(&mut self) {
        let seen = self.seen_version;
        let read = self.store.run(move |store| {
            // Changes written by the window or the command line count as waiting to be sent.
            let version = store.data_version().ok();
            if version.is_some() && version != seen {
                let _ = store.catch_up();
            }
            let status = NetStatus::at_rest(store).ok()?;
            let waiting = store.waiting_count().unwrap_or(status.unsent_changes);
            Some((version.or(seen), status, waiting))
        });
        let Ok(Some((version, mut status, waiting))) = read.await else { return };
        self.seen_version = version;
        status.link = self.link.badge();
        // Both phones hold the same document: only what waits here is not sent yet (the
        // saved sync state, which `at_rest` counts from, is written just after).
        if status.link == LinkState::Synced {
            status.unsent_changes = waiting;
        }
        status.listening = self.link.listening().iter().map(|a| a.to_string()).collect();
        // Who the two phones are on the network today, as the node knows them.
        status.peer_id = Some(self.link.me().to_base58());
        if let (Some(view), Some(peer)) = (status.partner.as_mut(), self.link.partner_peer()) {
            view.peer_id = peer.to_base58();
        }
        self.status.send_if_modified(|old| {
            let changed = *old != status;
            *old = status;
            changed
        });
    }

    /// Whether this phone should take a new identity now, and why ([`Turns`]).
    fn new_identity_due(&mut self) -> Option<NewIdentity> {
        let paired = self.link.partner_peer().is_some();
        // A partner paired before phones had a couple secret knows only the one identity;
        // an open invite or join names the one this phone has.
        let keep = (paired && self.identity.day.is_none()) || self.link.pairing_open();
        self.turns.due(Instant::now(), self.days.today(), paired, keep)
    }

    /// Starts the swarm again with the identity for today (kept in the settings, as at a
    /// start), and a link that knows it. Whatever was under way with the earlier identity
    /// ends; the partner's phone, which works out the same identities, finds this one
    /// again. When the pairing ended, the port is left behind too.
    async fn start_again(
        &mut self,
        why: NewIdentity,
    ) -> Result<(IncomingStreams, IncomingStreams, IncomingStreams), NetError> {
        let day = self.days.today();
        let read = self.store.run(move |store| daily::identity_on(store, day).map_err(NetError::from));
        let (identity, settings) = read.await.map_err(|e| NetError::Start(e.to_string()))??;
        let (link, swarm) = Node::swarm(&identity, settings, &self.config)?;
        // Where the person said to listen, the ports stay as they are bound now, so that
        // the partner's phone still finds this one without discovery.
        let bound = self.link.listening().iter().find_map(addresses::tcp_port);
        let listen: Vec<_> = match (why, bound) {
            (NewIdentity::PairingEnded, _) | (_, None) => self.config.listen.clone(),
            (_, Some(bound)) => self
                .config
                .listen
                .iter()
                .map(|a| match addresses::tcp_port(a) {
                    Some(0) => addresses::at_port(a, bound).unwrap_or_else(|| a.clone()),
                    _ => a.clone(),
                })
                .collect(),
        };
        let port = identity.day.map(|today| today.port);
        let mut control = swarm.behaviour().stream.new_control();
        let incoming = accept(&mut control)?;
        if let Some((_, task)) = self.session.take() {
            task.abort();
        }
        self.streams.clear();
        self.dials.clear();
        // A "Connect by address" under way is told the network stopped, rather than
        // waiting for a dial the old swarm took with it.
        self.replies.dials.clear();
        // The old swarm goes first, so that its ports are free again.
        self.swarm = swarm;
        if let Err(e) = Node::listen(&mut self.swarm, &listen, port) {
            tracing::warn!("{e}; listening on any free port");
            let _ = self.swarm.listen_on(addresses::all_interfaces(0));
        }
        *self.me.lock().unwrap_or_else(|p| p.into_inner()) = link.me();
        tracing::info!("{}: this phone is now {} on the network", why.words(), link.me());
        (self.control, self.link, self.identity) = (control, link, identity);
        self.turns.taken(day, self.link.partner_peer().is_some());
        self.publish_due = true;
        Ok(incoming)
    }

    /// The partner's courier today, if the pairing has a couple secret.
    fn partner_courier(&self) -> Option<PeerId> {
        self.identity.day.map(|today| today.partner_courier)
    }

    async fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        let partner = self.link.partner_peer();
        let courier = self.partner_courier();
        let ours = |peer: &PeerId| Some(*peer) == partner || Some(*peer) == courier;
        match &event {
            SwarmEvent::ConnectionEstablished { peer_id, .. } if ours(peer_id) => {
                self.start_pusher(*peer_id);
            }
            SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. } if ours(peer_id) => {
                if let Some(pusher) = self.pusher.take() {
                    pusher.abort();
                }
            }
            _ => {}
        }
        // The partner's courier is for letters alone: the link never hears of it, so
        // nothing on this phone shows whether the partner's phone is near.
        let about_courier = match &event {
            SwarmEvent::ConnectionEstablished { peer_id, .. } | SwarmEvent::ConnectionClosed { peer_id, .. } => {
                Some(*peer_id) == courier
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(libp2p::mdns::Event::Discovered(found))) => {
                courier.is_some() && found.iter().all(|(peer, _)| Some(*peer) == courier)
            }
            _ => false,
        };
        if about_courier {
            return;
        }
        for input in swarm::inputs(event, &mut self.dials, self.link.partner_peer()) {
            self.feed(input).await;
        }
    }
}
