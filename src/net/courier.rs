//! The courier: this phone on the network while its journal is locked. It carries sealed
//! letters (`net::letters`) to and from the partner's phone, and needs no passcode,
//! because it holds no key to the journal: it can open nothing of it, and it writes
//! nothing into the data folder but letters that arrived, still sealed.
//!
//! What it knows comes from the courier profile, written by the unlocked app (or any
//! command that opens the journal) whenever the pairing is confirmed: the courier's own
//! keys and ports for the next [`DAYS_AHEAD`] days, the peer ids and ports of the
//! partner's app and courier on those days, this phone's relay key, and where the
//! partner's phone was last seen. Nothing in it can make an app's identity (that needs
//! the couple secret, [`DailySecret`]), nor open a letter or the journal. With it the
//! courier is this phone's courier on the network, and lets in the partner's phone alone.
//!
//! Depends on `net::letters`, `net::daily`, `net::node::swarm`, `store::Mailbox` (files,
//! no key), `vault::files`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::swarm::SwarmEvent;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::{Multiaddr, PeerId};
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, broadcast};

use super::daily::DailySecret;
use super::error::NetError;
use super::letters::{self, LETTERS_PROTOCOL};
use super::link::{Door, REDIAL_AT_MOST, REDIAL_FIRST};
use super::node::swarm::{self, BehaviourEvent};
use super::pairing::Role;
use super::peers::{self, PeersError};
use super::relay::{Known, RelayEntry};
use super::watch::FileWatch;
use super::{AbortOnDrop, NetConfig, NetEvent, addresses};
use crate::store::{Mailbox, Store};

/// The setting by which the person turned discovery off (the Us screen).
pub const DISCOVERY_OFF: &str = "net.discovery_off";

/// The courier profile's file, in the data directory.
pub const PROFILE_FILE: &str = "courier-profile.json";

/// What the courier knows: no key to the journal, nothing personal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub version: u32,
    /// The side of the pairing this phone took.
    pub role: Role,
    /// This phone's key for the couple's relays (libp2p's encoding, as hex).
    pub relay: String,
    /// The days ahead, each with this phone's courier identity and both phones' peers.
    /// Made by the unlocked app from the couple secret; nothing here can make an app's
    /// identity, so a copy of the profile can never pose as either app.
    pub days: Vec<CourierDay>,
    /// Where the partner's phone was last seen, newest first.
    pub addresses: Vec<String>,
    /// Sync is paused on this phone: the courier carries nothing either.
    #[serde(default)]
    pub paused: bool,
    /// Whether the person lets this phone look for the partner's with mDNS.
    #[serde(default = "yes")]
    pub discovery: bool,
    /// The couple's home relays.
    #[serde(default)]
    pub relays: Vec<RelayEntry>,
    /// When the phone's background service carries letters (Android): `always` (on
    /// Wi-Fi), `charging` (on Wi-Fi, while charging) or `off`. The Us screen sets it.
    #[serde(default = "always")]
    pub background: String,
}

fn always() -> String {
    BACKGROUND_MODES[0].to_owned()
}

/// The setting by which the person chose when the background service runs.
pub const BACKGROUND: &str = "net.background";
/// Its values, the first the default.
pub const BACKGROUND_MODES: [&str; 3] = ["always", "charging", "off"];

fn yes() -> bool {
    true
}

/// One day of the courier: its identity and port, and where the partner's phone is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CourierDay {
    pub day: chrono::NaiveDate,
    /// This phone's courier's key that day (libp2p's encoding, as hex).
    pub key: String,
    pub port: u16,
    pub partner_app: String,
    pub partner_app_port: u16,
    pub partner_courier: String,
    pub partner_courier_port: u16,
}

/// How many days ahead the profile knows: a phone left locked longer carries letters
/// only once it is opened again.
pub const DAYS_AHEAD: u64 = 30;

fn damaged() -> NetError {
    NetError::Start("the courier profile is damaged: open Steady once to write it again".into())
}

fn keypair(hex: &str) -> Result<libp2p::identity::Keypair, NetError> {
    let bytes = peers::from_hex(hex).ok_or_else(damaged)?;
    libp2p::identity::Keypair::from_protobuf_encoding(&bytes).map_err(|_| damaged())
}

impl Profile {
    /// This phone's key for the couple's relays.
    pub fn relay_key(&self) -> Result<libp2p::identity::Keypair, NetError> {
        keypair(&self.relay)
    }

    /// The courier's day `day`, if the profile reaches that far.
    pub fn day(&self, day: chrono::NaiveDate) -> Option<&CourierDay> {
        self.days.iter().find(|d| d.day == day)
    }
}

impl CourierDay {
    fn make(secret: &DailySecret, role: Role, day: chrono::NaiveDate) -> Result<CourierDay, PeersError> {
        let key = secret.courier_key(role, day)?;
        let encoded = key.to_protobuf_encoding().map_err(|_| PeersError::Damaged("the day's identity"))?;
        let other = role.other();
        Ok(CourierDay {
            day,
            key: peers::to_hex(&encoded),
            port: secret.courier_port(role, day),
            partner_app: secret.key(other, day)?.public().to_peer_id().to_base58(),
            partner_app_port: secret.port(other, day),
            partner_courier: secret.courier_key(other, day)?.public().to_peer_id().to_base58(),
            partner_courier_port: secret.courier_port(other, day),
        })
    }
}

fn profile_path(data_dir: &Path) -> PathBuf {
    data_dir.join(PROFILE_FILE)
}

/// Where a phone with a keystore keeps the profile, sealed with a key the keystore keeps.
pub const SEALED_PROFILE_FILE: &str = "courier-profile.sealed";
/// When the phone's background service runs (`always`, `charging`, `off`), in the clear
/// for that service to read: it says nothing else.
pub const MODE_FILE: &str = "courier-mode";

/// The key the profile is sealed with on a phone: kept by the keystore, made once.
fn profile_key(make: bool) -> Option<zeroize::Zeroizing<[u8; 32]>> {
    use crate::platform::keystore::{Kept, keystore_available, keystore_get, keystore_put};
    if !keystore_available() {
        return None;
    }
    if let Ok(Some(key)) = keystore_get(Kept::CourierKey) {
        return Some(key);
    }
    if !make {
        return None;
    }
    let mut key = zeroize::Zeroizing::new([0u8; 32]);
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut key[..]);
    keystore_put(Kept::CourierKey, &key).ok()?;
    // Only a key the keystore gives back is used.
    keystore_get(Kept::CourierKey).ok().flatten().filter(|kept| **kept == *key)
}

fn seal_profile(key: &[u8; 32], plain: &[u8]) -> Vec<u8> {
    use chacha20poly1305::aead::{Aead, KeyInit};
    let mut nonce = [0u8; 24];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut nonce);
    let cipher = chacha20poly1305::XChaCha20Poly1305::new(key.into());
    let sealed = cipher.encrypt(chacha20poly1305::XNonce::from_slice(&nonce), plain).unwrap_or_default();
    [nonce.to_vec(), sealed].concat()
}

fn open_profile(key: &[u8; 32], sealed: &[u8]) -> Option<Vec<u8>> {
    use chacha20poly1305::aead::{Aead, KeyInit};
    let (nonce, body) = (sealed.get(..24)?, sealed.get(24..)?);
    let cipher = chacha20poly1305::XChaCha20Poly1305::new(key.into());
    cipher.decrypt(chacha20poly1305::XNonce::from_slice(nonce), body).ok()
}

/// Writes the courier profile for this phone's pairing, or removes it when there is no
/// confirmed pairing with a couple secret. Written only when it changed.
pub fn keep_profile(store: &Store) -> Result<(), PeersError> {
    let Some(dir) = store.path().parent().filter(|d| !d.as_os_str().is_empty()).map(Path::to_path_buf) else {
        return Ok(());
    };
    let profile = match peers::partner(store)? {
        Some(partner) if partner.confirmed => match (&partner.network, partner.role) {
            (Some(network), Some(role)) => Some(Profile {
                version: 2,
                role,
                relay: {
                    let secret = DailySecret::of(network);
                    let key =
                        super::relay::relay_key(&secret, role).map_err(|_| PeersError::Damaged("the relay key"))?;
                    peers::to_hex(&key.to_protobuf_encoding().map_err(|_| PeersError::Damaged("the relay key"))?)
                },
                days: {
                    let secret = DailySecret::of(network);
                    let today = chrono::Utc::now().date_naive();
                    (0..DAYS_AHEAD)
                        .filter_map(|n| today.checked_add_days(chrono::Days::new(n)))
                        .map(|day| CourierDay::make(&secret, role, day))
                        .collect::<Result<Vec<_>, _>>()?
                },
                addresses: peers::addresses(store)?.iter().map(|a| a.to_string()).collect(),
                paused: peers::paused(store)?,
                discovery: store.setting(DISCOVERY_OFF)?.is_none(),
                relays: Known::read(store)?.relays,
                background: store
                    .setting(BACKGROUND)?
                    .filter(|m| BACKGROUND_MODES.contains(&m.as_str()))
                    .unwrap_or_else(always),
            }),
            _ => None,
        },
        _ => None,
    };
    let path = profile_path(&dir);
    let written = |e: crate::vault::VaultError| {
        PeersError::Store(crate::store::StoreError::Io(std::io::Error::other(e.to_string())))
    };
    match profile {
        None => forget_profile(&dir),
        Some(profile) => {
            if std::fs::read(dir.join(MODE_FILE)).ok().as_deref() != Some(profile.background.as_bytes()) {
                crate::vault::write_private_file(&dir.join(MODE_FILE), profile.background.as_bytes())
                    .map_err(written)?;
            }
            let text = serde_json::to_vec_pretty(&profile).map_err(|_| PeersError::Damaged("the courier profile"))?;
            if let Some(key) = profile_key(true) {
                // A phone: sealed with the keystore's key; no copy in the clear.
                let sealed_path = dir.join(SEALED_PROFILE_FILE);
                let same =
                    std::fs::read(&sealed_path).ok().and_then(|s| open_profile(&key, &s)).as_deref() == Some(&text[..]);
                if !same {
                    crate::vault::write_private_file(&sealed_path, &seal_profile(&key, &text)).map_err(written)?;
                }
                let _ = std::fs::remove_file(&path);
                return Ok(());
            }
            if std::fs::read(&path).ok().as_deref() == Some(&text[..]) {
                return Ok(());
            }
            crate::vault::write_private_file(&path, &text).map_err(written)
        }
    }
}

/// Removes the courier profile: the pairing ended.
pub fn forget_profile(data_dir: &Path) -> Result<(), PeersError> {
    for path in [profile_path(data_dir), data_dir.join(SEALED_PROFILE_FILE), data_dir.join(MODE_FILE)] {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(PeersError::Store(e.into())),
            _ => {}
        }
    }
    Ok(())
}

/// Reads the courier profile, saying in words why there is none.
pub fn read_profile(data_dir: &Path) -> Result<Profile, NetError> {
    let sealed = std::fs::read(data_dir.join(SEALED_PROFILE_FILE)).ok();
    let text = match (sealed, profile_key(false)) {
        (Some(sealed), Some(key)) => open_profile(&key, &sealed).ok_or_else(|| {
            NetError::Start("the courier profile can't be opened: open Steady once to write it again".into())
        })?,
        _ => std::fs::read(profile_path(data_dir)).map_err(|_| {
            NetError::Start(
                "this phone has no courier profile: pair with your partner, and open Steady once after pairing".into(),
            )
        })?,
    };
    let profile: Profile = serde_json::from_slice(&text)
        .map_err(|_| NetError::Start("the courier profile is damaged: run Steady once to write it again".into()))?;
    if profile.version != 2 {
        return Err(NetError::Start("the courier profile is from a newer Steady".into()));
    }
    Ok(profile)
}

/// Runs the courier until `limit` has passed (or forever), telling `events` what
/// happens. Ends with [`NetEvent::CourierEnded`].
pub async fn run(
    data_dir: &Path,
    config: NetConfig,
    limit: Option<Duration>,
    events: broadcast::Sender<NetEvent>,
) -> Result<(), NetError> {
    let profile = read_profile(data_dir)?;
    if profile.paused {
        let _ = events.send(NetEvent::CourierEnded { reason: "sync is paused on this phone".to_owned() });
        return Ok(());
    }
    let mut config = config;
    config.discovery &= profile.discovery;
    let mailbox = Mailbox::in_dir(data_dir);
    mailbox.make().map_err(|e| NetError::Start(format!("the letters' folder: {e}")))?;
    let ends = limit.map(|l| tokio::time::Instant::now() + l);
    let mut days = config.days.clone();
    loop {
        let day = days.today();
        let Some(today) = profile.day(day) else {
            let reason = "the courier knows no more days ahead: open Steady once to go on".to_owned();
            let _ = events.send(NetEvent::CourierEnded { reason });
            return Ok(());
        };
        let reason = tokio::select! {
            ended = run_day(&profile, today, &mailbox, &config, &events) => ended?,
            _ = days.after(day) => continue,
            _ = async { match ends { Some(at) => tokio::time::sleep_until(at).await, None => std::future::pending().await } } => {
                "its time was up".to_owned()
            }
        };
        let _ = events.send(NetEvent::CourierEnded { reason });
        return Ok(());
    }
}

/// The courier, running on a thread of its own (for the window, whose loop is not
/// tokio's) until the handle is dropped.
pub struct Courier {
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// Starts the courier on its own thread. Events go nowhere: the window shows nothing of
/// what a courier does while it is locked.
pub fn start_on_thread(data_dir: PathBuf, config: NetConfig) -> Result<Courier, NetError> {
    read_profile(&data_dir)?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    std::thread::Builder::new()
        .name("steady-courier".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(e) => return tracing::warn!("the courier could not start: {e}"),
            };
            runtime.block_on(async move {
                let (events, _) = broadcast::channel(16);
                tokio::select! {
                    ended = run(&data_dir, config, None, events) => if let Err(e) = ended {
                        tracing::warn!("the courier stopped: {e}");
                    },
                    _ = stopped => {}
                }
            });
        })
        .map_err(|e| NetError::Start(e.to_string()))?;
    Ok(Courier { _stop: stop })
}

/// Who asks for the courier in a running app.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wants {
    /// The window: it is locked, or in the background.
    App,
    /// The phone's background service (Android's foreground service), whose conditions
    /// hold: on Wi-Fi, and charging if the person asked for that; or a piece of iOS's
    /// background time ([`hold`]).
    Service,
}

/// The app's one courier: it runs while the window or the phone's service asks for it,
/// and never beside the node (both would be this phone on the network).
struct Slot {
    dir: PathBuf,
    config: NetConfig,
    app: bool,
    service: bool,
    node: bool,
    running: Option<Courier>,
}

static SLOT: std::sync::Mutex<Option<Slot>> = std::sync::Mutex::new(None);

fn with_slot(f: impl FnOnce(&mut Option<Slot>)) {
    let mut slot = SLOT.lock().unwrap_or_else(|p| p.into_inner());
    f(&mut slot);
    if let Some(slot) = slot.as_mut() {
        let wanted = (slot.app || slot.service) && !slot.node;
        match (wanted, slot.running.is_some()) {
            (true, false) => match start_on_thread(slot.dir.clone(), slot.config.clone()) {
                Ok(courier) => slot.running = Some(courier),
                Err(e) => tracing::info!("no courier: {e}"),
            },
            (false, true) => slot.running = None,
            _ => {}
        }
    }
}

/// `who` asks for the courier for the journal in `dir`, or no longer does.
pub fn want(who: Wants, on: bool, dir: &Path, config: NetConfig) {
    with_slot(|slot| {
        let slot = slot.get_or_insert_with(|| Slot {
            dir: dir.to_path_buf(),
            config: config.clone(),
            app: false,
            service: false,
            node: false,
            running: None,
        });
        if who == Wants::App {
            slot.config = config;
        }
        slot.dir = dir.to_path_buf();
        match who {
            Wants::App => slot.app = on,
            Wants::Service => slot.service = on,
        }
    });
}

/// The app's node starts or stops: the courier gives way to it, and comes back after.
pub fn node_running(running: bool) {
    with_slot(|slot| {
        if let Some(slot) = slot.as_mut() {
            slot.node = running;
        }
    });
}

/// Whether letters wait on this phone to leave: made and not yet handed to the partner's
/// phone or a relay, inside their undo window or past it.
pub fn letters_waiting(data_dir: &Path) -> bool {
    let out = Mailbox::in_dir(data_dir).outgoing_dir();
    !Mailbox::ids_in(&out, ".letter").is_empty() || !Mailbox::ids_in(&out, ".sending").is_empty()
}

/// Why [`hold`] gave the phone's background time back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Held {
    /// Every letter made here has left (asked for with `until_sent`).
    AllSent,
    /// The time given has passed.
    TimeUp,
    /// The phone took its time back (iOS's expiration handler).
    Stopped,
}

/// A piece of a phone's background time, given to the courier (iOS: the time
/// `beginBackgroundTask` gives as the app leaves the foreground, or a `BGTaskScheduler`
/// task's). Asks for the app's one courier ([`Wants::Service`]) for the journal in
/// `data_dir`, and blocks until `limit` has passed, `stop` is set, or, with
/// `until_sent`, no letter waits here any more; then it no longer asks. Blocks: call it
/// on a thread of its own.
pub fn hold(data_dir: &Path, config: NetConfig, limit: Duration, until_sent: bool, stop: &AtomicBool) -> Held {
    want(Wants::Service, true, data_dir, config.clone());
    let ends = Instant::now() + limit;
    let held = loop {
        if stop.load(Ordering::SeqCst) {
            break Held::Stopped;
        }
        if until_sent && !letters_waiting(data_dir) {
            break Held::AllSent;
        }
        let left = ends.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break Held::TimeUp;
        }
        std::thread::sleep(left.min(Duration::from_millis(250)));
    };
    want(Wants::Service, false, data_dir, config);
    held
}

/// One day of the courier, on that day's identity. Returns only on a fault.
async fn run_day(
    profile: &Profile,
    today: &CourierDay,
    mailbox: &Mailbox,
    config: &NetConfig,
    events: &broadcast::Sender<NetEvent>,
) -> Result<String, NetError> {
    // The courier's own identity and port for the day, not the app's: the partner's node
    // lets it in for letters alone, and shows nothing of it.
    let key = keypair(&today.key)?;
    let peer = |text: &str| text.parse::<PeerId>().map_err(|_| damaged());
    // The partner's phone: its app (the node, when it is open), or its courier.
    let partners = [
        (peer(&today.partner_app)?, today.partner_app_port),
        (peer(&today.partner_courier)?, today.partner_courier_port),
    ];
    let (app, courier) = (partners[0].0, partners[1].0);
    let mut swarm = swarm::build(key, config, &Door::Only(Some(app)), Some(app), Some(courier))?;
    if config.listen.is_empty() {
        if swarm.listen_on(addresses::all_interfaces(today.port)).is_err() {
            let _ = swarm.listen_on(addresses::all_interfaces(0));
        }
    } else {
        for address in &config.listen {
            swarm.listen_on(address.clone()).map_err(|e| NetError::Start(format!("can't listen on {address}: {e}")))?;
        }
    }
    let mut control = swarm.behaviour().stream.new_control();
    let mut incoming = control.accept(LETTERS_PROTOCOL).map_err(|e| NetError::Start(e.to_string()))?;
    // Where the partner's phone was: the same hosts, at each of its ports today.
    let mut hosts: Vec<Multiaddr> = config.dial.clone();
    hosts.extend(profile.addresses.iter().filter_map(|text| text.parse::<Multiaddr>().ok()));
    let mut known: Vec<Vec<Multiaddr>> = partners
        .iter()
        .map(|(_, port)| {
            let mut at: Vec<Multiaddr> = hosts.iter().filter_map(|a| addresses::at_port(a, *port)).collect();
            at.extend(hosts.iter().cloned());
            at.dedup();
            at
        })
        .collect();
    let changed = Arc::new(Notify::new());
    let relay_changed = Arc::new(Notify::new());
    let mut watch = FileWatch::start(&mailbox.outgoing_dir());
    let relays = tokio::spawn(super::relay::keep_in_touch(
        mailbox.root().parent().unwrap_or(Path::new(".")).to_path_buf(),
        mailbox.clone(),
        relay_changed.clone(),
        events.clone(),
        || async {},
    ));
    let _stop_relays = AbortOnDrop(relays);
    let mut pushers: std::collections::HashMap<PeerId, AbortOnDrop> = std::collections::HashMap::new();
    let mut wait = REDIAL_FIRST;
    let mut next_dial = Instant::now();
    loop {
        let connected = !pushers.is_empty();
        tokio::select! {
            event = swarm.select_next_some() => match event {
                SwarmEvent::NewListenAddr { address, .. } => {
                    let _ = events.send(NetEvent::Listening { address: address.to_string() });
                }
                SwarmEvent::Behaviour(BehaviourEvent::Mdns(libp2p::mdns::Event::Discovered(found))) => {
                    for (peer, address) in found {
                        if let Some(i) = partners.iter().position(|(p, _)| *p == peer) {
                            let _ = events.send(NetEvent::Discovered { peer: peer.to_base58(), address: address.to_string() });
                            if !known[i].contains(&address) {
                                known[i].insert(0, address);
                            }
                            (wait, next_dial) = (REDIAL_FIRST, Instant::now());
                        }
                    }
                }
                SwarmEvent::ConnectionEstablished { peer_id, .. } if peer_id == app || peer_id == courier => {
                    let _ = events.send(NetEvent::Connected { peer: peer_id.to_base58() });
                    let (mut control, mailbox, changed, events) =
                        (control.clone(), mailbox.clone(), changed.clone(), events.clone());
                    let pusher = tokio::spawn(async move {
                        letters::push_while_connected(peer_id, &mut control, &mailbox, &changed, &events, |_| async {}).await;
                    });
                    pushers.insert(peer_id, AbortOnDrop(pusher));
                }
                SwarmEvent::ConnectionClosed { peer_id, num_established: 0, cause, .. } if peer_id == app || peer_id == courier => {
                    pushers.remove(&peer_id);
                    let reason = cause.map(|c| c.to_string()).unwrap_or_else(|| "closed".to_owned());
                    let _ = events.send(NetEvent::Disconnected { peer: peer_id.to_base58(), reason });
                    // A connection with nothing to carry closes itself after a while: the
                    // next try waits as long as the backoff says, so a courier near an
                    // idle partner does not reconnect again and again.
                    next_dial = Instant::now() + wait;
                }
                _ => {}
            },
            Some((peer, stream)) = incoming.next() => {
                if peer == app || peer == courier {
                    let events = events.clone();
                    let mailbox = mailbox.clone();
                    tokio::spawn(async move {
                        let told = events.clone();
                        let said = move |bytes| drop(told.send(NetEvent::LetterReceived { bytes }));
                        if let Err(reason) = letters::receive(&mailbox, stream, &said).await {
                            let _ = events.send(NetEvent::Refused { peer: Some(peer.to_base58()), reason });
                        }
                    });
                }
            }
            _ = watched(&mut watch) => {
                changed.notify_one();
                relay_changed.notify_one();
            }
            _ = tokio::time::sleep_until(next_dial.into()), if !connected && known.iter().any(|k| !k.is_empty()) => {
                for ((peer, _), at) in partners.iter().zip(&known) {
                    dial(&mut swarm, *peer, at);
                }
                next_dial = Instant::now() + wait;
                wait = (wait * 2).min(REDIAL_AT_MOST);
            }
        }
    }
}

fn dial(swarm: &mut libp2p::Swarm<swarm::Behaviour>, partner: PeerId, known: &[Multiaddr]) {
    let opts = DialOpts::peer_id(partner)
        .addresses(known.to_vec())
        .condition(PeerCondition::DisconnectedAndNotDialing)
        .build();
    let _ = swarm.dial(opts);
}

async fn watched(watch: &mut Option<FileWatch>) {
    match watch {
        Some(watch) => watch.changed().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hold iOS's background time uses: it gives the time back once nothing waits
    /// (with `until_sent`), when the time is up while a letter still waits, or at once
    /// when the phone wants its time back. No profile here, so no courier starts: the
    /// hold itself is what is checked.
    #[test]
    fn a_hold_ends_once_nothing_waits_when_its_time_is_up_or_when_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let mailbox = Mailbox::in_dir(dir.path());
        mailbox.make().unwrap();
        let quick = || NetConfig { discovery: false, ..NetConfig::default() };
        let running = AtomicBool::new(false);
        assert!(!letters_waiting(dir.path()));
        assert_eq!(hold(dir.path(), quick(), Duration::from_secs(60), true, &running), Held::AllSent);

        std::fs::write(mailbox.waiting("0a1b"), b"sealed").unwrap();
        assert!(letters_waiting(dir.path()));
        let short = Duration::from_millis(300);
        assert_eq!(hold(dir.path(), quick(), short, true, &running), Held::TimeUp);
        // Without `until_sent` it holds the time given, letters or none.
        std::fs::rename(mailbox.waiting("0a1b"), mailbox.sending("0a1b")).unwrap();
        assert!(letters_waiting(dir.path()), "a letter being sent has not left yet");
        assert_eq!(hold(dir.path(), quick(), short, false, &running), Held::TimeUp);
        std::fs::rename(mailbox.sending("0a1b"), mailbox.sent("0a1b")).unwrap();
        assert!(!letters_waiting(dir.path()), "it left");

        let stopped = AtomicBool::new(true);
        std::fs::write(mailbox.waiting("0a1c"), b"sealed").unwrap();
        assert_eq!(hold(dir.path(), quick(), Duration::from_secs(60), true, &stopped), Held::Stopped);
        assert!(SLOT.lock().unwrap().as_ref().is_none_or(|s| !s.service), "the hold no longer asks for the courier");
    }
}
