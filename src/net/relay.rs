//! A home relay: a Steady process on a computer that stays on at home, holding sealed
//! letters for the couples it serves until their phones fetch them. It can read none of
//! them: it sees peer ids, addresses, sizes and times. It keeps a letter until it is
//! fetched, for 30 days at most, under a cap per phone, and serves nobody but the two
//! phones of each couple, which one partner adds with a code the relay shows.
//!
//! - **Who a phone is, to a relay.** A key of its own (`relay_key`), derived from the
//!   couple secret ([`DailySecret`]) and the phone's side of the pairing, so that each
//!   phone can work out its own and the partner's; the courier is given its own. A relay
//!   links nothing to the days' identities on the Wi-Fi.
//! - **The wire.** `/steady/relay/1`: one request a stream, each a length and JSON, with
//!   letters as lengths and bytes: `join` (with the code's secret, naming both phones),
//!   `deposit` (letters for the other phone of the couple), `fetch` (letters for me,
//!   each deleted once this phone says it is on its disk), `forget` (the couple leaves).
//! - **This file** holds the relay's side ([`serve`], its [`Shelf`]), the phones' side
//!   ([`exchange`], [`join`], [`forget`]) and the relays a journal knows ([`Known`]).
//!
//! Depends on `net::letters`, `net::daily`, `net::node::swarm`, `store::Mailbox`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use hkdf::Hkdf;
use libp2p::identity::Keypair;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Stream, StreamProtocol};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::broadcast;
use zeroize::Zeroizing;

use super::daily::DailySecret;
use super::error::NetError;
use super::letters::{self, MAX_LETTER};
use super::link::Door;
use super::node::swarm;
use super::pairing::Role;
use super::wire::{read_frame, send_json, write_frame};
use super::{NetConfig, NetEvent, addresses, peers, wire};
use crate::store::{Mailbox, Store};

pub const RELAY_PROTOCOL: StreamProtocol = StreamProtocol::new("/steady/relay/1");

/// How long a letter waits on a relay for its phone, at most.
pub const KEEP_FOR: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// The most bytes of letters a relay holds for one phone.
pub const CAP_PER_PHONE: u64 = letters::MAX_WAITING;
/// How long a relay's invite code stays good.
pub const INVITE_FOR: Duration = Duration::from_secs(10 * 60);
/// The largest request (its JSON, not its letters).
const MAX_REQUEST: usize = 64 * 1024;
/// How long one step with a relay may take.
const STEP: Duration = Duration::from_secs(20);
/// The setting in the journal that lists the couple's relays.
const RELAYS: &str = "net.relays";

// ----- Who a phone is to a relay -----

/// The key the phone that took `role` speaks to relays with. The same every day.
pub fn relay_key(secret: &DailySecret, role: Role) -> Result<Keypair, NetError> {
    let hk = Hkdf::<Sha256>::new(Some(b"steady relay v1"), secret.as_bytes());
    let mut seed = Zeroizing::new([0u8; 32]);
    let side: &[u8] = match role {
        Role::Inviter => b"inviter",
        Role::Joiner => b"joiner",
    };
    let _ = hk.expand(side, &mut seed[..]);
    Keypair::ed25519_from_bytes(&mut seed[..]).map_err(|_| NetError::Start("a relay key could not be made".into()))
}

// ----- The relays a journal knows -----

/// A relay of the couple, as the journal (and the courier's profile) keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayEntry {
    /// The relay's peer id: its id everywhere.
    pub id: String,
    pub addresses: Vec<String>,
    /// `me` or `partner`: who added it.
    pub added_by: String,
    pub added_at: DateTime<Utc>,
}

/// The relays this journal knows, and those removed (so a note from the partner that
/// still lists one does not bring it back).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Known {
    pub relays: Vec<RelayEntry>,
    #[serde(default)]
    pub removed: Vec<String>,
}

impl Known {
    pub fn read(store: &Store) -> Result<Known, peers::PeersError> {
        match store.setting(RELAYS)? {
            None => Ok(Known::default()),
            Some(text) => serde_json::from_str(&text).map_err(|_| peers::PeersError::Damaged("the relays")),
        }
    }

    pub fn write(&self, store: &mut Store) -> Result<(), peers::PeersError> {
        let text = serde_json::to_string(self).map_err(|_| peers::PeersError::Damaged("the relays"))?;
        store.set_setting(RELAYS, &text)?;
        Ok(())
    }

    /// Takes in what the partner's phone says of the relays: theirs are added as the
    /// partner's; one either phone removed stays removed. Says whether anything changed.
    pub fn merge_from_partner(&mut self, theirs: &Known) -> bool {
        let before = self.clone();
        for id in &theirs.removed {
            if !self.removed.contains(id) {
                self.removed.push(id.clone());
            }
        }
        for relay in &theirs.relays {
            if !self.removed.contains(&relay.id) && !self.relays.iter().any(|r| r.id == relay.id) {
                let added_by = if relay.added_by == "me" { "partner" } else { "me" }.to_owned();
                self.relays.push(RelayEntry { added_by, ..relay.clone() });
            }
        }
        self.relays.retain(|r| !self.removed.contains(&r.id));
        *self != before
    }

    /// What this phone tells the partner's: the relays as the partner's phone will file
    /// them ("me" is who added it, seen from here).
    pub fn note(&self) -> Known {
        self.clone()
    }
}

/// What a phone speaks to relays with: its pairing's secret for the days, and its side.
pub fn couple_secret(store: &Store) -> Result<(DailySecret, Role), NetError> {
    let partner = peers::partner(store)?.filter(|p| p.confirmed).ok_or_else(|| {
        NetError::Start(
            "pair with your partner first (and check the words on both phones): a relay serves a couple".into(),
        )
    })?;
    match (&partner.network, partner.role) {
        (Some(network), Some(role)) => Ok((DailySecret::of(network), role)),
        _ => Err(NetError::Start("this pairing is from an earlier Steady: pair again to use a home relay".into())),
    }
}

/// Files a relay this phone just added (`join`): in the journal, in the courier's
/// profile, and in a note for the partner's phone.
pub fn record_added(store: &mut Store, entry: &RelayEntry) -> Result<(), peers::PeersError> {
    let mut known = Known::read(store)?;
    known.removed.retain(|id| *id != entry.id);
    known.relays.retain(|r| r.id != entry.id);
    known.relays.push(entry.clone());
    known.write(store)?;
    super::courier::keep_profile(store)?;
    letters::post_note(store, &known)
}

/// Removes relay `id` from the couple's (either partner may remove any), and tells the
/// partner's phone in a note. Returns it, for [`forget`] to tell the relay.
pub fn record_removed(store: &mut Store, id: &str) -> Result<RelayEntry, NetError> {
    let mut known = Known::read(store)?;
    let Some(at) = known.relays.iter().position(|r| r.id == id) else {
        return Err(NetError::Start(format!("no home relay {id}: `steady status` lists the couple's relays")));
    };
    let gone = known.relays.remove(at);
    known.removed.push(gone.id.clone());
    known.write(store)?;
    super::courier::keep_profile(store)?;
    letters::post_note(store, &known)?;
    Ok(gone)
}

// ----- The relay's side -----

/// The couples a relay serves, and its invites, kept in its folder.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Couples {
    /// Each couple: its two phones' relay ids.
    couples: Vec<[String; 2]>,
    /// Invite secrets (hex of their hash) and when each ends.
    invites: BTreeMap<String, DateTime<Utc>>,
}

/// What a relay keeps on disk: its key, the couples, and the letters, one folder per
/// phone they are for.
pub struct Shelf {
    dir: PathBuf,
}

/// Why a relay refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RelayRefusal {
    #[error("this relay does not serve this phone")]
    Stranger,
    #[error("the code is not this relay's, or it has expired (a code is good for 10 minutes)")]
    BadCode,
    #[error("the relay already holds {held} bytes for that phone, and takes at most {cap}; it must fetch first")]
    Full { held: u64, cap: u64 },
    #[error("{0}")]
    Bad(String),
}

impl Shelf {
    pub fn at(dir: &Path) -> Result<Shelf, NetError> {
        let shelf = Shelf { dir: dir.to_path_buf() };
        crate::vault::make_private_dir(dir).map_err(|e| NetError::Start(e.to_string()))?;
        Ok(shelf)
    }

    /// The relay's own key, made on its first start.
    pub fn key(&self) -> Result<Keypair, NetError> {
        let path = self.dir.join("relay.key");
        if let Ok(bytes) = fs::read(&path) {
            return Keypair::from_protobuf_encoding(&bytes)
                .map_err(|_| NetError::Start(format!("{} is damaged", path.display())));
        }
        let key = Keypair::generate_ed25519();
        let bytes = key.to_protobuf_encoding().map_err(|e| NetError::Start(e.to_string()))?;
        crate::vault::write_private_file(&path, &bytes).map_err(|e| NetError::Start(e.to_string()))?;
        Ok(key)
    }

    /// The port it listened on last time, so the phones find it again after a restart.
    fn port(&self) -> Option<u16> {
        fs::read_to_string(self.dir.join("port")).ok()?.trim().parse().ok()
    }

    fn keep_port(&self, port: u16) {
        if self.port() != Some(port) {
            let _ = crate::vault::write_private_file(&self.dir.join("port"), port.to_string().as_bytes());
        }
    }

    fn couples(&self) -> Couples {
        fs::read(self.dir.join("couples.json")).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
    }

    fn save(&self, couples: &Couples) -> Result<(), RelayRefusal> {
        let bytes = serde_json::to_vec(couples).map_err(|e| RelayRefusal::Bad(e.to_string()))?;
        crate::vault::write_private_file(&self.dir.join("couples.json"), &bytes)
            .map_err(|e| RelayRefusal::Bad(e.to_string()))
    }

    /// A new invite: its code's secret, good until `until`.
    pub fn invite(&self, until: DateTime<Utc>) -> Result<String, RelayRefusal> {
        let mut secret = [0u8; 16];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut secret);
        let mut couples = self.couples();
        couples.invites.insert(hex::encode(Sha256::digest(secret)), until);
        self.save(&couples)?;
        Ok(hex::encode(secret))
    }

    /// A phone with a good code adds its couple.
    pub fn join(&self, secret: &str, phones: [String; 2], now: DateTime<Utc>) -> Result<(), RelayRefusal> {
        let mut couples = self.couples();
        couples.invites.retain(|_, until| *until > now);
        let bytes = hex::decode(secret).map_err(|_| RelayRefusal::BadCode)?;
        let hash = hex::encode(Sha256::digest(bytes));
        if couples.invites.remove(&hash).is_none() {
            self.save(&couples)?;
            return Err(RelayRefusal::BadCode);
        }
        if phones[0] == phones[1] || phones.iter().any(|p| p.parse::<PeerId>().is_err()) {
            return Err(RelayRefusal::Bad("the phones named are not two phones".into()));
        }
        // Either phone in another couple here leaves it: one couple a phone.
        couples.couples.retain(|c| !c.iter().any(|p| phones.contains(p)));
        couples.couples.push(phones);
        self.save(&couples)
    }

    /// The other phone of `phone`'s couple, if this relay serves it.
    fn partner_of(&self, phone: &str) -> Option<String> {
        self.couples().couples.into_iter().find_map(|[a, b]| {
            if a == phone {
                Some(b)
            } else if b == phone {
                Some(a)
            } else {
                None
            }
        })
    }

    fn folder(&self, phone: &str) -> PathBuf {
        self.dir.join("letters").join(phone)
    }

    /// Keeps a letter from `from` for the other phone of its couple.
    pub fn deposit(&self, from: &str, letter: &[u8], now: DateTime<Utc>) -> Result<bool, RelayRefusal> {
        let to = self.partner_of(from).ok_or(RelayRefusal::Stranger)?;
        letters::not_before(letter).map_err(|e| RelayRefusal::Bad(e.to_string()))?;
        self.expire(now);
        let folder = self.folder(&to);
        fs::create_dir_all(&folder).map_err(|e| RelayRefusal::Bad(e.to_string()))?;
        let path = folder.join(format!("{}.letter", hex::encode(Sha256::digest(letter))));
        if path.exists() {
            return Ok(false);
        }
        let held = self.held(&to);
        if held + letter.len() as u64 > CAP_PER_PHONE {
            return Err(RelayRefusal::Full { held, cap: CAP_PER_PHONE });
        }
        // The time it arrived is what expiry counts from.
        let stamped = StampedLetter { at: now, bytes: letter };
        Mailbox::write_whole(&path, &stamped.encode()).map_err(|e| RelayRefusal::Bad(e.to_string()))?;
        Ok(true)
    }

    /// The letters waiting for `phone`, each with its file.
    pub fn waiting(&self, phone: &str, now: DateTime<Utc>) -> Result<Vec<(PathBuf, Vec<u8>)>, RelayRefusal> {
        self.partner_of(phone).ok_or(RelayRefusal::Stranger)?;
        self.expire(now);
        let mut out = Vec::new();
        for entry in fs::read_dir(self.folder(phone)).into_iter().flatten().flatten() {
            if let Ok(bytes) = fs::read(entry.path())
                && let Some((_, letter)) = StampedLetter::decode(&bytes)
            {
                out.push((entry.path(), letter.to_vec()));
            }
        }
        Ok(out)
    }

    /// Forgets `phone`'s couple and every letter for either phone.
    pub fn forget(&self, phone: &str) -> Result<(), RelayRefusal> {
        let partner = self.partner_of(phone).ok_or(RelayRefusal::Stranger)?;
        for p in [phone, partner.as_str()] {
            let _ = fs::remove_dir_all(self.folder(p));
        }
        let mut couples = self.couples();
        couples.couples.retain(|c| !c.iter().any(|p| p == phone));
        self.save(&couples)
    }

    /// Bytes held for `phone`.
    fn held(&self, phone: &str) -> u64 {
        fs::read_dir(self.folder(phone))
            .map(|d| d.flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum())
            .unwrap_or(0)
    }

    /// Removes letters kept longer than [`KEEP_FOR`]. Returns how many went.
    pub fn expire(&self, now: DateTime<Utc>) -> usize {
        let mut gone = 0;
        let oldest = now - chrono::Duration::from_std(KEEP_FOR).unwrap_or_default();
        for folder in fs::read_dir(self.dir.join("letters")).into_iter().flatten().flatten() {
            for entry in fs::read_dir(folder.path()).into_iter().flatten().flatten() {
                let at = fs::read(entry.path()).ok().and_then(|b| StampedLetter::decode(&b).map(|(at, _)| at));
                if at.is_none_or(|at| at < oldest) && fs::remove_file(entry.path()).is_ok() {
                    gone += 1;
                }
            }
        }
        gone
    }
}

/// A letter as a relay keeps it: when it arrived, then the letter.
struct StampedLetter<'a> {
    at: DateTime<Utc>,
    bytes: &'a [u8],
}

impl StampedLetter<'_> {
    fn encode(&self) -> Vec<u8> {
        let mut out = self.at.timestamp().to_be_bytes().to_vec();
        out.extend(self.bytes);
        out
    }

    fn decode(bytes: &[u8]) -> Option<(DateTime<Utc>, &[u8])> {
        let at = i64::from_be_bytes(bytes.get(..8)?.try_into().ok()?);
        Some((DateTime::from_timestamp(at, 0)?, &bytes[8..]))
    }
}

// ----- The wire -----

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case")]
enum Request {
    /// Adds a couple, with an invite's secret: both phones' relay ids.
    Join { secret: String, phones: [String; 2] },
    /// Letters follow, each a length and its bytes, then a length of zero.
    Deposit,
    /// Letters for the asking phone, please.
    Fetch,
    /// The couple leaves the relay: everything of theirs is deleted.
    Forget,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
enum Answer {
    Ok,
    Refused { reason: String },
}

async fn read_json<T: for<'de> Deserialize<'de>>(stream: &mut Stream) -> std::io::Result<T> {
    wire::read_json(stream, MAX_REQUEST).await
}

/// Serves one stream from `peer`.
async fn answer(
    shelf: &Shelf,
    peer: PeerId,
    mut stream: Stream,
    events: &broadcast::Sender<NetEvent>,
) -> std::io::Result<()> {
    let phone = peer.to_base58();
    let request: Request =
        tokio::time::timeout(STEP, read_json(&mut stream)).await.map_err(std::io::Error::other)??;
    let refused = |e: RelayRefusal| Answer::Refused { reason: e.to_string() };
    match request {
        Request::Join { secret, phones } => {
            let result = if phones.contains(&phone) {
                shelf.join(&secret, phones, Utc::now())
            } else {
                Err(RelayRefusal::Bad("a phone may add only its own couple".into()))
            };
            send_json(&mut stream, &result.map_or_else(refused, |()| Answer::Ok)).await?;
        }
        Request::Forget => {
            let result = shelf.forget(&phone);
            send_json(&mut stream, &result.map_or_else(refused, |()| Answer::Ok)).await?;
        }
        Request::Deposit => {
            if shelf.partner_of(&phone).is_none() {
                return send_json(&mut stream, &refused(RelayRefusal::Stranger)).await;
            }
            send_json(&mut stream, &Answer::Ok).await?;
            loop {
                let letter = tokio::time::timeout(STEP, read_frame(&mut stream, MAX_LETTER))
                    .await
                    .map_err(std::io::Error::other)??;
                if letter.is_empty() {
                    return Ok(());
                }
                let result = shelf.deposit(&phone, &letter, Utc::now());
                if let Ok(true) = result {
                    let _ = events.send(NetEvent::LetterStored { bytes: letter.len() });
                }
                send_json(&mut stream, &result.map_or_else(refused, |_| Answer::Ok)).await?;
            }
        }
        Request::Fetch => {
            let waiting = match shelf.waiting(&phone, Utc::now()) {
                Ok(waiting) => waiting,
                Err(e) => return send_json(&mut stream, &refused(e)).await,
            };
            send_json(&mut stream, &Answer::Ok).await?;
            for (path, letter) in waiting {
                write_frame(&mut stream, &letter).await?;
                let kept: Answer =
                    tokio::time::timeout(STEP, read_json(&mut stream)).await.map_err(std::io::Error::other)??;
                if matches!(kept, Answer::Ok) {
                    let _ = fs::remove_file(&path);
                    let _ = events.send(NetEvent::LetterFetched { bytes: letter.len() });
                }
            }
            write_frame(&mut stream, &[]).await?;
        }
    }
    Ok(())
}

/// The code a phone adds this relay with: its id, the invite's secret and where it
/// listens.
pub fn code(relay: PeerId, secret: &str, listening: &[Multiaddr]) -> String {
    wire::code("steady-relay", relay, secret, listening)
}

/// A relay's code, read: its id, the secret, its addresses.
pub fn parse_code(code: &str) -> Result<(PeerId, String, Vec<Multiaddr>), NetError> {
    wire::parse_code("steady-relay", "a relay's code", code)
}

/// Runs the relay until `limit` has passed (or forever). `invite`: prints a code first.
pub async fn serve(
    dir: &Path,
    config: NetConfig,
    limit: Option<Duration>,
    invite: bool,
    events: broadcast::Sender<NetEvent>,
    codes: tokio::sync::mpsc::UnboundedSender<String>,
) -> Result<(), NetError> {
    let shelf = Shelf::at(dir)?;
    let key = shelf.key()?;
    let me = key.public().to_peer_id();
    let config = NetConfig { discovery: false, ..config };
    let mut swarm = swarm::build(key, &config, &Door::Open, None, None)?;
    // The port of last time, where the phones remember the relay; any, the first time.
    let listen = match (&config.listen[..], shelf.port()) {
        ([], Some(port)) => vec![addresses::all_interfaces(port)],
        ([], None) => vec![addresses::all_interfaces(0)],
        (given, _) => given.to_vec(),
    };
    for address in &listen {
        swarm.listen_on(address.clone()).map_err(|e| NetError::Start(format!("can't listen on {address}: {e}")))?;
    }
    let mut incoming =
        swarm.behaviour().stream.new_control().accept(RELAY_PROTOCOL).map_err(|e| NetError::Start(e.to_string()))?;
    let ends = limit.map(|l| tokio::time::Instant::now() + l);
    let shelf = std::sync::Arc::new(shelf);
    let mut invite = invite;
    let mut listening: Vec<Multiaddr> = Vec::new();
    // The code names every address the relay listens on, once they are known (they
    // come one by one, a moment apart).
    let mut invite_at: Option<tokio::time::Instant> = None;
    let mut tidy = tokio::time::interval(Duration::from_secs(60 * 60));
    loop {
        tokio::select! {
            event = swarm.select_next_some() => if let SwarmEvent::NewListenAddr { address, .. } = event {
                let _ = events.send(NetEvent::Listening { address: address.to_string() });
                if let Some(port) = addresses::tcp_port(&address) {
                    shelf.keep_port(port);
                }
                listening.push(address);
                if invite && invite_at.is_none() {
                    invite_at = Some(tokio::time::Instant::now() + Duration::from_millis(300));
                }
            },
            _ = async { match invite_at { Some(at) => tokio::time::sleep_until(at).await, None => std::future::pending().await } } => {
                (invite_at, invite) = (None, false);
                let secret = shelf.invite(Utc::now() + chrono::Duration::from_std(INVITE_FOR).unwrap_or_default())
                    .map_err(|e| NetError::Start(e.to_string()))?;
                // Loopback only helps a phone on this same computer: named only if alone.
                let outside: Vec<Multiaddr> = listening.iter().filter(|a| !addresses::is_loopback(a)).cloned().collect();
                let _ = codes.send(code(me, &secret, if outside.is_empty() { &listening } else { &outside }));
            }
            Some((peer, stream)) = incoming.next() => {
                let (shelf, events) = (shelf.clone(), events.clone());
                tokio::spawn(async move {
                    if let Err(e) = answer(&shelf, peer, stream, &events).await {
                        tracing::debug!("a relay exchange ended: {e}");
                    }
                });
            }
            _ = tidy.tick() => {
                shelf.expire(Utc::now());
            }
            _ = async { match ends { Some(at) => tokio::time::sleep_until(at).await, None => std::future::pending().await } } => {
                let _ = events.send(NetEvent::CourierEnded { reason: "its time was up".to_owned() });
                return Ok(());
            }
        }
    }
}

// ----- The phones' side -----

/// Runs `work` on a stream to the relay, driving its connection meanwhile.
async fn with_relay<T>(
    key: Keypair,
    relay: &RelayEntry,
    work: impl AsyncFnOnce(&mut Stream) -> Result<T, NetError>,
) -> Result<T, NetError> {
    let peer: PeerId = relay.id.parse().map_err(|_| NetError::Start("the relay's id is damaged".into()))?;
    let at: Vec<Multiaddr> = relay.addresses.iter().filter_map(|a| a.parse().ok()).collect();
    let (mut swarm, mut stream) = wire::connect(key, peer, &at, RELAY_PROTOCOL, STEP, "the relay").await?;
    let result = {
        let done = work(&mut stream);
        tokio::pin!(done);
        loop {
            tokio::select! {
                result = &mut done => break result,
                _ = swarm.select_next_some() => {}
            }
        }
    };
    drop(stream);
    result
}

fn io(e: std::io::Error) -> NetError {
    NetError::Start(format!("the relay: {e}"))
}

fn said(answer: Answer) -> Result<(), NetError> {
    match answer {
        Answer::Ok => Ok(()),
        Answer::Refused { reason } => Err(NetError::Start(format!("the relay refused: {reason}"))),
    }
}

/// Adds this phone's couple to the relay of `code`.
pub async fn join(
    secret: &DailySecret,
    role: Role,
    code: &str,
    extra: Option<Multiaddr>,
) -> Result<RelayEntry, NetError> {
    let (relay, invite, mut at) = parse_code(code)?;
    if let Some(extra) = extra {
        at.insert(0, extra);
    }
    let mine = relay_key(secret, role)?;
    let phones =
        [mine.public().to_peer_id().to_base58(), relay_key(secret, role.other())?.public().to_peer_id().to_base58()];
    let entry = RelayEntry {
        id: relay.to_base58(),
        addresses: at.iter().map(|a| a.to_string()).collect(),
        added_by: "me".into(),
        added_at: Utc::now(),
    };
    with_relay(mine, &entry, async |stream| {
        send_json(stream, &Request::Join { secret: invite, phones }).await.map_err(io)?;
        said(read_json(stream).await.map_err(io)?)
    })
    .await?;
    Ok(entry)
}

/// Tells the relay to forget this couple and everything it holds of it; `mine` is this
/// phone's relay key.
pub async fn forget(mine: Keypair, relay: &RelayEntry) -> Result<(), NetError> {
    with_relay(mine, relay, async |stream| {
        send_json(stream, &Request::Forget).await.map_err(io)?;
        said(read_json(stream).await.map_err(io)?)
    })
    .await
}

/// Tells every relay in `profile` to forget the couple, each given a few seconds, and
/// says in words what became of each. For unpairing, which waits for no partner: a
/// relay that can't be reached deletes what it holds within 30 days anyway.
pub fn forget_all(profile: &super::courier::Profile) -> Vec<String> {
    let Ok(mine) = profile.relay_key() else { return Vec::new() };
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return Vec::new() };
    runtime.block_on(async {
        let mut said = Vec::new();
        for relay in &profile.relays {
            let asked = tokio::time::timeout(Duration::from_secs(5), forget(mine.clone(), relay)).await;
            said.push(match asked {
                Ok(Ok(())) => format!("The home relay {} holds nothing of yours now.", relay.id),
                _ => format!(
                    "The home relay {} could not be reached: it deletes what it holds for you within 30 days.",
                    relay.id
                ),
            });
        }
        said
    })
}

/// One round with a relay: this phone's letters that are ready go to it, and the
/// letters it holds for this phone come back, kept sealed. Says how many of each.
pub async fn exchange(
    mine: &Keypair,
    relay: &RelayEntry,
    mailbox: &Mailbox,
    events: &broadcast::Sender<NetEvent>,
) -> Result<(usize, usize), NetError> {
    let deposited = with_relay(mine.clone(), relay, async |stream| {
        send_json(stream, &Request::Deposit).await.map_err(io)?;
        said(read_json(stream).await.map_err(io)?)?;
        let mut sent = 0;
        for letter in letters::take_ready_for(mailbox) {
            let step = async {
                write_frame(stream, &letter.bytes).await?;
                read_json::<Answer>(stream).await
            };
            match tokio::time::timeout(STEP, step).await {
                Ok(Ok(Answer::Ok)) => {
                    letters::mark_sent(mailbox, &letter);
                    let _ = events.send(NetEvent::LetterSent { bytes: letter.bytes.len() });
                    sent += 1;
                }
                Ok(Ok(Answer::Refused { reason })) => {
                    letters::give_back(mailbox, std::slice::from_ref(&letter));
                    tracing::warn!("the relay refused a letter: {reason}");
                }
                _ => {
                    letters::give_back(mailbox, std::slice::from_ref(&letter));
                    return Err(NetError::Start("the relay stopped answering".into()));
                }
            }
        }
        write_frame(stream, &[]).await.map_err(io)?;
        Ok(sent)
    })
    .await?;
    let fetched = with_relay(mine.clone(), relay, async |stream| {
        send_json(stream, &Request::Fetch).await.map_err(io)?;
        said(read_json(stream).await.map_err(io)?)?;
        let mut new = 0;
        loop {
            let letter = read_frame(stream, MAX_LETTER).await.map_err(io)?;
            if letter.is_empty() {
                return Ok(new);
            }
            let kept = letters::keep_incoming(mailbox, &letter);
            let answer = match &kept {
                Ok(_) => Answer::Ok,
                Err(e) => Answer::Refused { reason: e.to_string() },
            };
            send_json(stream, &answer).await.map_err(io)?;
            if let Ok(true) = kept {
                new += 1;
                let _ = events.send(NetEvent::LetterReceived { bytes: letter.len() });
            }
        }
    })
    .await?;
    Ok((deposited, fetched))
}

/// How often a phone with relays asks them for letters while nothing else says to.
pub const ASK_EVERY: Duration = Duration::from_secs(5 * 60);

/// Keeps in touch with the couple's relays, as the courier's profile lists them, for as
/// long as it runs: a round at once, when `changed` says letters were made (or when the
/// next one's undo ends), and every [`ASK_EVERY`]. `fetched` runs after letters came.
pub async fn keep_in_touch<F, Fut>(
    data_dir: PathBuf,
    mailbox: Mailbox,
    changed: std::sync::Arc<tokio::sync::Notify>,
    events: broadcast::Sender<NetEvent>,
    fetched: F,
) where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    loop {
        if let Ok(profile) = super::courier::read_profile(&data_dir)
            && !profile.relays.is_empty()
            && !profile.paused
            && let Ok(mine) = profile.relay_key()
            && round(&mine, &profile.relays, &mailbox, &events).await > 0
        {
            fetched().await;
        }
        let wait = letters::next_due(&mailbox)
            .map_or(ASK_EVERY, |at| (at - Utc::now()).to_std().unwrap_or_default().min(ASK_EVERY));
        tokio::select! {
            _ = tokio::time::sleep(wait.max(Duration::from_millis(200))) => {}
            _ = changed.notified() => {}
        }
    }
}

/// The relays the courier's profile lists, tried one after another: letters out, and
/// in. A relay that can't be reached is tried at the next round.
pub async fn round(
    mine: &Keypair,
    relays: &[RelayEntry],
    mailbox: &Mailbox,
    events: &broadcast::Sender<NetEvent>,
) -> usize {
    let mut fetched = 0;
    for relay in relays {
        match exchange(mine, relay, mailbox, events).await {
            Ok((_, new)) => fetched += new,
            Err(e) => tracing::debug!("relay {}: {e}", relay.id),
        }
    }
    fetched
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phones() -> [String; 2] {
        [PeerId::random().to_base58(), PeerId::random().to_base58()]
    }

    fn letter(fill: u8, len: usize) -> Vec<u8> {
        let network = crate::net::pairing::CoupleNetwork::from_bytes([3; 32]);
        let keys = letters::LetterKeys::new(&network, Role::Inviter);
        keys.seal(&crate::store::Outgoing { changes: &[vec![fill; len]], not_before: Utc::now() })
    }

    /// Test 4 of delivery while apart, on the relay's own clock: a letter left 30 days
    /// is gone, one left 29 is not; past the cap a deposit is refused in words, and what
    /// is held stays.
    #[test]
    fn a_relay_keeps_letters_thirty_days_and_refuses_past_its_cap_in_words() {
        let dir = tempfile::tempdir().unwrap();
        let shelf = Shelf::at(dir.path()).unwrap();
        let now = Utc::now();
        let secret = shelf.invite(now + chrono::Duration::minutes(10)).unwrap();
        let [a, b] = phones();
        shelf.join(&secret, [a.clone(), b.clone()], now).unwrap();
        let first = letter(1, 100);
        assert_eq!(shelf.deposit(&a, &first, now), Ok(true));
        assert_eq!(shelf.deposit(&a, &first, now), Ok(false), "a duplicate is kept once");
        assert_eq!(shelf.deposit(&a, &letter(2, 100), now + chrono::Duration::days(2)), Ok(true));
        assert_eq!(shelf.waiting(&b, now + chrono::Duration::days(29)).unwrap().len(), 2);
        assert_eq!(shelf.waiting(&b, now + chrono::Duration::days(31)).unwrap().len(), 1, "the first is gone");
        assert_eq!(shelf.waiting(&b, now + chrono::Duration::days(33)).unwrap().len(), 0);

        let big = letter(3, MAX_LETTER - 200);
        assert_eq!(shelf.deposit(&a, &big, now), Ok(true));
        assert_eq!(shelf.deposit(&a, &letter(4, MAX_LETTER - 200), now), Ok(true));
        let refused = shelf.deposit(&a, &letter(5, MAX_LETTER - 200), now).unwrap_err();
        assert!(matches!(refused, RelayRefusal::Full { .. }), "{refused}");
        assert!(refused.to_string().contains("must fetch first"), "{refused}");
        assert_eq!(shelf.waiting(&b, now).unwrap().len(), 2, "what was held stays");
        assert_eq!(shelf.waiting(&a, now).unwrap().len(), 0, "nothing for the sender");
    }

    /// Only a good code adds a couple, once, within its 10 minutes; a stranger gets
    /// nothing and can leave nothing; forgetting the couple leaves nothing of it.
    #[test]
    fn a_relay_serves_only_the_couples_added_with_its_code() {
        let dir = tempfile::tempdir().unwrap();
        let shelf = Shelf::at(dir.path()).unwrap();
        let now = Utc::now();
        let secret = shelf.invite(now + chrono::Duration::minutes(10)).unwrap();
        let [a, b] = phones();
        let stranger = PeerId::random().to_base58();
        assert_eq!(
            shelf.join("00112233445566778899aabbccddeeff", [a.clone(), b.clone()], now),
            Err(RelayRefusal::BadCode)
        );
        assert_eq!(
            shelf.join(&secret, [a.clone(), b.clone()], now + chrono::Duration::minutes(11)),
            Err(RelayRefusal::BadCode)
        );
        let secret = shelf.invite(now + chrono::Duration::minutes(10)).unwrap();
        shelf.join(&secret, [a.clone(), b.clone()], now).unwrap();
        assert_eq!(shelf.join(&secret, [stranger.clone(), b.clone()], now), Err(RelayRefusal::BadCode), "used once");
        assert_eq!(shelf.deposit(&stranger, &letter(1, 10), now), Err(RelayRefusal::Stranger));
        assert_eq!(shelf.waiting(&stranger, now).unwrap_err(), RelayRefusal::Stranger);
        assert!(matches!(shelf.deposit(&a, b"junk", now), Err(RelayRefusal::Bad(_))));
        shelf.deposit(&b, &letter(1, 10), now).unwrap();
        shelf.forget(&b).unwrap();
        assert_eq!(shelf.waiting(&a, now).unwrap_err(), RelayRefusal::Stranger);
        assert!(!dir.path().join("letters").join(&a).exists());
    }

    /// What the partner's phone says of the relays is filed as theirs; one removed on
    /// either phone stays removed.
    #[test]
    fn relays_are_shared_with_the_partner_and_a_removal_sticks() {
        let relay = |id: &str, by: &str| RelayEntry {
            id: id.into(),
            addresses: vec![],
            added_by: by.into(),
            added_at: Utc::now(),
        };
        let mut mine = Known { relays: vec![relay("R1", "me")], removed: vec![] };
        let theirs = Known { relays: vec![relay("R2", "me")], removed: vec![] };
        assert!(mine.merge_from_partner(&theirs));
        assert_eq!(
            mine.relays.iter().map(|r| (r.id.as_str(), r.added_by.as_str())).collect::<Vec<_>>(),
            [("R1", "me"), ("R2", "partner")]
        );
        assert!(!mine.merge_from_partner(&theirs), "nothing new");
        let removed = Known { relays: vec![], removed: vec!["R1".into()] };
        assert!(mine.merge_from_partner(&removed));
        assert_eq!(mine.relays.len(), 1);
        assert!(
            !mine.merge_from_partner(&Known { relays: vec![relay("R1", "me")], removed: vec![] }),
            "it stays removed"
        );
    }
}
