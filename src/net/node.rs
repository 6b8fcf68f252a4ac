//! The network node: a libp2p swarm (TCP, Noise, Yamux), mDNS to find the partner's phone,
//! and one loop that owns the swarm and drives pairing and sync.
//!
//! Who gets in: the allow list comes first in the behaviour and holds only the paired
//! partner (nobody while sync is paused or stopped), so any other device's connection is
//! closed before a single stream opens.
//! While an invite or a join is open it is lifted, and then the only protocol served to a
//! stranger is the pairing exchange, limited to five tries. The sync handler checks the
//! peer again.
//!
//! Keeping the connection: a sync session keeps one stream open with a ping every second,
//! and ends after four quiet seconds. The partner's last addresses are kept and redialed,
//! so a phone that rejoins the Wi-Fi is found again without waiting for mDNS. Only the
//! phone with the lower identity dials at first, so two phones don't dial each other at
//! the same moment; the other dials after a delay.
//!
//! Settings other processes change (the window's "They match", `pair confirm`, `pair
//! reject`, `unpair`, `pause`, `resume`) are read again whenever the file's
//! `data_version` moves, which the loop looks at every tick.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::StreamExt;
use libp2p::core::ConnectedPoint;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{ConnectionId, NetworkBehaviour, SwarmEvent};
use libp2p::{
    Multiaddr, PeerId, StreamProtocol, Swarm, SwarmBuilder, allow_block_list, connection_limits, mdns, noise, tcp,
    yamux,
};
use tokio::sync::{Notify, broadcast, mpsc, oneshot, watch};

use super::invite::InviteLink;
use super::pairing::{Introduction, InviteCode, PairingError, Refusal};
use super::peers::{self, Partner};
use super::session::{
    self, End, PairFailure, PairOutcome, PairedWith, SessionContext, SessionReport, SharedStore, lock,
};
use super::{Link, NetEvent, NetStatus, WireTap};
use crate::store::Store;

const SYNC_PROTOCOL: StreamProtocol = StreamProtocol::new("/steady/sync/1");
const PAIR_PROTOCOL: StreamProtocol = StreamProtocol::new("/steady/pair/1");

/// An invite lasts this long.
pub const INVITE_LIFETIME: Duration = Duration::from_secs(10 * 60);
/// This many wrong codes cancel an invite.
pub const MAX_TRIES: u8 = 5;
/// The phone with the higher identity waits this long for the other to open the session
/// (or to dial) before doing it itself.
/// A connection on a LAN takes a few milliseconds, so this is a wide margin, and short
/// enough that a phone rejoining the Wi-Fi is synced well within a second.
const FALLBACK: Duration = Duration::from_millis(300);
/// How often the partner's remembered addresses are tried while apart.
const REDIAL_EVERY: Duration = Duration::from_secs(1);
/// The same refusal (another pairing, say) is reported at most this often, since the two
/// phones keep finding each other.
const REPEAT_REFUSAL: Duration = Duration::from_secs(60);
const TICK: Duration = Duration::from_millis(100);

/// How the node is started.
#[derive(Clone)]
pub struct NetConfig {
    /// Find the partner's phone with mDNS. Off, only addresses dialed directly are used.
    pub discovery: bool,
    /// Where to accept connections. Empty: all of this phone's IPv4 addresses, on the
    /// port used last time if it is free.
    pub listen: Vec<Multiaddr>,
    /// Addresses to connect to at once, as with "Connect by address".
    pub dial: Vec<Multiaddr>,
    /// mDNS timing.
    pub query_interval: Duration,
    pub ttl: Duration,
    /// How long an invite stays open.
    pub invite_lifetime: Duration,
    /// Records every byte handed to the network, for tests.
    pub tap: Option<WireTap>,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            discovery: true,
            listen: Vec::new(),
            dial: Vec::new(),
            query_interval: Duration::from_secs(20),
            ttl: Duration::from_secs(60),
            invite_lifetime: INVITE_LIFETIME,
            tap: None,
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum NetError {
    /// The journal could not be read or written; the store's error is kept as the source.
    #[error("{0}")]
    Store(#[source] Arc<crate::store::StoreError>),
    #[error("this phone's saved network settings can't be read ({0}); unpair and pair again")]
    Damaged(&'static str),
    #[error("the network could not start: {0}")]
    Start(String),
    #[error("set up this phone first (your name), then pair")]
    NotSetUp,
    #[error("this phone is already paired with {0}; unpair first to pair with someone else")]
    AlreadyPaired(String),
    #[error("this phone isn't paired with anyone yet")]
    NotPaired,
    #[error(transparent)]
    Pairing(#[from] PairFailure),
    #[error("can't reach partner at {address}: {reason}")]
    Unreachable { address: String, reason: String },
    #[error("the network has stopped")]
    Stopped,
    #[error("the pairing was cancelled on this phone")]
    Cancelled,
    #[error("another pairing is already under way on this phone")]
    PairingUnderWay,
}

impl From<peers::PeersError> for NetError {
    fn from(e: peers::PeersError) -> Self {
        match e {
            peers::PeersError::Store(e) => e.into(),
            peers::PeersError::Damaged(what) => NetError::Damaged(what),
        }
    }
}

impl From<crate::store::StoreError> for NetError {
    fn from(e: crate::store::StoreError) -> Self {
        NetError::Store(Arc::new(e))
    }
}

/// A finished pairing, not yet confirmed: nothing syncs until the person on each phone
/// has checked that both show the same words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paired {
    pub partner: PeerId,
    pub name: String,
    pub safety_words: [&'static str; 4],
    /// The couple id both phones derived (hex).
    pub couple: String,
}

type DialReply = oneshot::Sender<Result<(), NetError>>;

enum Command {
    Invite(oneshot::Sender<Result<InviteLink, NetError>>),
    CancelPairing,
    Join(InviteLink, oneshot::Sender<Result<Paired, NetError>>),
    Dial(Multiaddr, oneshot::Sender<Result<(), NetError>>),
    SetPaused(bool, oneshot::Sender<Result<(), NetError>>),
    Unpair(oneshot::Sender<Result<(), NetError>>),
    Shutdown(oneshot::Sender<()>),
}

/// A running node. Dropping it stops the network.
pub struct Node {
    commands: mpsc::UnboundedSender<Command>,
    events: broadcast::Sender<NetEvent>,
    /// Holds every event from the start until the first subscriber takes it.
    first: std::sync::Mutex<Option<broadcast::Receiver<NetEvent>>>,
    status: watch::Receiver<NetStatus>,
    local_change: Arc<Notify>,
    peer_id: PeerId,
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    /// First: caps on how many connections may be opening or open at once, so a flood
    /// from the Wi-Fi is turned away before it costs more. The partner is exempt.
    limits: connection_limits::Behaviour,
    /// Then the allow list, so a stranger's connection is closed before anything else
    /// sees it.
    allow: Toggle<allow_block_list::Behaviour<allow_block_list::AllowedPeers>>,
    mdns: Toggle<mdns::tokio::Behaviour>,
    stream: libp2p_stream::Behaviour,
}

impl Node {
    /// Starts the node on the current tokio runtime. The store is the node's own
    /// connection to this phone's journal.
    pub async fn start(mut store: Store, config: NetConfig) -> Result<Node, NetError> {
        let key = peers::keypair(&mut store)?;
        let me = key.public().to_peer_id();
        if peers::forget_untrusted(&mut store)? {
            tracing::info!("forgot a partner saved before pairings were confirmed; pair again");
        }
        let partner = peers::partner(&store)?;
        let paused = peers::paused(&store)?;
        let stopped = peers::stopped(&store)?;

        let mdns_config = mdns::Config { ttl: config.ttl, query_interval: config.query_interval, enable_ipv6: false };
        let discovery = config.discovery;
        let mut swarm = SwarmBuilder::with_existing_identity(key)
            .with_tokio()
            .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)
            .map_err(|e| NetError::Start(e.to_string()))?
            .with_behaviour(|key| -> Result<Behaviour, Box<dyn std::error::Error + Send + Sync>> {
                let mdns = if discovery {
                    Some(mdns::tokio::Behaviour::new(mdns_config, key.public().to_peer_id())?)
                } else {
                    None
                };
                Ok(Behaviour {
                    limits: connection_limits(partner.as_ref()),
                    allow: Toggle::from(Some(allow_list(partner.as_ref(), paused || stopped.is_some()))),
                    mdns: Toggle::from(mdns),
                    stream: libp2p_stream::Behaviour::new(),
                })
            })
            .map_err(|e| NetError::Start(e.to_string()))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(10)))
            .build();

        let mut listen = config.listen.clone();
        if listen.is_empty() {
            let port = peers::listen_port(&store)?.unwrap_or(0);
            let remembered: Multiaddr = format!("/ip4/0.0.0.0/tcp/{port}").parse().map_err(|_| NetError::Stopped)?;
            if port != 0 && swarm.listen_on(remembered).is_ok() {
                // Whether the port is still free shows in the listener's events.
            } else {
                listen.push("/ip4/0.0.0.0/tcp/0".parse().map_err(|_| NetError::Stopped)?);
            }
        }
        for address in &listen {
            swarm.listen_on(address.clone()).map_err(|e| NetError::Start(format!("can't listen on {address}: {e}")))?;
        }

        let mut control = swarm.behaviour().stream.new_control();
        let incoming_sync = control.accept(SYNC_PROTOCOL).map_err(|e| NetError::Start(e.to_string()))?;
        let incoming_pair = control.accept(PAIR_PROTOCOL).map_err(|e| NetError::Start(e.to_string()))?;

        let (commands, command_rx) = mpsc::unbounded_channel();
        let (events, first) = broadcast::channel(1024);
        let local_change = Arc::new(Notify::new());
        let store: SharedStore = Arc::new(std::sync::Mutex::new(store));
        let initial = {
            let s = lock(&store);
            NetStatus::at_rest(&s)?
        };
        let (status_tx, status) = watch::channel(initial);
        let (reports_tx, reports) = mpsc::unbounded_channel();
        let (pair_tx, pair_results) = mpsc::unbounded_channel();

        let mut event_loop = EventLoop {
            swarm,
            control,
            store,
            me,
            config,
            partner,
            paused,
            stopped,
            last_refusal: None,
            events: events.clone(),
            status: status_tx,
            local_change: local_change.clone(),
            reports_tx,
            pair_tx,
            invite: None,
            join: None,
            session: None,
            next_session: 0,
            connected_since: None,
            apart_since: Some(Instant::now()),
            last_redial: None,
            last_session_end: None,
            dials: HashMap::new(),
            listening: Vec::new(),
            synced: false,
            reached_at: HashMap::new(),
            found_at: HashSet::new(),
            seen_version: None,
            settings_version: None,
        };
        for address in event_loop.config.dial.clone() {
            event_loop.dial_address(address, None);
        }
        tokio::spawn(event_loop.run(command_rx, incoming_sync, incoming_pair, reports, pair_results));
        Ok(Node { commands, events, first: std::sync::Mutex::new(Some(first)), status, local_change, peer_id: me })
    }

    /// Starts the node on a thread of its own, for the window, whose own loop is not
    /// tokio's.
    pub fn start_on_thread(store: Store, config: NetConfig) -> Result<Node, NetError> {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("steady-sync".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = tx.send(Err(NetError::Start(e.to_string())));
                        return;
                    }
                };
                runtime.block_on(async move {
                    match Node::start(store, config).await {
                        Ok(node) => {
                            let closed = node.commands.clone();
                            let _ = tx.send(Ok(node));
                            closed.closed().await;
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                        }
                    }
                });
            })
            .map_err(|e| NetError::Start(e.to_string()))?;
        rx.recv().map_err(|_| NetError::Stopped)?
    }

    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// Events from now on; the first call gets every event since the node started.
    pub fn subscribe(&self) -> broadcast::Receiver<NetEvent> {
        let first = self.first.lock().unwrap_or_else(|p| p.into_inner()).take();
        first.unwrap_or_else(|| self.events.subscribe())
    }

    /// Where sync stands, kept current.
    pub fn status(&self) -> watch::Receiver<NetStatus> {
        self.status.clone()
    }

    /// Says that this phone's journal changed, so the partner hears of it at once.
    pub fn local_change(&self) {
        self.local_change.notify_one();
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<Result<T, NetError>>) -> Command) -> Result<T, NetError> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(make(tx)).map_err(|_| NetError::Stopped)?;
        rx.await.map_err(|_| NetError::Stopped)?
    }

    /// Opens an invite for ten minutes. The link holds the code, this phone's identity and
    /// its addresses; [`NetEvent::Paired`] or [`NetEvent::InviteEnded`] tells how it ends.
    pub async fn invite(&self) -> Result<InviteLink, NetError> {
        self.ask(Command::Invite).await
    }

    /// Ends an open invite or join, and lets no stranger connect again.
    pub fn cancel_pairing(&self) {
        let _ = self.commands.send(Command::CancelPairing);
    }

    /// Joins the invite a code or link names, and waits until pairing ends.
    pub async fn join(&self, link: InviteLink) -> Result<Paired, NetError> {
        self.ask(|tx| Command::Join(link, tx)).await
    }

    /// Connects to a phone at an address, for networks that block discovery.
    pub async fn dial(&self, address: Multiaddr) -> Result<(), NetError> {
        self.ask(|tx| Command::Dial(address, tx)).await
    }

    /// Stops or restarts sync with the partner. The partner's phone is not told.
    pub async fn set_paused(&self, paused: bool) -> Result<(), NetError> {
        self.ask(|tx| Command::SetPaused(paused, tx)).await
    }

    /// Forgets the partner. The shared document is set apart, read-only, and my entries
    /// in it become private again; the next pairing starts afresh. The partner's phone is
    /// not told.
    pub async fn unpair(&self) -> Result<(), NetError> {
        self.ask(Command::Unpair).await
    }

    /// Stops the network, ending any session between two writes.
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Shutdown(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let (tx, _) = oneshot::channel();
        let _ = self.commands.send(Command::Shutdown(tx));
    }
}

fn allow_list(partner: Option<&Partner>, closed: bool) -> allow_block_list::Behaviour<allow_block_list::AllowedPeers> {
    let mut allow = allow_block_list::Behaviour::default();
    if let Some(p) = partner
        && !closed
    {
        allow.allow_peer(p.peer);
    }
    allow
}

/// How many connections may be opening, or open, at once. Only the partner's phone ever
/// needs one (two for a moment when both dial), and strangers only while an invite is
/// open; these leave room for that and turn a flood away.
const MAX_PENDING_INCOMING: u32 = 16;
const MAX_ESTABLISHED_INCOMING: u32 = 32;
const MAX_PER_PEER: u32 = 2;
/// The most addresses discovery reports the partner at in one run.
const FOUND_AT_MOST: usize = 16;

fn connection_limits(partner: Option<&Partner>) -> connection_limits::Behaviour {
    let limits = connection_limits::ConnectionLimits::default()
        .with_max_pending_incoming(Some(MAX_PENDING_INCOMING))
        .with_max_established_incoming(Some(MAX_ESTABLISHED_INCOMING))
        .with_max_established_per_peer(Some(MAX_PER_PEER));
    let mut behaviour = connection_limits::Behaviour::new(limits);
    if let Some(partner) = partner {
        behaviour.bypass_peer_id(&partner.peer);
    }
    behaviour
}

/// Saves a partner just paired with: the store starts the couple's own (empty) shared
/// document, and whatever this phone remembered about an earlier partner is cleared
/// first. The pairing is unconfirmed until the person checks the words.
fn save_new_partner(store: &mut Store, partner: &Partner, reached: Option<&Multiaddr>) -> Result<(), NetError> {
    let me = store.me().map(|p| p.id);
    let earlier = store.people()?.into_iter().find(|(id, _)| Some(*id) != me).map(|(_, name)| name);
    peers::forget_partner(store)?;
    store.start_couple(&partner.couple, earlier.as_deref().unwrap_or("your earlier partner"))?;
    peers::set_partner(store, partner)?;
    if let Some(address) = reached {
        peers::remember_address(store, address)?;
    }
    Ok(())
}

struct OpenInvite {
    code: InviteCode,
    expires: Instant,
    tries: u8,
    busy: bool,
}

struct OpenJoin {
    link: InviteLink,
    reply: oneshot::Sender<Result<Paired, NetError>>,
    tried: Vec<PeerId>,
    busy: bool,
}

struct Session {
    id: u64,
    peer: PeerId,
    task: tokio::task::JoinHandle<()>,
    /// Opened by this phone.
    outbound: bool,
    started: Instant,
}

enum PairRole {
    Inviter,
    Joiner,
}

struct EventLoop {
    swarm: Swarm<Behaviour>,
    control: libp2p_stream::Control,
    store: SharedStore,
    me: PeerId,
    config: NetConfig,
    partner: Option<Partner>,
    paused: bool,
    /// Why sync with the partner stopped, when their phone broke the rules.
    stopped: Option<String>,
    /// The last refusal reported, and when, so a repeated one is not said every second.
    last_refusal: Option<(String, Instant)>,
    events: broadcast::Sender<NetEvent>,
    status: watch::Sender<NetStatus>,
    local_change: Arc<Notify>,
    reports_tx: mpsc::UnboundedSender<(u64, SessionReport)>,
    pair_tx: mpsc::UnboundedSender<(PeerId, PairRole, PairOutcome)>,
    invite: Option<OpenInvite>,
    join: Option<OpenJoin>,
    session: Option<Session>,
    next_session: u64,
    connected_since: Option<Instant>,
    apart_since: Option<Instant>,
    last_redial: Option<Instant>,
    last_session_end: Option<Instant>,
    /// Dials asked for by a person, to report on.
    dials: HashMap<ConnectionId, (Multiaddr, Option<DialReply>)>,
    listening: Vec<Multiaddr>,
    synced: bool,
    /// The address each connected phone was reached at, when this phone dialed it.
    reached_at: HashMap<PeerId, Multiaddr>,
    /// The partner's addresses discovery has found during this run, each said once.
    found_at: HashSet<Multiaddr>,
    seen_version: Option<i64>,
    /// The file's `data_version` when the settings were last read.
    settings_version: Option<i64>,
}

impl EventLoop {
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut incoming_sync: libp2p_stream::IncomingStreams,
        mut incoming_pair: libp2p_stream::IncomingStreams,
        mut reports: mpsc::UnboundedReceiver<(u64, SessionReport)>,
        mut pair_results: mpsc::UnboundedReceiver<(PeerId, PairRole, PairOutcome)>,
    ) {
        let mut tick = tokio::time::interval(TICK);
        self.publish();
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    None => break,
                    Some(Command::Shutdown(done)) => {
                        self.stop_session();
                        let _ = done.send(());
                        break;
                    }
                    Some(command) => self.on_command(command),
                },
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                Some((peer, stream)) = incoming_sync.next() => self.on_incoming_sync(peer, stream),
                Some((peer, stream)) = incoming_pair.next() => self.on_incoming_pair(peer, stream),
                Some((id, report)) = reports.recv() => self.on_report(id, report),
                Some((peer, role, outcome)) = pair_results.recv() => self.on_pair_outcome(peer, role, outcome),
                _ = tick.tick() => self.on_tick(),
            }
        }
    }

    fn emit(&self, event: NetEvent) {
        let _ = self.events.send(event);
    }

    fn partner_peer(&self) -> Option<PeerId> {
        self.partner.as_ref().map(|p| p.peer)
    }

    /// Whether sessions may run with the partner: not paused, and not stopped.
    fn may_sync(&self) -> bool {
        !self.paused && self.stopped.is_none()
    }

    /// Reports a refusal, unless the same one was reported a moment ago.
    fn refused(&mut self, peer: Option<PeerId>, reason: String) {
        if let Some((last, at)) = &self.last_refusal
            && *last == reason
            && at.elapsed() < REPEAT_REFUSAL
        {
            return;
        }
        self.last_refusal = Some((reason.clone(), Instant::now()));
        self.emit(NetEvent::Refused { peer: peer.map(|p| p.to_base58()), reason });
    }

    /// Reads again the settings another process on this phone may have changed: the
    /// pairing (confirmed, rejected, unpaired), pause and stop.
    fn reread_settings(&mut self) {
        let (partner, paused, stopped) = {
            let store = lock(&self.store);
            match (peers::partner(&store), peers::paused(&store), peers::stopped(&store)) {
                (Ok(partner), Ok(paused), Ok(stopped)) => (partner, paused, stopped),
                _ => return,
            }
        };
        let same_pairing = match (&partner, &self.partner) {
            (Some(now), Some(was)) => now.peer == was.peer && now.couple == was.couple,
            (None, None) => true,
            _ => false,
        };
        let stopped = if partner.is_some() { stopped } else { None };
        let door_changed = !same_pairing || paused != self.paused || stopped.is_some() != self.stopped.is_some();
        if !same_pairing {
            // Rejected or unpaired elsewhere: the session ends, and the old partner is let go.
            self.stop_session();
            self.synced = false;
            if let Some(was) = self.partner_peer() {
                self.swarm.behaviour_mut().limits.remove_peer_id(&was);
                let _ = self.swarm.disconnect_peer_id(was);
            }
        }
        if (paused || stopped.is_some()) && self.may_sync() {
            self.stop_session();
            self.synced = false;
            if let Some(peer) = self.partner_peer() {
                let _ = self.swarm.disconnect_peer_id(peer);
            }
        }
        self.partner = partner;
        self.paused = paused;
        self.stopped = stopped;
        if door_changed {
            self.restore_allow_list();
        }
    }

    /// Who this phone is, for the pairing exchange.
    fn introduction(&self) -> Result<Introduction, NetError> {
        let store = lock(&self.store);
        let me = store.me().ok_or(NetError::NotSetUp)?;
        Ok(Introduction { name: me.name.clone(), person: me.id, actor: store.actor().to_bytes().to_vec() })
    }

    fn publish(&mut self) {
        let mut store = lock(&self.store);
        // Changes written by the window or the command line count as waiting to be sent.
        if let Ok(version) = store.data_version()
            && self.seen_version != Some(version)
        {
            self.seen_version = Some(version);
            let _ = store.catch_up();
        }
        let Ok(mut status) = NetStatus::at_rest(&store) else { return };
        let waiting = store.waiting_count().unwrap_or(status.unsent_changes);
        drop(store);
        let connected = self.partner_peer().is_some_and(|p| self.swarm.is_connected(&p));
        let on_network = self.listening.iter().any(|a| !is_loopback(a));
        status.link = match (&self.partner, self.paused) {
            (None, _) => Link::NotPaired,
            (Some(_), _) if self.stopped.is_some() => Link::Stopped,
            (Some(_), true) => Link::Paused,
            (Some(_), false) if connected && self.synced => Link::Synced,
            (Some(_), false) if connected => Link::Connected,
            (Some(_), false) if on_network => Link::Looking,
            (Some(_), false) => Link::Offline,
        };
        // Both phones hold the same document: only what waits here is not sent yet (the
        // saved sync state, which `at_rest` counts from, is written just after).
        if status.link == Link::Synced {
            status.unsent_changes = waiting;
        }
        status.listening = self.listening.iter().map(|a| a.to_string()).collect();
        self.status.send_if_modified(|old| {
            let changed = *old != status;
            *old = status;
            changed
        });
    }

    // ----- Commands -----

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Invite(reply) => {
                let _ = reply.send(self.open_invite());
            }
            Command::CancelPairing => {
                if self.invite.take().is_some() {
                    self.emit(NetEvent::InviteEnded { reason: "cancelled".to_owned() });
                }
                if let Some(join) = self.join.take() {
                    let _ = join.reply.send(Err(NetError::Cancelled));
                }
                self.restore_allow_list();
            }
            Command::Join(link, reply) => self.open_join(link, reply),
            Command::Dial(address, reply) => {
                if !peers::is_local(&address) {
                    let _ = reply.send(Err(NetError::Unreachable {
                        address: host_port(&address),
                        reason: "it is not on your local network".to_owned(),
                    }));
                } else {
                    self.dial_address(address, Some(reply));
                }
            }
            Command::SetPaused(paused, reply) => {
                let result = self.set_paused(paused);
                let _ = reply.send(result);
            }
            Command::Unpair(reply) => {
                let result = self.unpair();
                let _ = reply.send(result);
            }
            Command::Shutdown(_) => {}
        }
        self.publish();
    }

    fn my_name(&self) -> Result<String, NetError> {
        lock(&self.store).me().map(|p| p.name.clone()).ok_or(NetError::NotSetUp)
    }

    fn open_invite(&mut self) -> Result<InviteLink, NetError> {
        self.my_name()?;
        if let Some(p) = &self.partner {
            return Err(NetError::AlreadyPaired(p.name.clone()));
        }
        if self.join.is_some() {
            return Err(NetError::PairingUnderWay);
        }
        let code = InviteCode::random();
        self.invite = Some(OpenInvite {
            code: code.clone(),
            expires: Instant::now() + self.config.invite_lifetime,
            tries: 0,
            busy: false,
        });
        self.lift_allow_list();
        let mut addresses: Vec<Multiaddr> = self.listening.iter().filter(|a| peers::is_local(a)).cloned().collect();
        addresses.sort_by_key(is_loopback);
        Ok(InviteLink { code, peer: Some(self.me), addresses })
    }

    fn open_join(&mut self, link: InviteLink, reply: oneshot::Sender<Result<Paired, NetError>>) {
        if let Err(e) = self.my_name() {
            let _ = reply.send(Err(e));
            return;
        }
        if let Some(p) = &self.partner {
            let _ = reply.send(Err(NetError::AlreadyPaired(p.name.clone())));
            return;
        }
        if self.invite.is_some() || self.join.is_some() {
            let _ = reply.send(Err(NetError::PairingUnderWay));
            return;
        }
        self.lift_allow_list();
        let addresses = link.addresses.clone();
        let peer = link.peer;
        self.join = Some(OpenJoin { link, reply, tried: Vec::new(), busy: false });
        for address in addresses {
            let opts = match peer {
                Some(peer) => DialOpts::peer_id(peer).addresses(vec![address.clone()]).build(),
                None => DialOpts::unknown_peer_id().address(address.clone()).build(),
            };
            self.dials.insert(opts.connection_id(), (address, None));
            let _ = self.swarm.dial(opts);
        }
        // Peers already connected (found by discovery before the code was typed) can be
        // asked right away.
        let connected: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
        for peer in connected {
            self.try_join(peer);
        }
    }

    fn dial_address(&mut self, address: Multiaddr, reply: Option<oneshot::Sender<Result<(), NetError>>>) {
        let opts = DialOpts::unknown_peer_id().address(address.clone()).build();
        let id = opts.connection_id();
        match self.swarm.dial(opts) {
            Ok(()) => {
                self.dials.insert(id, (address, reply));
            }
            Err(e) => {
                let reason = e.to_string();
                self.emit(NetEvent::Unreachable { address: host_port(&address), reason: reason.clone() });
                if let Some(reply) = reply {
                    let _ = reply.send(Err(NetError::Unreachable { address: host_port(&address), reason }));
                }
            }
        }
    }

    fn set_paused(&mut self, paused: bool) -> Result<(), NetError> {
        let Some(partner) = self.partner_peer() else { return Err(NetError::NotPaired) };
        peers::set_paused(&mut lock(&self.store), paused)?;
        self.paused = paused;
        if !paused {
            // Resuming is the person's choice to trust the partner's phone again.
            self.stopped = None;
        }
        if paused {
            self.stop_session();
            let _ = self.swarm.disconnect_peer_id(partner);
        }
        self.restore_allow_list();
        Ok(())
    }

    fn unpair(&mut self) -> Result<(), NetError> {
        let Some(partner) = self.partner_peer() else { return Err(NetError::NotPaired) };
        self.stop_session();
        peers::unpair(&mut lock(&self.store))?;
        self.partner = None;
        self.paused = false;
        self.stopped = None;
        self.synced = false;
        self.stop_session();
        self.swarm.behaviour_mut().limits.remove_peer_id(&partner);
        let _ = self.swarm.disconnect_peer_id(partner);
        self.restore_allow_list();
        Ok(())
    }

    // ----- Who may connect -----

    /// Opens the door to strangers for a pairing: they may only pair.
    fn lift_allow_list(&mut self) {
        self.swarm.behaviour_mut().allow = Toggle::from(None);
    }

    /// Back to the partner only, and anyone else connected is let go.
    fn restore_allow_list(&mut self) {
        if self.invite.is_some() || self.join.is_some() {
            return;
        }
        let closed = !self.may_sync();
        self.swarm.behaviour_mut().allow = Toggle::from(Some(allow_list(self.partner.as_ref(), closed)));
        if let Some(partner) = &self.partner {
            self.swarm.behaviour_mut().limits.bypass_peer_id(&partner.peer);
        }
        let partner = self.partner_peer();
        let strangers: Vec<PeerId> =
            self.swarm.connected_peers().filter(|p| Some(**p) != partner || closed).copied().collect();
        for peer in strangers {
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }

    // ----- The swarm -----

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        // What other phones' connections do changes nothing the badge shows: turning
        // them away reads nothing from the journal, however many there are.
        let partner = self.partner_peer();
        let strangers_only = match &event {
            SwarmEvent::IncomingConnection { .. } | SwarmEvent::IncomingConnectionError { .. } => true,
            SwarmEvent::ConnectionEstablished { peer_id, .. } | SwarmEvent::ConnectionClosed { peer_id, .. } => {
                Some(*peer_id) != partner
            }
            _ => false,
        };
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                if let Some(port) = tcp_port(&address) {
                    let _ = peers::set_listen_port(&mut lock(&self.store), port);
                }
                self.emit(NetEvent::Listening { address: host_port(&address) });
                self.listening.push(address);
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => self.listening.retain(|a| a != &address),
            SwarmEvent::ListenerError { error, .. } => {
                tracing::warn!("a listener failed: {error}");
            }
            SwarmEvent::ListenerClosed { reason: Err(error), .. } => {
                tracing::warn!("a listener closed: {error}");
                if self.swarm.listeners().next().is_none() {
                    // The remembered port was taken: fall back to any free one.
                    if let Ok(any) = "/ip4/0.0.0.0/tcp/0".parse::<Multiaddr>() {
                        let _ = self.swarm.listen_on(any);
                    }
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(found))) => {
                for (peer, address) in found {
                    self.on_discovered(peer, address);
                }
            }
            SwarmEvent::ConnectionEstablished { peer_id, endpoint, num_established, connection_id, .. } => {
                if let Some((address, reply)) = self.dials.remove(&connection_id)
                    && let Some(reply) = reply
                {
                    let _ = reply.send(Ok(()));
                    tracing::debug!("connected to {address}");
                }
                self.on_connected(peer_id, &endpoint, num_established.get());
            }
            SwarmEvent::ConnectionClosed { peer_id, num_established, cause, .. } => {
                if num_established == 0 {
                    self.reached_at.remove(&peer_id);
                }
                if num_established == 0 && Some(peer_id) == self.partner_peer() {
                    self.connected_since = None;
                    self.apart_since = Some(Instant::now());
                    self.synced = false;
                    let reason = cause.map(|c| c.to_string()).unwrap_or_else(|| "closed".to_owned());
                    self.emit(NetEvent::Disconnected { peer: peer_id.to_base58(), reason });
                    self.stop_session();
                }
            }
            SwarmEvent::OutgoingConnectionError { connection_id, peer_id, error } => {
                if let Some((address, reply)) = self.dials.remove(&connection_id) {
                    let reason = match &error {
                        libp2p::swarm::DialError::Denied { .. } => "that phone isn't your partner's".to_owned(),
                        libp2p::swarm::DialError::WrongPeerId { .. } => {
                            "a different phone answers at that address".to_owned()
                        }
                        other => plain_dial_error(other),
                    };
                    self.emit(NetEvent::Unreachable { address: host_port(&address), reason: reason.clone() });
                    if let Some(reply) = reply {
                        let _ = reply.send(Err(NetError::Unreachable { address: host_port(&address), reason }));
                    } else if !self.config.discovery
                        && self.join.as_ref().is_some_and(|j| !j.busy)
                        && !self.dials.values().any(|(_, r)| r.is_none())
                    {
                        let error = NetError::Unreachable { address: host_port(&address), reason };
                        self.finish_pairing(PairRole::Joiner, Err(error));
                    }
                } else if peer_id.is_some() && peer_id == self.partner_peer() {
                    tracing::debug!("the partner's phone is not reachable yet: {error}");
                }
            }
            SwarmEvent::IncomingConnectionError {
                peer_id,
                error: libp2p::swarm::ListenError::Denied { .. },
                send_back_addr,
                ..
            } => {
                self.emit(NetEvent::Refused {
                    peer: peer_id.map(|p| p.to_base58()),
                    reason: format!("not the partner's phone ({send_back_addr})"),
                });
            }
            _ => {}
        }
        if !strangers_only {
            self.publish();
        }
    }

    fn on_discovered(&mut self, peer: PeerId, address: Multiaddr) {
        if !peers::is_local(&address) || peer == self.me {
            return;
        }
        if Some(peer) == self.partner_peer() {
            // Announcements are not authenticated: what one says is kept only as far as
            // the address book keeps it, and said at most a few times a run.
            if self.found_at.len() >= FOUND_AT_MOST {
                return;
            }
            let _ = peers::remember_address(&mut lock(&self.store), &address);
            if self.found_at.insert(address.clone()) {
                self.emit(NetEvent::Discovered { peer: peer.to_base58(), address: host_port(&address) });
            }
            if self.may_sync() && !self.swarm.is_connected(&peer) && self.me < peer {
                self.redial_partner();
            }
            return;
        }
        if let Some(join) = &self.join {
            let wanted = join.link.peer.is_none_or(|p| p == peer);
            if wanted && !join.tried.contains(&peer) && !self.swarm.is_connected(&peer) {
                let opts = DialOpts::peer_id(peer).addresses(vec![address]).condition(PeerCondition::Disconnected);
                let _ = self.swarm.dial(opts.build());
            }
        }
    }

    fn on_connected(&mut self, peer: PeerId, endpoint: &ConnectedPoint, count: u32) {
        if let ConnectedPoint::Dialer { address, .. } = endpoint
            && peers::is_local(address)
        {
            self.reached_at.insert(peer, address.clone());
        }
        if Some(peer) == self.partner_peer() {
            if let ConnectedPoint::Dialer { address, .. } = endpoint
                && peers::is_local(address)
            {
                let _ = peers::remember_address(&mut lock(&self.store), address);
            }
            if count == 1 {
                self.connected_since = Some(Instant::now());
                self.apart_since = None;
                self.emit(NetEvent::Connected { peer: peer.to_base58() });
            }
            if self.me < peer {
                self.open_session(peer);
            }
            return;
        }
        if self.join.is_some() {
            self.try_join(peer);
        }
    }

    fn try_join(&mut self, peer: PeerId) {
        let Some(join) = &mut self.join else { return };
        if join.busy || join.tried.contains(&peer) || join.link.peer.is_some_and(|p| p != peer) {
            return;
        }
        join.busy = true;
        join.tried.push(peer);
        let code = join.link.code.clone();
        let (me, tap, results) = (self.me, self.config.tap.clone(), self.pair_tx.clone());
        let Ok(who) = self.introduction() else { return };
        let mut control = self.control.clone();
        tokio::spawn(async move {
            let outcome = match control.open_stream(peer, PAIR_PROTOCOL).await {
                Ok(stream) => session::join(stream, code, me, peer, who, tap).await,
                Err(e) => {
                    tracing::debug!("no pairing stream to {peer}: {e}");
                    PairOutcome::Failed(PairFailure::Gone("it isn't showing an invite right now".to_owned()))
                }
            };
            let _ = results.send((peer, PairRole::Joiner, outcome));
        });
    }

    fn on_incoming_pair(&mut self, peer: PeerId, stream: libp2p::Stream) {
        let tap = self.config.tap.clone();
        let Some(invite) = &mut self.invite else {
            // No invite open: say nothing about whether one ever was.
            drop(stream);
            return;
        };
        let refusal = if Instant::now() >= invite.expires {
            Some(Refusal::Expired)
        } else if invite.tries >= MAX_TRIES {
            Some(Refusal::TooManyTries)
        } else if invite.busy {
            Some(Refusal::Busy)
        } else {
            None
        };
        if let Some(reason) = refusal {
            tokio::spawn(session::refuse(stream, reason, tap));
            return;
        }
        invite.busy = true;
        let code = invite.code.clone();
        let (me, results) = (self.me, self.pair_tx.clone());
        let Ok(who) = self.introduction() else { return };
        tokio::spawn(async move {
            let outcome = session::invitee_arrived(stream, code, me, peer, who, tap).await;
            let _ = results.send((peer, PairRole::Inviter, outcome));
        });
    }

    fn on_pair_outcome(&mut self, peer: PeerId, role: PairRole, outcome: PairOutcome) {
        match outcome {
            PairOutcome::Paired(PairedWith { who, words, couple }) => {
                // Already cleaned for showing, by `session::paired_with`.
                let name = who.name;
                let couple = peers::to_hex(&couple);
                let partner = Partner {
                    peer,
                    name: name.clone(),
                    paired_at: Utc::now(),
                    person: who.person,
                    actors: vec![peers::to_hex(&who.actor)],
                    couple: couple.clone(),
                    confirmed: false,
                    safety_words: words.iter().map(|w| (*w).to_owned()).collect(),
                };
                let saved = {
                    let mut store = lock(&self.store);
                    let reached = self.reached_at.get(&peer);
                    save_new_partner(&mut store, &partner, reached)
                };
                let paired = Paired { partner: peer, name: name.clone(), safety_words: words, couple };
                if let Err(e) = saved {
                    self.finish_pairing(role, Err(e));
                    return;
                }
                self.partner = Some(partner);
                self.paused = false;
                self.stopped = None;
                self.emit(NetEvent::Paired {
                    partner: peer.to_base58(),
                    name,
                    safety_words: words.iter().map(|w| (*w).to_owned()).collect(),
                });
                self.finish_pairing(role, Ok(paired));
                // The connection pairing used is the partner's now.
                if self.swarm.is_connected(&peer) {
                    self.connected_since = Some(Instant::now());
                    self.apart_since = None;
                    self.emit(NetEvent::Connected { peer: peer.to_base58() });
                    if self.me < peer {
                        self.open_session(peer);
                    }
                }
            }
            PairOutcome::Failed(failure) => {
                tracing::info!("pairing with {peer} failed: {failure}");
                match role {
                    PairRole::Inviter => {
                        let Some(invite) = &mut self.invite else { return };
                        invite.busy = false;
                        // Only an exchange that completed with a wrong code uses up a try:
                        // junk, a stalled stream or a phone that left can't cancel the
                        // invite without guessing codes.
                        if matches!(failure, PairFailure::Pairing(PairingError::WrongCode)) {
                            invite.tries += 1;
                        }
                        let used_up = invite.tries >= MAX_TRIES;
                        self.emit(NetEvent::Refused { peer: Some(peer.to_base58()), reason: failure.to_string() });
                        let _ = self.swarm.disconnect_peer_id(peer);
                        if used_up {
                            self.invite = None;
                            self.emit(NetEvent::InviteEnded { reason: "cancelled after five wrong codes".to_owned() });
                            self.restore_allow_list();
                        }
                    }
                    PairRole::Joiner => {
                        let _ = self.swarm.disconnect_peer_id(peer);
                        match failure {
                            // Not an inviting phone, or it went away: keep looking, when
                            // discovery can find another.
                            PairFailure::Gone(_) if self.config.discovery => {
                                if let Some(join) = &mut self.join {
                                    join.busy = false;
                                }
                            }
                            other => self.finish_pairing(role, Err(other.into())),
                        }
                    }
                }
            }
        }
        self.publish();
    }

    fn finish_pairing(&mut self, role: PairRole, result: Result<Paired, NetError>) {
        match role {
            PairRole::Inviter => self.invite = None,
            PairRole::Joiner => {
                if let Some(join) = self.join.take() {
                    let _ = join.reply.send(result);
                }
            }
        }
        self.restore_allow_list();
    }

    // ----- Sync sessions -----

    fn open_session(&mut self, peer: PeerId) {
        if self.session.is_some() || !self.may_sync() {
            return;
        }
        let id = self.next_id();
        let Some(ctx) = self.session_context(peer, id) else { return };
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
        self.session = Some(Session { id, peer, task, outbound: true, started: Instant::now() });
    }

    fn on_incoming_sync(&mut self, peer: PeerId, stream: libp2p::Stream) {
        if Some(peer) != self.partner_peer() || !self.may_sync() {
            self.emit(NetEvent::Refused {
                peer: Some(peer.to_base58()),
                reason: "asked to sync without being this phone's partner".to_owned(),
            });
            drop(stream);
            let _ = self.swarm.disconnect_peer_id(peer);
            return;
        }
        if let Some(existing) = &self.session {
            // Both opened at once: the session the lower identity opened wins. An older
            // session is stale (the partner's app restarted): the new stream replaces it.
            if existing.outbound && self.me < peer && existing.started.elapsed() < FALLBACK {
                drop(stream);
                return;
            }
            self.stop_session();
        }
        let id = self.next_id();
        let Some(ctx) = self.session_context(peer, id) else { return };
        let task = tokio::spawn(session::run_sync(ctx, stream));
        self.session = Some(Session { id, peer, task, outbound: false, started: Instant::now() });
    }

    fn next_id(&mut self) -> u64 {
        self.next_session += 1;
        self.next_session
    }

    fn session_context(&self, peer: PeerId, id: u64) -> Option<SessionContext> {
        Some(SessionContext {
            peer,
            partner: self.partner.clone()?,
            store: self.store.clone(),
            local_change: self.local_change.clone(),
            reports: self.reports_tx.clone(),
            id,
            tap: self.config.tap.clone(),
        })
    }

    fn stop_session(&mut self) {
        if let Some(session) = self.session.take() {
            session.task.abort();
            self.last_session_end = Some(Instant::now());
        }
    }

    fn on_report(&mut self, id: u64, report: SessionReport) {
        let Some(session) = &self.session else { return };
        if session.id != id {
            return;
        }
        let peer = session.peer;
        match report {
            SessionReport::Synced { received } => {
                let at = Utc::now();
                let _ = peers::set_last_synced(&mut lock(&self.store), at);
                self.synced = true;
                self.emit(NetEvent::Synced { peer: peer.to_base58(), at, received });
            }
            SessionReport::PartnerConfirmed(confirmed) => {
                if let Some(partner) = &self.partner {
                    let _ = peers::set_partner_confirmed(&mut lock(&self.store), &partner.couple, confirmed);
                }
            }
            SessionReport::Ended { reason, end } => {
                tracing::info!("the sync session with {peer} ended: {reason}");
                self.session = None;
                self.synced = false;
                self.last_session_end = Some(Instant::now());
                match end {
                    End::Violation => self.refused(Some(peer), reason.clone()),
                    End::Stopped => {
                        // Kept in the settings, so sync stays stopped across restarts.
                        let _ = peers::set_stopped(&mut lock(&self.store), &reason);
                        self.stopped = Some(reason.clone());
                        self.last_refusal = None;
                        self.refused(Some(peer), reason.clone());
                        self.restore_allow_list();
                    }
                    End::Closed | End::Quiet => {}
                }
                // A connection that went quiet or broke the protocol is closed, and a
                // fresh one is dialed.
                if end != End::Closed {
                    let _ = self.swarm.disconnect_peer_id(peer);
                }
            }
        }
        self.publish();
    }

    // ----- Time -----

    fn on_tick(&mut self) {
        if let Some(invite) = &self.invite
            && Instant::now() >= invite.expires
            && !invite.busy
        {
            self.invite = None;
            self.emit(NetEvent::InviteEnded { reason: "expired".to_owned() });
            self.restore_allow_list();
        }
        let version = lock(&self.store).data_version().ok();
        if version != self.settings_version {
            self.settings_version = version;
            self.reread_settings();
            self.publish();
        }
        let Some(partner) = self.partner_peer() else { return };
        if !self.may_sync() {
            return;
        }
        if self.swarm.is_connected(&partner) {
            let waited = self.connected_since.is_some_and(|t| t.elapsed() >= FALLBACK);
            let rested = self.last_session_end.is_none_or(|t| t.elapsed() >= Duration::from_millis(500));
            if self.session.is_none() && rested && (self.me < partner || waited) {
                self.open_session(partner);
            }
        } else {
            let apart_long = self.apart_since.is_some_and(|t| t.elapsed() >= FALLBACK);
            let due = self.last_redial.is_none_or(|t| t.elapsed() >= REDIAL_EVERY);
            if due && (self.me < partner || apart_long) {
                self.redial_partner();
            }
        }
    }

    fn redial_partner(&mut self) {
        let Some(partner) = self.partner_peer() else { return };
        self.last_redial = Some(Instant::now());
        let addresses = peers::addresses(&lock(&self.store)).unwrap_or_default();
        if addresses.is_empty() {
            return;
        }
        let opts =
            DialOpts::peer_id(partner).addresses(addresses).condition(PeerCondition::DisconnectedAndNotDialing).build();
        let _ = self.swarm.dial(opts);
    }
}

fn is_loopback(address: &Multiaddr) -> bool {
    address.iter().any(|p| match p {
        libp2p::multiaddr::Protocol::Ip4(ip) => ip.is_loopback(),
        libp2p::multiaddr::Protocol::Ip6(ip) => ip.is_loopback(),
        _ => false,
    })
}

fn tcp_port(address: &Multiaddr) -> Option<u16> {
    address.iter().find_map(|p| match p {
        libp2p::multiaddr::Protocol::Tcp(port) => Some(port),
        _ => None,
    })
}

/// An address as a person types it: `192.168.1.20:4001`.
pub fn host_port(address: &Multiaddr) -> String {
    use libp2p::multiaddr::Protocol;
    let mut host = None;
    let mut port = None;
    for p in address.iter() {
        match p {
            Protocol::Ip4(ip) => host = Some(ip.to_string()),
            Protocol::Ip6(ip) => host = Some(format!("[{ip}]")),
            Protocol::Dns(name) | Protocol::Dns4(name) | Protocol::Dns6(name) => host = Some(name.to_string()),
            Protocol::Tcp(p) => port = Some(p),
            _ => {}
        }
    }
    match (host, port) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        _ => address.to_string(),
    }
}

fn plain_dial_error(error: &libp2p::swarm::DialError) -> String {
    let text = error.to_string();
    if text.contains("Connection refused") {
        "nothing is listening there; is Steady open on your partner's phone?".to_owned()
    } else if text.contains("unreachable") || text.contains("No route") {
        "that address can't be reached from this network".to_owned()
    } else if text.contains("timed out") || text.contains("Timeout") {
        "no answer; check that both phones are on the same Wi-Fi".to_owned()
    } else {
        text
    }
}
