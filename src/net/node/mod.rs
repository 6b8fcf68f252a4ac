//! The network node: a libp2p swarm (TCP, Noise, Yamux), mDNS to find the partner's phone,
//! and the driver that owns the swarm. Every decision about the partner is the link's
//! (`net::link`): the driver turns what the swarm, the streams, the sessions and the
//! settings report into the link's inputs, and does the effects it returns. It decides
//! nothing itself.
//!
//! Who this phone is: a new identity each day, and a new one when a pairing ends
//! (`net::daily`); the driver starts the swarm again for it.
//!
//! Who gets in: the allow list comes first in the behaviour and holds only the paired
//! partner, as it is that day (nobody while sync is paused or stopped), so any other device's connection is
//! closed before a single stream opens. While an invite or a join is open it is lifted,
//! and then the only protocol served to a stranger is the pairing exchange, limited to
//! five wrong codes. Before the allow list, caps on connections turn a flood away.
//!
//! Settings other processes change (the window's "They match", `pair confirm`, `pair
//! reject`, `unpair`, `pause`, `resume`) are read again whenever the file's
//! `data_version` moves (the kernel says when the journal's folder changes, `net::watch`;
//! without it the driver looks every second), and handed to the link. Nothing ticks: the
//! driver sleeps until the link's next wake, or until something happens.
//!
//! This file holds the handle ([`Node`]), whose requests the driver answers through a
//! oneshot, and how a node starts; `driver` owns the swarm and does the link's effects;
//! `swarm` builds the swarm, and says what its events tell the link.

mod driver;
pub(crate) mod swarm;

use std::sync::Arc;
use std::time::{Duration, Instant};

use libp2p::{Multiaddr, PeerId, Swarm};
use tokio::sync::{Notify, broadcast, mpsc, oneshot, watch};

use super::addresses;
use super::daily::{self, Days, Identity};
pub use super::error::{NetError, Paired};
use super::invite::Invitation;
use super::link::PartnerLink;
pub use super::link::{INVITE_LIFETIME, MAX_TRIES};
use super::peers::{self, Settings};
use super::sync::Arrived;
use super::{NetEvent, NetStatus, WireTap};
use crate::store::Store;

/// How the node is started.
#[derive(Clone)]
pub struct NetConfig {
    /// Find the partner's phone with mDNS. Off, only addresses dialed directly are used.
    pub discovery: bool,
    /// Where to accept connections. Empty: all of this phone's IPv4 addresses, on the
    /// day's port when paired (`net::daily`; the port used last time, for a pairing from
    /// before daily identities) if it is free, and on any port otherwise.
    pub listen: Vec<Multiaddr>,
    /// Addresses to connect to at once, as with "Connect by address".
    pub dial: Vec<Multiaddr>,
    /// mDNS timing: how often it asks, at most, while not paired (and while pairing)...
    pub query_interval: Duration,
    /// ...and while paired.
    pub query_interval_paired: Duration,
    pub ttl: Duration,
    /// How long an invite stays open.
    pub invite_lifetime: Duration,
    /// Records every byte handed to the network, for tests.
    pub tap: Option<WireTap>,
    /// Where the date comes from: the node takes a new identity each day.
    pub days: Days,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            discovery: true,
            listen: Vec::new(),
            dial: Vec::new(),
            // mDNS asks at first every half second, doubling to these. Not paired, a phone
            // looks for an invite every 20 s at most. Paired, it asks for its partner
            // every five minutes at most: one that comes back asks for itself and is
            // answered at once, so a phone left running while the partner is away costs
            // close to nothing (BENCHMARKS.md, while the partner is away).
            query_interval: Duration::from_secs(20),
            query_interval_paired: Duration::from_secs(5 * 60),
            ttl: Duration::from_secs(6 * 60),
            invite_lifetime: INVITE_LIFETIME,
            tap: None,
            days: Days::Calendar,
        }
    }
}

/// What a [`Node`] asks its driver, answered through the oneshot it carries.
enum Request {
    Invite(oneshot::Sender<Result<Invitation, NetError>>),
    CancelPairing,
    Join(Invitation, oneshot::Sender<Result<Paired, NetError>>),
    Dial(Multiaddr, oneshot::Sender<Result<(), NetError>>),
    SetPaused(bool, oneshot::Sender<Result<(), NetError>>),
    Unpair(oneshot::Sender<Result<(), NetError>>),
    Shutdown(oneshot::Sender<()>),
}

/// A running node. Dropping it stops the network.
pub struct Node {
    requests: mpsc::UnboundedSender<Request>,
    events: broadcast::Sender<NetEvent>,
    arrivals: broadcast::Sender<Arc<Arrived>>,
    /// Holds every event from the start until the first subscriber takes it.
    first: std::sync::Mutex<Option<broadcast::Receiver<NetEvent>>>,
    status: watch::Receiver<NetStatus>,
    local_change: Arc<Notify>,
    /// This phone's network identity: new when a pairing ends.
    peer_id: Arc<std::sync::Mutex<PeerId>>,
}

impl Node {
    /// Starts the node on the current tokio runtime. The store is the node's own
    /// connection to this phone's journal.
    pub async fn start(mut store: Store, config: NetConfig) -> Result<Node, NetError> {
        if peers::forget_untrusted(&mut store)? {
            tracing::info!("forgot a partner saved before pairings were confirmed; pair again");
        }
        let day = config.days.today();
        let (identity, settings) = daily::identity_on(&mut store, day)?;
        let port = match identity.day {
            Some(today) => Some(today.port),
            None => peers::listen_port(&store)?,
        };
        let (link, mut swarm) = Node::swarm(&identity, settings, &config)?;
        Node::listen(&mut swarm, &config.listen, port)?;
        driver::start(store, link, swarm, identity, day, &config).await
    }

    /// A swarm with `identity`, letting in whom the settings say, and the link that
    /// decides for it. It listens nowhere yet.
    fn swarm(
        identity: &Identity,
        settings: Settings,
        config: &NetConfig,
    ) -> Result<(PartnerLink, Swarm<swarm::Behaviour>), NetError> {
        let link =
            PartnerLink::new(identity.peer(), config.discovery, config.invite_lifetime, settings, Instant::now());
        let courier = identity.day.map(|today| today.partner_courier);
        let swarm = swarm::build(identity.key.clone(), config, &link.door(), link.partner_peer(), courier)?;
        Ok((link, swarm))
    }

    /// Listens at `listen`, or, when it is empty, on all of this phone's addresses, at
    /// `port` if it is free and at any port if not.
    fn listen(swarm: &mut Swarm<swarm::Behaviour>, listen: &[Multiaddr], port: Option<u16>) -> Result<(), NetError> {
        let mut listen = listen.to_vec();
        if listen.is_empty() {
            let port = port.unwrap_or(0);
            if port != 0 && swarm.listen_on(addresses::all_interfaces(port)).is_ok() {
                // Whether the port is still free shows in the listener's events.
            } else {
                listen.push(addresses::all_interfaces(0));
            }
        }
        for address in &listen {
            swarm.listen_on(address.clone()).map_err(|e| NetError::Start(format!("can't listen on {address}: {e}")))?;
        }
        Ok(())
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
                            let closed = node.requests.clone();
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

    /// This phone's network identity now. It changes when a pairing ends, so that the
    /// earlier partner's phone can no longer recognize this one.
    pub fn peer_id(&self) -> PeerId {
        *self.peer_id.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Events from now on; the first call gets every event since the node started.
    pub fn subscribe(&self) -> broadcast::Receiver<NetEvent> {
        let first = self.first.lock().unwrap_or_else(|p| p.into_inner()).take();
        first.unwrap_or_else(|| self.events.subscribe())
    }

    /// The entries each received message changed, once durable, as the journal lists
    /// them. A receiver that falls behind is told it lagged, and reads the lists whole.
    pub fn arrivals(&self) -> broadcast::Receiver<Arc<Arrived>> {
        self.arrivals.subscribe()
    }

    /// Where sync stands, kept current.
    pub fn status(&self) -> watch::Receiver<NetStatus> {
        self.status.clone()
    }

    /// Says that this phone's journal changed, so the partner hears of it at once.
    pub fn local_change(&self) {
        self.local_change.notify_one();
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<Result<T, NetError>>) -> Request) -> Result<T, NetError> {
        let (tx, rx) = oneshot::channel();
        self.requests.send(make(tx)).map_err(|_| NetError::Stopped)?;
        rx.await.map_err(|_| NetError::Stopped)?
    }

    /// Opens an invite for ten minutes. The invitation holds the code, this phone's
    /// identity and its addresses; [`NetEvent::Paired`] or [`NetEvent::InviteEnded`] tells
    /// how it ends.
    pub async fn invite(&self) -> Result<Invitation, NetError> {
        self.ask(Request::Invite).await
    }

    /// Ends an open invite or join, and lets no stranger connect again.
    pub fn cancel_pairing(&self) {
        let _ = self.requests.send(Request::CancelPairing);
    }

    /// Joins the invite a code or link names, and waits until pairing ends.
    pub async fn join(&self, invitation: Invitation) -> Result<Paired, NetError> {
        self.ask(|tx| Request::Join(invitation, tx)).await
    }

    /// Connects to a phone at an address, for networks that block discovery.
    pub async fn dial(&self, address: Multiaddr) -> Result<(), NetError> {
        self.ask(|tx| Request::Dial(address, tx)).await
    }

    /// Stops or restarts sync with the partner. The partner's phone is not told.
    pub async fn set_paused(&self, paused: bool) -> Result<(), NetError> {
        self.ask(|tx| Request::SetPaused(paused, tx)).await
    }

    /// Forgets the partner. The shared document is set apart, read-only, and my entries
    /// in it become private again; the next pairing starts afresh. The partner's phone is
    /// not told.
    pub async fn unpair(&self) -> Result<(), NetError> {
        self.ask(Request::Unpair).await
    }

    /// Stops the network, ending any session between two writes.
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.requests.send(Request::Shutdown(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let (tx, _) = oneshot::channel();
        let _ = self.requests.send(Request::Shutdown(tx));
    }
}
