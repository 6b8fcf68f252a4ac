//! The window's one background service: the link to the partner's phone. One coroutine
//! owns the network node and takes [`Action`]s from the screens; the window reads what it
//! shows from one [`SyncState`] (in a [`SyncView`]), which the service keeps current.
//!
//! The node runs only while it is needed (paired and not paused, or pairing) and the app
//! is unlocked and in the foreground: a phone in the background loses its sockets anyway,
//! and a half-finished sync does not matter, because every change that arrives is written
//! in one transaction and the next session starts from the heads both sides last agreed
//! on. What the node changes on disk (entries that arrived, and mine once sent) goes into
//! the lists as it happens.
//!
//! Long (about 750 lines before its tests) for a reason: the service is one state machine,
//! and each action's handling sits in the one `match` that reads the state it changes.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Local, NaiveDate, Utc};
use dioxus::prelude::*;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use libp2p::Multiaddr;
use tokio::sync::broadcast::error::RecvError;

use crate::net::invite::Invitation;
use crate::net::sync::Arrived;
use crate::net::{LinkState, NetConfig, NetError, NetEvent, NetStatus, Node, Paired, PairingState, addresses};
use crate::ui::lock::Gate;
use crate::ui::{JournalSignal, Notice};

/// How the window may use the network, decided at launch.
#[derive(Clone, Debug)]
pub struct NetOptions {
    /// `false` when the app was started with `--no-discovery`: mDNS stays off whatever
    /// the setting on the Us screen says.
    pub discovery_allowed: bool,
    /// Where to listen; empty for every address of this phone.
    pub listen: Vec<Multiaddr>,
}

impl Default for NetOptions {
    fn default() -> Self {
        NetOptions { discovery_allowed: true, listen: Vec::new() }
    }
}

/// How long a join looks for the partner's invite.
const JOIN_LIMIT: Duration = Duration::from_secs(60);

/// What a screen asks of the service.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// The window was unlocked or locked, or came to the foreground or left it.
    Window { open: bool, foreground: bool, moving: bool },
    /// "Invite my partner".
    Invite,
    /// "Join", with the code or link, and an address when discovery is blocked.
    /// `continues`: this phone was restored from a backup and continues the couple's
    /// shared document.
    Join { code: String, address: String, continues: bool },
    /// Cancel an invite or a join.
    CancelPairing,
    /// "They match".
    ConfirmWords,
    /// "They don't match".
    RejectWords,
    /// "Connect by address".
    Connect { address: String },
    /// Pause or resume sync.
    SetPaused(bool),
    /// Unpair (confirmed on screen).
    Unpair,
    /// The discovery switch: the node reads it only when it starts.
    SetDiscovery(bool),
    /// Something in the journal changed that the partner may want now.
    LocalChange,
    /// The passcode changed, and with it the data key: the node, which holds the old
    /// key, starts again with the new one.
    KeyChanged,
}

/// Where the link with the partner's phone stands: everything the window shows of it.
#[derive(Clone, Debug, PartialEq)]
pub enum SyncState {
    /// The journal is locked: nothing runs, and nothing is known.
    Locked,
    /// Not paired with anyone.
    NotPaired,
    /// The invite is being made.
    MakingInvite,
    /// An invite is open; the partner types the code or scans the QR code.
    Inviting { code: String, link: String, qr_svg: String },
    /// Looking for the partner's invite.
    Joining,
    /// Paired, and the person has not yet said whether the words match.
    WordsToCheck { name: String, words: Vec<String> },
    /// This phone's person checked the words; the partner's has not yet.
    WaitingForPartner { name: String },
    /// The partner's phone is not here. `offline`: this phone has no network to look on.
    Apart { name: String, offline: bool, last_synced: Option<DateTime<Utc>> },
    /// Connected, and the exchange is under way.
    Syncing { name: String },
    /// Connected, and both phones hold the same shared entries.
    UpToDate { name: String },
    /// Sync is paused on this phone.
    Paused { name: String },
    /// The partner's phone broke the rules; nothing syncs until the person resumes or
    /// unpairs.
    Stopped { name: String, reason: String },
    /// The shared document is stored bigger than Steady opens (`store::MAX_OPENED`):
    /// nothing syncs or is written until the person unpairs.
    TooBig { name: String, reason: String },
}

impl SyncState {
    /// A stable name for the state, for tests and styles.
    pub fn slug(&self) -> &'static str {
        match self {
            SyncState::Locked => "locked",
            SyncState::NotPaired => "not-paired",
            SyncState::MakingInvite => "making-invite",
            SyncState::Inviting { .. } => "inviting",
            SyncState::Joining => "joining",
            SyncState::WordsToCheck { .. } => "words-to-check",
            SyncState::WaitingForPartner { .. } => "waiting-for-partner",
            SyncState::Apart { .. } => "apart",
            SyncState::Syncing { .. } => "syncing",
            SyncState::UpToDate { .. } => "up-to-date",
            SyncState::Paused { .. } => "paused",
            SyncState::Stopped { .. } => "stopped",
            SyncState::TooBig { .. } => "too-big",
        }
    }

    /// The partner's name, once paired.
    pub fn partner(&self) -> Option<&str> {
        match self {
            SyncState::WaitingForPartner { name }
            | SyncState::Apart { name, .. }
            | SyncState::Syncing { name }
            | SyncState::UpToDate { name }
            | SyncState::Paused { name }
            | SyncState::Stopped { name, .. }
            | SyncState::TooBig { name, .. } => Some(name),
            _ => None,
        }
    }

    /// The state a node's (or the settings') status says, with no pairing under way on
    /// this screen. `words` are those of a pairing not yet confirmed here.
    pub fn of(status: &NetStatus, words: impl FnOnce() -> Vec<String>) -> SyncState {
        let Some(partner) = &status.partner else { return SyncState::NotPaired };
        let name = partner.name.clone();
        if let Some(bytes) = status.shared_document_too_big {
            let reason = crate::store::StoreError::DocumentTooBig { bytes, limit: crate::store::MAX_OPENED };
            return SyncState::TooBig { name, reason: crate::model::text::sentence(&reason.to_string()) };
        }
        if status.pairing == PairingState::Unconfirmed {
            return SyncState::WordsToCheck { name, words: words() };
        }
        match status.link {
            LinkState::NotPaired => SyncState::NotPaired,
            LinkState::Stopped => {
                SyncState::Stopped { name, reason: status.stopped.clone().unwrap_or_else(|| "Sync is stopped.".into()) }
            }
            LinkState::Paused => SyncState::Paused { name },
            _ if !status.partner_confirmed => SyncState::WaitingForPartner { name },
            LinkState::Offline => SyncState::Apart { name, offline: true, last_synced: status.last_synced },
            LinkState::Looking => SyncState::Apart { name, offline: false, last_synced: status.last_synced },
            LinkState::Connected => SyncState::Syncing { name },
            LinkState::Synced => SyncState::UpToDate { name },
        }
    }
}

/// What the window shows of sync: the state, and two numbers that go with it.
#[derive(Clone, Debug, PartialEq)]
pub struct SyncView {
    pub state: SyncState,
    /// Shared changes the partner's phone does not have yet, as far as this phone knows.
    pub unsent: usize,
    /// Where this phone accepts connections (while the node runs).
    pub listening: Vec<String>,
}

impl SyncView {
    /// The view of a status, with nothing under way on screen.
    pub fn of(status: &NetStatus, words: impl FnOnce() -> Vec<String>) -> SyncView {
        SyncView {
            state: SyncState::of(status, words),
            unsent: status.unsent_changes,
            listening: status.listening.clone(),
        }
    }

    /// The badge's words.
    pub fn badge(&self) -> String {
        self.badge_on(Local::now().date_naive())
    }

    /// The badge's words on the day `today`. They never say when the partner's phone was
    /// last seen: "Up to date" while connected, and only the day of the last sync while
    /// apart.
    pub fn badge_on(&self, today: NaiveDate) -> String {
        let mut text = match &self.state {
            SyncState::Locked => "Locked".to_owned(),
            SyncState::NotPaired | SyncState::MakingInvite | SyncState::Inviting { .. } | SyncState::Joining => {
                "Not paired".to_owned()
            }
            SyncState::WordsToCheck { .. } => "Waiting for you to check the words".to_owned(),
            SyncState::Stopped { .. } | SyncState::TooBig { .. } => "Sync stopped".to_owned(),
            SyncState::Paused { .. } => "Sync paused".to_owned(),
            SyncState::WaitingForPartner { name } => format!("Waiting for {name}"),
            SyncState::Apart { offline: true, last_synced, .. } => match last_synced {
                Some(at) => format!("Offline · last synced {}", synced_day(*at, today)),
                None => "Offline".to_owned(),
            },
            SyncState::Apart { offline: false, last_synced, name } => match last_synced {
                Some(at) => format!("Last synced {}", synced_day(*at, today)),
                None => format!("Looking for {name}"),
            },
            SyncState::Syncing { name } => format!("Connected to {name}"),
            SyncState::UpToDate { .. } => "Up to date".to_owned(),
        };
        if self.state.partner().is_some() && self.unsent > 0 {
            text.push_str(&format!(" · {} not sent yet", self.unsent));
        }
        text
    }
}

/// The badge's words for a node's status (as the command line and the tests see it).
pub fn badge_text(status: &NetStatus) -> String {
    SyncView::of(status, Vec::new).badge()
}

/// The badge's words for a status on the day `today`.
pub fn badge_text_on(status: &NetStatus, today: NaiveDate) -> String {
    SyncView::of(status, Vec::new).badge_on(today)
}

/// The day of the last sync, in words: "today", "yesterday", "3 days ago".
fn synced_day(at: DateTime<Utc>, today: NaiveDate) -> String {
    match (today - at.with_timezone(&Local).date_naive()).num_days() {
        ..=0 => "today".to_owned(),
        1 => "yesterday".to_owned(),
        n => format!("{n} days ago"),
    }
}

/// What went wrong, in words the window shows.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    Net(#[from] NetError),
    #[error("Can't reach partner at {address}: {reason}")]
    Address { address: String, reason: String },
    #[error("{0}")]
    Journal(String),
    #[error("Sync is off right now; resume it first.")]
    SyncOff,
    #[error(
        "No invite found on this Wi-Fi in a minute. Check that both phones are on the same network, or type the \
         address your partner's screen shows."
    )]
    NoInviteFound,
    #[error("The invite ended: {0}.")]
    InviteEnded(String),
    #[error("Someone tried to join and failed: {0}")]
    JoinFailed(String),
    #[error("Sync could not start: {0}")]
    Start(String),
}

/// The service, as screens reach it through the context.
#[derive(Clone, Copy)]
pub struct SyncService {
    /// What the window shows of sync.
    pub view: ReadSignal<SyncView>,
    /// Whether the app is in the foreground.
    pub foreground: Signal<bool>,
    actions: Coroutine<Action>,
}

impl SyncService {
    /// Asks the service to do `action`.
    pub fn send(&self, action: Action) {
        self.actions.send(action);
    }
}

/// The root's hook: starts the service, and tells it when the window is unlocked or
/// locked and when it comes to the foreground or leaves it.
pub fn use_sync_service(journal: JournalSignal, notice: Notice, gate: Signal<Gate>) -> SyncService {
    let foreground = crate::platform::use_foreground();
    let mut view = use_signal(|| at_rest(journal).unwrap_or_else(|_| locked_view()));
    let actions = use_coroutine(move |actions: UnboundedReceiver<Action>| async move {
        Service::new(journal, notice, view).run(actions).await
    });
    let service = use_context_provider(|| SyncService { view: view.into(), foreground, actions });
    use_effect(move || {
        let open = gate() == Gate::Open;
        if !open {
            view.set(locked_view());
        }
        // While the journal moves, nothing of this phone's runs on the network beside it.
        let moving = matches!(gate(), Gate::Moving | Gate::MoveIn | Gate::Restore);
        actions.send(Action::Window { open, foreground: foreground(), moving });
    });
    service
}

fn locked_view() -> SyncView {
    SyncView { state: SyncState::Locked, unsent: 0, listening: Vec::new() }
}

/// What this phone's settings say, without the network.
fn at_rest(journal: JournalSignal) -> Result<SyncView, String> {
    let guard = journal.peek();
    let j = guard.as_ref().map_err(|e| e.clone())?;
    let status = j.net_status()?;
    Ok(SyncView::of(&status, || j.unconfirmed_words().unwrap_or_default()))
}

/// A pairing under way on this screen.
#[derive(Clone, Debug, PartialEq)]
enum Step {
    Idle,
    MakingInvite,
    Inviting {
        code: String,
        link: String,
        qr_svg: String,
    },
    Joining,
    /// Paired just now: both screens show these words.
    Paired {
        name: String,
        words: Vec<String>,
    },
}

/// The node while it runs, and what it reports.
struct Running {
    node: Rc<Node>,
    status: tokio::sync::watch::Receiver<NetStatus>,
    events: tokio::sync::broadcast::Receiver<NetEvent>,
    arrivals: tokio::sync::broadcast::Receiver<Arc<Arrived>>,
    _multicast: Option<crate::platform::MulticastLock>,
}

/// What the running node said.
enum FromNode {
    Status,
    Event(NetEvent),
    Arrived(Arc<Arrived>),
    /// Too much arrived to say entry by entry: the lists are read whole.
    FellBehind,
    Gone,
}

/// A request to the node that finished.
enum Done {
    Invited(Result<Invitation, NetError>),
    Joined(Result<Result<Paired, NetError>, tokio::time::error::Elapsed>),
    Dialed(Result<(), NetError>),
    Paused(Result<(), NetError>),
    Unpaired(Result<(), NetError>),
}

type Pending = FuturesUnordered<Pin<Box<dyn Future<Output = Done>>>>;

/// The service's own state, owned by its coroutine.
struct Service {
    journal: JournalSignal,
    notice: Notice,
    view: Signal<SyncView>,
    running: Option<Running>,
    step: Step,
    open: bool,
    foreground: bool,
    /// The status last known: the node's while it runs, the settings' otherwise.
    status: Option<NetStatus>,
    pending: Pending,
    /// The journal's folder, as last seen unlocked: where the courier works.
    data_dir: Option<std::path::PathBuf>,
    /// Whether this window asks for the courier (`net::courier::want`).
    carrying: bool,
    /// The journal is moving to or from another phone: no node and no courier here.
    moving: bool,
    /// The phone's background service was asked to start, once a run.
    service_started: bool,
}

/// What woke the service.
enum Wake {
    Action(Action),
    Node(FromNode),
    Done(Done),
    Closed,
}

impl Service {
    fn new(journal: JournalSignal, notice: Notice, view: Signal<SyncView>) -> Service {
        Service {
            journal,
            notice,
            view,
            running: None,
            step: Step::Idle,
            open: false,
            foreground: true,
            status: None,
            pending: FuturesUnordered::new(),
            data_dir: None,
            carrying: false,
            moving: false,
            service_started: false,
        }
    }

    async fn run(mut self, mut actions: UnboundedReceiver<Action>) {
        loop {
            let wake = tokio::select! {
                action = actions.next() => action.map_or(Wake::Closed, Wake::Action),
                said = next_from(&mut self.running) => Wake::Node(said),
                Some(done) = self.pending.next(), if !self.pending.is_empty() => Wake::Done(done),
            };
            let result = match wake {
                Wake::Action(action) => self.act(action),
                Wake::Node(said) => self.heard(said),
                Wake::Done(done) => self.finished(done),
                Wake::Closed => break,
            };
            if let Err(e) = result {
                self.tell(e);
            }
            if let Err(e) = self.reconcile() {
                self.tell(e);
            }
            self.show();
        }
    }

    fn tell(&mut self, e: ServiceError) {
        self.notice.set(Some(e.to_string()));
    }

    fn node(&self) -> Option<Rc<Node>> {
        self.running.as_ref().map(|r| r.node.clone())
    }

    fn wait_for(&mut self, done: impl Future<Output = Done> + 'static) {
        self.pending.push(Box::pin(done));
    }

    /// Runs `f` on the open journal.
    fn with_journal<T>(
        &mut self,
        f: impl FnOnce(&mut crate::ui::Journal) -> Result<T, String>,
    ) -> Result<T, ServiceError> {
        match self.journal.write().as_mut() {
            Ok(j) => f(j).map_err(ServiceError::Journal),
            Err(e) => Err(ServiceError::Journal(e.clone())),
        }
    }

    fn act(&mut self, action: Action) -> Result<(), ServiceError> {
        match action {
            Action::Window { open, foreground, moving } => {
                self.open = open;
                self.moving = moving;
                if self.foreground && !foreground {
                    // iOS: time to let the letters just made leave before it suspends the app.
                    crate::platform::leaving_foreground();
                }
                self.foreground = foreground;
                if !open {
                    // Locked: nothing runs, and the node's connection (and key) is dropped.
                    self.step = Step::Idle;
                    self.stop();
                } else {
                    self.read_at_rest()?;
                }
            }
            Action::Invite => {
                self.step = Step::MakingInvite;
                let node = self.start()?;
                self.wait_for(async move {
                    // Let the node learn its addresses first, so the invite can name them.
                    let mut status = node.status();
                    let listening = status.wait_for(|s| !s.listening.is_empty());
                    let _ = tokio::time::timeout(Duration::from_secs(2), listening).await;
                    Done::Invited(node.invite().await)
                });
            }
            Action::Join { code, address, continues } => {
                let mut invitation = Invitation::parse(&code).map_err(|e| ServiceError::Journal(e.to_string()))?;
                invitation.continues = continues;
                if !address.trim().is_empty() {
                    let at = addresses::parse_host_port(&address).map_err(|e| ServiceError::Address {
                        address: address.trim().to_owned(),
                        reason: e.to_string(),
                    })?;
                    invitation.addresses.insert(0, at);
                }
                self.step = Step::Joining;
                let node = self.start()?;
                self.wait_for(
                    async move { Done::Joined(tokio::time::timeout(JOIN_LIMIT, node.join(invitation)).await) },
                );
            }
            Action::CancelPairing => {
                if let Some(node) = self.node() {
                    node.cancel_pairing();
                }
                self.step = Step::Idle;
            }
            Action::ConfirmWords => {
                // The running node sees the change in the file and tells the partner's
                // phone; nothing restarts.
                let confirmed = self.with_journal(|j| j.confirm_pairing());
                self.step = Step::Idle;
                self.read_at_rest()?;
                confirmed?;
            }
            Action::RejectWords => {
                if let Some(node) = self.node() {
                    node.cancel_pairing();
                }
                self.step = Step::Idle;
                self.stop();
                self.with_journal(|j| j.reject_pairing())?;
                self.notice.set(Some(
                    "Pairing forgotten: nothing was shared. Pair again when you're together, and compare the words by \
                     voice or in person."
                        .to_owned(),
                ));
                self.read_at_rest()?;
            }
            Action::Connect { address } => {
                let target = addresses::parse_host_port(&address)
                    .map_err(|e| ServiceError::Address { address: address.trim().to_owned(), reason: e.to_string() })?;
                let node = self.node().ok_or(ServiceError::SyncOff)?;
                self.wait_for(async move { Done::Dialed(node.dial(target).await) });
            }
            Action::SetPaused(paused) => match self.node() {
                // A running node is told directly, and ends or starts its session at once.
                Some(node) => self.wait_for(async move { Done::Paused(node.set_paused(paused).await) }),
                None => {
                    self.with_journal(|j| j.set_sync_paused(paused))?;
                    self.read_at_rest()?;
                }
            },
            Action::Unpair => match self.node() {
                // A running node ends the session and lets the partner's phone go.
                Some(node) => self.wait_for(async move { Done::Unpaired(node.unpair().await) }),
                None => {
                    self.with_journal(|j| j.unpair())?;
                    self.read_at_rest()?;
                }
            },
            Action::SetDiscovery(on) => {
                // The node decides at its start whether it runs mDNS: it starts again.
                self.stop();
                self.with_journal(|j| j.set_discovery(on))?;
                self.read_at_rest()?;
            }
            Action::LocalChange => {
                if let Some(node) = self.node() {
                    node.local_change();
                }
            }
            Action::KeyChanged => self.stop(),
        }
        Ok(())
    }

    fn heard(&mut self, said: FromNode) -> Result<(), ServiceError> {
        match said {
            FromNode::Status => {
                let Some(running) = &mut self.running else { return Ok(()) };
                let now = running.status.borrow_and_update().clone();
                let was_stopped = self.status.as_ref().and_then(|s| s.stopped.clone());
                if now.stopped.is_some() && now.stopped != was_stopped {
                    self.notice.set(now.stopped.clone());
                }
                self.status = Some(now);
            }
            FromNode::Event(event) => match event {
                NetEvent::Paired { name, safety_words, .. } => {
                    self.step = Step::Paired { name, words: safety_words };
                    self.with_journal(|j| j.reload())?;
                }
                NetEvent::InviteEnded { reason } if matches!(self.step, Step::Inviting { .. }) => {
                    self.step = Step::Idle;
                    return Err(ServiceError::InviteEnded(reason));
                }
                NetEvent::Refused { reason, .. } if matches!(self.step, Step::Inviting { .. }) => {
                    return Err(ServiceError::JoinFailed(reason));
                }
                _ => {}
            },
            // What the node wrote is on disk (or about to be, and shown early): the lists
            // take only the entries it changed.
            FromNode::Arrived(arrived) => self.with_journal(|j| j.show_arrived(arrived))?,
            FromNode::FellBehind => self.with_journal(|j| j.reload())?,
            FromNode::Gone => {
                self.running = None;
                self.read_at_rest()?;
            }
        }
        Ok(())
    }

    fn finished(&mut self, done: Done) -> Result<(), ServiceError> {
        match done {
            Done::Invited(Ok(invite)) => {
                if self.step == Step::MakingInvite {
                    let qr_svg = invite.qr_svg().unwrap_or_default();
                    self.step = Step::Inviting { code: invite.code.to_string(), link: invite.to_link(), qr_svg };
                }
            }
            Done::Invited(Err(e)) => {
                self.step = Step::Idle;
                return Err(e.into());
            }
            Done::Joined(Ok(Ok(paired))) => {
                let words = paired.safety_words.iter().map(|w| (*w).to_owned()).collect();
                self.step = Step::Paired { name: paired.name, words };
            }
            // The person cancelled: nothing went wrong, and nothing is said.
            Done::Joined(Ok(Err(NetError::Cancelled))) => self.step = Step::Idle,
            Done::Joined(Ok(Err(e))) => {
                self.step = Step::Idle;
                return Err(e.into());
            }
            Done::Joined(Err(_)) => {
                if let Some(node) = self.node() {
                    node.cancel_pairing();
                }
                self.step = Step::Idle;
                return Err(ServiceError::NoInviteFound);
            }
            Done::Dialed(result) => result?,
            Done::Paused(result) => {
                self.read_at_rest()?;
                result?;
            }
            Done::Unpaired(result) => {
                // My shared entries are private again: the lists are read whole.
                let reloaded = self.with_journal(|j| j.reload());
                self.read_at_rest()?;
                result?;
                reloaded?;
            }
        }
        Ok(())
    }

    /// Starts or stops the node as the window, the pairing and the settings say.
    fn reconcile(&mut self) -> Result<(), ServiceError> {
        let status = self.status.as_ref();
        let syncing = status.is_some_and(|s| {
            s.partner.is_some() && !s.paused && s.stopped.is_none() && s.shared_document_too_big.is_none()
        });
        let wanted = self.open && self.foreground && (self.step != Step::Idle || syncing);
        let result = match (wanted, self.running.is_some()) {
            (true, false) => self.start().map(drop),
            (false, true) => {
                self.stop();
                Ok(())
            }
            _ => Ok(()),
        };
        // Locked or in the background, the courier carries sealed letters; it holds no
        // key to the journal. It stops the moment the node starts.
        let carrying = !wanted && (!self.open || !self.foreground) && !self.moving;
        if carrying != self.carrying
            && let Some(dir) = self.data_dir.clone()
        {
            self.carrying = carrying;
            let options = try_consume_context::<NetOptions>().unwrap_or_default();
            let config = NetConfig {
                discovery: options.discovery_allowed,
                listen: options.listen.clone(),
                ..NetConfig::default()
            };
            crate::net::courier::want(crate::net::courier::Wants::App, carrying, &dir, config);
        }
        // On Android the courier lives on in a service of its own once the app is gone.
        if syncing && !self.service_started {
            self.service_started = true;
            crate::platform::keep_courier_service();
        }
        result
    }

    /// The node, started if it is not running. Without a data directory (component
    /// tests), there is nothing to start.
    fn start(&mut self) -> Result<Rc<Node>, ServiceError> {
        if let Some(node) = self.node() {
            return Ok(node);
        }
        let failed = |e: String| ServiceError::Start(e);
        let options = try_consume_context::<NetOptions>().unwrap_or_default();
        let (store, discovery_on) = {
            let guard = self.journal.peek();
            let j = guard.as_ref().map_err(|e| failed(e.clone()))?;
            (j.node_store().map_err(failed)?, j.discovery_on())
        };
        // The courier gives way: the node is this phone on the network now.
        crate::net::courier::node_running(true);
        let config = NetConfig {
            discovery: options.discovery_allowed && discovery_on,
            listen: options.listen.clone(),
            ..NetConfig::default()
        };
        // Android 17 asks once for the local network; elsewhere this does nothing.
        crate::platform::request_local_network();
        let multicast = if config.discovery {
            crate::platform::MulticastLock::acquire()
                .inspect_err(|e| tracing::warn!("no multicast lock, discovery may not work: {e}"))
                .ok()
        } else {
            None
        };
        let node = Rc::new(Node::start_on_thread(store, config).map_err(|e| failed(e.to_string()))?);
        let running = Running {
            status: node.status(),
            events: node.subscribe(),
            arrivals: node.arrivals(),
            node: node.clone(),
            _multicast: multicast,
        };
        self.status = Some(running.status.borrow().clone());
        self.running = Some(running);
        Ok(node)
    }

    /// Stops the node; what it was doing ends between two writes.
    fn stop(&mut self) {
        if self.running.take().is_some() {
            crate::net::courier::node_running(false);
            let _ = self.read_at_rest();
        }
    }

    /// Reads where sync stands from this phone's settings, just after the window changed
    /// them: a running node says the same a moment later, and then what only it knows
    /// (connected or not, where it listens).
    fn read_at_rest(&mut self) -> Result<(), ServiceError> {
        let mut status = match self.journal.peek().as_ref() {
            Ok(j) => {
                self.data_dir = j.data_dir();
                // Where the partner was last seen, for the courier.
                j.keep_courier_profile();
                j.net_status().map_err(ServiceError::Journal)?
            }
            Err(_) => return Ok(()),
        };
        if let Some(running) = &self.running {
            status.listening = running.status.borrow().listening.clone();
        }
        self.status = Some(status);
        Ok(())
    }

    /// Puts what the window shows in the view, if it changed.
    fn show(&mut self) {
        let view = if !self.open {
            locked_view()
        } else {
            let status = self.status.clone();
            let journal = self.journal;
            let base = match &status {
                Some(status) => SyncView::of(status, || {
                    journal.peek().as_ref().ok().and_then(|j| j.unconfirmed_words()).unwrap_or_default()
                }),
                None => SyncView { state: SyncState::NotPaired, unsent: 0, listening: Vec::new() },
            };
            let state = match &self.step {
                Step::Idle => base.state,
                Step::MakingInvite => SyncState::MakingInvite,
                Step::Inviting { code, link, qr_svg } => {
                    SyncState::Inviting { code: code.clone(), link: link.clone(), qr_svg: qr_svg.clone() }
                }
                Step::Joining => SyncState::Joining,
                Step::Paired { name, words } => SyncState::WordsToCheck { name: name.clone(), words: words.clone() },
            };
            SyncView { state, ..base }
        };
        if *self.view.peek() != view {
            self.view.set(view);
        }
    }
}

/// The next thing the running node says; never, while none runs.
async fn next_from(running: &mut Option<Running>) -> FromNode {
    let Some(r) = running else { return std::future::pending().await };
    tokio::select! {
        changed = r.status.changed() => if changed.is_ok() { FromNode::Status } else { FromNode::Gone },
        event = r.events.recv() => match event {
            Ok(event) => FromNode::Event(event),
            Err(RecvError::Lagged(_)) => FromNode::Status,
            Err(RecvError::Closed) => FromNode::Gone,
        },
        arrived = r.arrivals.recv() => match arrived {
            Ok(arrived) => FromNode::Arrived(arrived),
            Err(RecvError::Lagged(_)) => FromNode::FellBehind,
            Err(RecvError::Closed) => FromNode::Gone,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::PartnerView;

    fn blank() -> NetStatus {
        NetStatus {
            peer_id: None,
            link: LinkState::NotPaired,
            partner: None,
            paused: false,
            last_synced: None,
            unsent_changes: 0,
            listening: Vec::new(),
            pairing: PairingState::Unpaired,
            partner_confirmed: false,
            stopped: None,
            shared_document_too_big: None,
            relays: Vec::new(),
        }
    }

    #[test]
    fn the_badge_says_where_sync_stands_and_never_when_the_partner_was_seen() {
        let today = Local::now().date_naive();
        let badge = |s: &NetStatus| badge_text_on(s, today);
        let mut s = blank();
        assert_eq!(badge(&s), "Not paired");
        s.partner = Some(PartnerView { peer_id: "x".into(), name: "Blair".into(), moved_at: None, restored: false });
        s.pairing = PairingState::Unconfirmed;
        s.link = LinkState::Connected;
        assert_eq!(badge(&s), "Waiting for you to check the words");
        s.pairing = PairingState::Confirmed;
        assert_eq!(badge(&s), "Waiting for Blair");
        s.partner_confirmed = true;
        assert_eq!(badge(&s), "Connected to Blair");
        s.link = LinkState::Looking;
        assert_eq!(badge(&s), "Looking for Blair");
        s.unsent_changes = 3;
        assert_eq!(badge(&s), "Looking for Blair · 3 not sent yet");
        s.link = LinkState::Offline;
        s.unsent_changes = 0;
        assert_eq!(badge(&s), "Offline");
        s.link = LinkState::Synced;
        s.last_synced = Some(Utc::now());
        assert_eq!(badge(&s), "Up to date");
        s.link = LinkState::Looking;
        assert_eq!(badge(&s), "Last synced today");
        s.link = LinkState::Offline;
        assert_eq!(badge(&s), "Offline · last synced today");
        s.link = LinkState::Looking;
        s.last_synced = Some(Utc::now() - chrono::Duration::days(1));
        assert_eq!(badge(&s), "Last synced yesterday");
        s.last_synced = Some(Utc::now() - chrono::Duration::days(3));
        assert_eq!(badge(&s), "Last synced 3 days ago");
        assert!(!badge(&s).contains(':'), "no time of day");
        s.link = LinkState::Paused;
        assert_eq!(badge(&s), "Sync paused");
        s.link = LinkState::Stopped;
        assert_eq!(badge(&s), "Sync stopped");
    }

    /// Every state README.md documents for `link`, plus locked and the words not yet
    /// checked, is a state of its own.
    #[test]
    fn each_link_the_command_line_names_is_a_state_of_its_own() {
        let mut s = blank();
        let state = |s: &NetStatus| SyncState::of(s, || vec!["w".into()]).slug();
        assert_eq!(state(&s), "not-paired");
        s.partner = Some(PartnerView { peer_id: "x".into(), name: "Blair".into(), moved_at: None, restored: false });
        s.pairing = PairingState::Unconfirmed;
        s.link = LinkState::Looking;
        assert_eq!(state(&s), "words-to-check");
        s.pairing = PairingState::Confirmed;
        assert_eq!(state(&s), "waiting-for-partner");
        s.partner_confirmed = true;
        let mut seen = std::collections::HashSet::new();
        for (link, slug) in [
            (LinkState::Paused, "paused"),
            (LinkState::Stopped, "stopped"),
            (LinkState::Offline, "apart"),
            (LinkState::Looking, "apart"),
            (LinkState::Connected, "syncing"),
            (LinkState::Synced, "up-to-date"),
        ] {
            s.link = link;
            assert_eq!(state(&s), slug, "{link:?}");
            seen.insert(slug);
        }
        assert_eq!(locked_view().state.slug(), "locked");
        assert_eq!(seen.len(), 5);
    }
}
