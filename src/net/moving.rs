//! A move to a new phone, over the Wi-Fi: the one time private entries leave the phone,
//! with their author, to the author's next phone.
//!
//! ```text
//! new phone                                 old phone (shows `code: CODE`)
//!   Hello { proof of the code's secret, nonce_new }   ──►
//!                                           ◄──  Welcome { its proof, nonce_old }
//!   both show the same four words, from the secret and both nonces
//!   Answer { yes }                           ◄─►  Answer { yes }   (each person's)
//!                                           ◄──  Manifest { files: path, size, sha256; data key }
//!                                           ◄──  each file, in frames
//!   files checked, journal opened, set in place
//!   Arrived { digest of the manifest }       ──►
//!                                           ◄──  Erased (the old phone erased its copy)
//! ```
//!
//! - **Who may join.** The code names the old phone's identity for this move (a random
//!   key, used once) and a one-time secret of 128 bits. libp2p's Noise handshake proves
//!   the old phone to the new one; the new phone proves the secret inside it. The old
//!   phone takes one new phone at a time, for 10 minutes.
//! - **The words** let the person see that the two screens are in the same move, before
//!   either says yes. Nothing moves before both have.
//! - **Nothing half-done.** The new phone writes what arrives into a folder beside its
//!   own, checks every file's hash, sets the data key under its own passcode, opens the
//!   journal, and only then puts the folder in place and says `Arrived`. The old phone
//!   erases its copy only on an `Arrived` whose digest is its own manifest's; if the move
//!   breaks off anywhere before, it keeps everything.
//!
//! This file holds the conversation ([`send_out`], [`move_in`]) and a whole move for the
//! command line and the window ([`move_journal_out`], [`move_journal_in`]); what is
//! gathered, set in place and erased is `store::moved`'s. Depends on `net::wire`,
//! `net::node::swarm`, `net::pairing` (the words), `store::moved`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;
use hmac::{Hmac, Mac};
use libp2p::identity::Keypair;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Stream, StreamProtocol};
use rand_core::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::error::NetError;
use super::link::Door;
use super::node::swarm;
use super::wire::{self, read_frame, send_json, write_frame};
use super::{NetConfig, addresses};
pub use crate::store::moved::Moved;
use crate::store::{Store, moved};
use crate::vault::DataKey;

pub const MOVE_PROTOCOL: StreamProtocol = StreamProtocol::new("/steady/move/1");

/// How long the old phone waits for the new one, and each for its person's answer.
pub const MOVE_FOR: Duration = Duration::from_secs(10 * 60);
/// How long one step of the conversation may take once both said yes.
const STEP: Duration = Duration::from_secs(60);
/// The largest step (its JSON): a manifest of many files.
const MAX_STEP: usize = 8 * 1024 * 1024;
/// The most files a move carries.
const MAX_FILES: usize = 100_000;
/// The most bytes a move carries, all files together.
pub const MAX_BYTES: u64 = 8 * 1024 * 1024 * 1024;
/// Files travel in frames of this many bytes at most.
const CHUNK: usize = 1024 * 1024;
const VERSION: u8 = 1;

/// What the old phone sends: its files (each read from `from` as it goes) and the data key.
pub struct Parcel {
    pub files: Vec<(Moved, PathBuf)>,
    pub key: DataKey,
}

/// What the person sees as a move goes, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MoveEvent {
    /// The old phone's code, for the new one.
    Code(String),
    /// Both phones show these words; the person compares them and answers on each.
    Words(String),
    /// Both said yes: this many files and bytes move now.
    Moving { files: usize, bytes: u64 },
    /// The new phone holds everything, checked.
    Arrived,
    /// The old phone erased its copy (said on both phones).
    Erased,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
enum Step {
    Hello { version: u8, proof: String, nonce: String },
    Welcome { proof: String, nonce: String },
    Answer { yes: bool },
    Manifest { files: Vec<Moved>, key: String },
    Arrived { digest: String },
    Erased,
    Refused { reason: String },
}

/// A move's secret and what both phones derive from it.
struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    fn from_hex(text: &str) -> Result<Secret, NetError> {
        let bytes = hex::decode(text).map_err(|_| NetError::Move("the move's code is damaged".into()))?;
        Ok(Secret(Zeroizing::new(bytes)))
    }

    fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(&self.0) else { return [0; 32] };
        for part in parts {
            mac.update(&(part.len() as u32).to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    fn hello(&self, new: &PeerId, nonce_new: &[u8]) -> [u8; 32] {
        self.mac(&[b"steady move hello", &new.to_bytes(), nonce_new])
    }

    fn welcome(&self, old: &PeerId, nonce_new: &[u8], nonce_old: &[u8]) -> [u8; 32] {
        self.mac(&[b"steady move welcome", &old.to_bytes(), nonce_new, nonce_old])
    }

    fn words(&self, nonce_new: &[u8], nonce_old: &[u8]) -> String {
        let tag = self.mac(&[b"steady move words", nonce_new, nonce_old]);
        super::pairing::words_of([tag[0], tag[1], tag[2], tag[3]]).join(" ")
    }
}

/// Compares two tags in constant time.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn nonce() -> [u8; 32] {
    let mut n = [0u8; 32];
    rand_core::OsRng.fill_bytes(&mut n);
    n
}

fn io(e: std::io::Error) -> NetError {
    NetError::Move(format!("the move broke off: {e}"))
}

async fn read_step(stream: &mut Stream, within: Duration) -> Result<Step, NetError> {
    tokio::time::timeout(within, wire::read_json(stream, MAX_STEP))
        .await
        .map_err(|_| NetError::Move("the other phone stopped answering".into()))?
        .map_err(io)
}

/// The digest both phones compare: the manifest's JSON, hashed.
fn digest(files: &[Moved], key: &str) -> Result<String, NetError> {
    let bytes =
        Zeroizing::new(serde_json::to_vec(&(files, key)).map_err(|e| NetError::Move(format!("the manifest: {e}")))?);
    Ok(hex::encode(Sha256::digest(&bytes[..])))
}

/// The person's answer, asked for every tenth of a second: `Some(true)` for yes.
pub type Ask<'a> = &'a mut dyn FnMut() -> Option<bool>;

/// Waits for this phone's person and the other phone's, in whichever order; both yes or
/// neither moves. Says no to the other phone when this person does.
async fn both_say_yes(stream: &mut Stream, ask: Ask<'_>) -> Result<(), NetError> {
    let until = tokio::time::Instant::now() + MOVE_FOR;
    let mut mine: Option<bool> = None;
    let mut theirs: Option<bool> = None;
    let mut look = tokio::time::interval(Duration::from_millis(100));
    // Read and written at once: the other phone's answer may come first.
    let (mut reader, mut writer) = futures::AsyncReadExt::split(&mut *stream);
    let answer = wire::read_json::<_, Step>(&mut reader, MAX_STEP);
    tokio::pin!(answer);
    while mine.is_none() || theirs.is_none() {
        tokio::select! {
            _ = look.tick(), if mine.is_none() => {
                if let Some(yes) = ask() {
                    mine = Some(yes);
                    send_json(&mut writer, &Step::Answer { yes }).await.map_err(io)?;
                    if !yes {
                        return Err(NetError::Move("the move was turned down here: nothing moved".into()));
                    }
                }
            }
            step = &mut answer, if theirs.is_none() => match step.map_err(io)? {
                Step::Answer { yes: true } => theirs = Some(true),
                Step::Answer { yes: false } => {
                    return Err(NetError::Move("the move was turned down on the other phone: nothing moved".into()));
                }
                _ => return Err(NetError::Move("the other phone broke the move's order".into())),
            },
            _ = tokio::time::sleep_until(until) => {
                return Err(NetError::Move("nobody answered within 10 minutes: nothing moved".into()));
            }
        }
    }
    Ok(())
}

/// The old phone's side: shows a code, waits up to 10 minutes for the new phone, shows
/// the words, and once both people said yes sends what `gather` returns. Calls `erase`
/// once the new phone says everything arrived as sent; keeps everything otherwise.
pub async fn send_out(
    config: &NetConfig,
    ask: Ask<'_>,
    gather: impl FnOnce() -> Result<Parcel, String>,
    erase: impl FnOnce() -> Result<(), String>,
    say: &mut dyn FnMut(MoveEvent),
) -> Result<(), NetError> {
    let key = Keypair::generate_ed25519();
    let me = key.public().to_peer_id();
    let secret_hex = hex::encode(&nonce()[..16]);
    let secret = Secret::from_hex(&secret_hex)?;
    let config = NetConfig { discovery: false, ..config.clone() };
    let mut swarm = swarm::build(key, &config, &Door::Open, None, None)?;
    let listen = if config.listen.is_empty() { vec![addresses::all_interfaces(0)] } else { config.listen.clone() };
    for address in &listen {
        swarm.listen_on(address.clone()).map_err(|e| NetError::Start(format!("can't listen on {address}: {e}")))?;
    }
    let mut incoming =
        swarm.behaviour().stream.new_control().accept(MOVE_PROTOCOL).map_err(|e| NetError::Start(e.to_string()))?;
    let until = tokio::time::Instant::now() + MOVE_FOR;
    let mut listening: Vec<Multiaddr> = Vec::new();
    let mut code_at: Option<tokio::time::Instant> = None;
    // The new phone, once it proved the code: its stream and both nonces.
    let (mut stream, nonce_new, nonce_old) = loop {
        tokio::select! {
            event = swarm.select_next_some() => if let SwarmEvent::NewListenAddr { address, .. } = event {
                listening.push(address);
                if code_at.is_none() {
                    // Every address, once they are known (they come a moment apart).
                    code_at = Some(tokio::time::Instant::now() + Duration::from_millis(300));
                }
            },
            _ = async { match code_at { Some(at) => tokio::time::sleep_until(at).await, None => std::future::pending().await } } => {
                code_at = Some(until + Duration::from_secs(1));
                let outside: Vec<Multiaddr> = listening.iter().filter(|a| !addresses::is_loopback(a)).cloned().collect();
                say(MoveEvent::Code(wire::code("steady-move", me, &secret_hex, if outside.is_empty() { &listening } else { &outside })));
            }
            Some((peer, mut stream)) = incoming.next() => {
                let hello = tokio::time::timeout(Duration::from_secs(20), wire::read_json::<_, Step>(&mut stream, 4096)).await;
                let Ok(Ok(Step::Hello { version, proof, nonce: theirs })) = hello else { continue };
                let nonce_new = hex::decode(&theirs).unwrap_or_default();
                let proof = hex::decode(&proof).unwrap_or_default();
                if version != VERSION || nonce_new.len() != 32 || !same(&proof, &secret.hello(&peer, &nonce_new)) {
                    let reason = "this is not the code this phone shows".to_owned();
                    let _ = send_json(&mut stream, &Step::Refused { reason }).await;
                    continue;
                }
                let nonce_old = nonce();
                let welcome = Step::Welcome {
                    proof: hex::encode(secret.welcome(&me, &nonce_new, &nonce_old)),
                    nonce: hex::encode(nonce_old),
                };
                if send_json(&mut stream, &welcome).await.is_err() {
                    continue;
                }
                break (stream, nonce_new, nonce_old);
            }
            _ = tokio::time::sleep_until(until) => {
                return Err(NetError::Move("no new phone joined within 10 minutes: nothing moved".into()));
            }
        }
    };
    // From here on one new phone: others are turned away while the swarm is driven.
    let conversation = async {
        say(MoveEvent::Words(secret.words(&nonce_new, &nonce_old)));
        both_say_yes(&mut stream, ask).await?;
        let parcel = gather().map_err(|e| NetError::Move(format!("this phone could not gather its journal: {e}")))?;
        let files: Vec<Moved> = parcel.files.iter().map(|(m, _)| m.clone()).collect();
        let key_hex = Zeroizing::new(hex::encode(parcel.key.bytes()));
        let expected = digest(&files, &key_hex)?;
        let bytes = files.iter().map(|f| f.size).sum();
        say(MoveEvent::Moving { files: files.len(), bytes });
        let manifest = Step::Manifest { files, key: key_hex.to_string() };
        send_json(&mut stream, &manifest).await.map_err(io)?;
        drop(manifest);
        for (moved, from) in &parcel.files {
            send_file(&mut stream, moved, from).await?;
        }
        match read_step(&mut stream, STEP * 5).await? {
            Step::Arrived { digest } if digest == expected => {}
            Step::Refused { reason } => {
                return Err(NetError::Move(format!("the new phone refused the move: {reason}")));
            }
            _ => {
                return Err(NetError::Move(
                    "the new phone did not confirm what it received: nothing was erased".into(),
                ));
            }
        }
        say(MoveEvent::Arrived);
        erase().map_err(|e| {
            NetError::Move(format!("everything arrived on the new phone, but erasing this copy failed: {e}"))
        })?;
        say(MoveEvent::Erased);
        // Said to the new phone, which closes the stream once it has read it.
        if send_json(&mut stream, &Step::Erased).await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(2), read_frame(&mut stream, 0)).await;
        }
        Ok(())
    };
    tokio::pin!(conversation);
    loop {
        tokio::select! {
            done = &mut conversation => return done,
            event = swarm.select_next_some() => drop(event),
            Some((_, mut other)) = incoming.next() => {
                let reason = "a move is already under way on this phone".to_owned();
                tokio::spawn(async move { let _ = send_json(&mut other, &Step::Refused { reason }).await; });
            }
        }
    }
}

/// Sends one file, read as it goes, in frames; its hash is checked against the manifest
/// on the way, so a file that changed since is caught here too.
async fn send_file(stream: &mut Stream, moved: &Moved, from: &Path) -> Result<(), NetError> {
    use std::io::Read;
    let mut file = std::fs::File::open(from).map_err(|e| NetError::Move(format!("{}: {e}", moved.path)))?;
    let mut hash = Sha256::new();
    let mut left = moved.size;
    let mut buffer = vec![0u8; CHUNK];
    while left > 0 {
        let n = left.min(CHUNK as u64) as usize;
        file.read_exact(&mut buffer[..n]).map_err(|e| NetError::Move(format!("{}: {e}", moved.path)))?;
        hash.update(&buffer[..n]);
        write_frame(stream, &buffer[..n]).await.map_err(io)?;
        left -= n as u64;
    }
    if hex::encode(hash.finalize()) != moved.sha256 {
        return Err(NetError::Move(format!("{} changed while it was sent: nothing was erased", moved.path)));
    }
    Ok(())
}

/// Whether a path from the other phone stays inside the folder: plain names of letters,
/// digits, `.`, `-` and `_`, none of them `.` or `..`.
fn safe_path(path: &str) -> bool {
    !path.is_empty()
        && path.split('/').all(|part| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
        })
}

/// A move's code, read: the old phone's identity for the move, the secret, its addresses.
pub fn parse_code(code: &str) -> Result<(PeerId, String, Vec<Multiaddr>), NetError> {
    wire::parse_code("steady-move", "the code of a move", code).map_err(in_words)
}

/// A connection's or a code's fault, said as the move's.
fn in_words(e: NetError) -> NetError {
    match e {
        NetError::Start(why) => NetError::Move(why),
        other => other,
    }
}

/// The new phone's side: joins the old phone of `code` (also at `extra`), shows the
/// words, and once both people said yes writes what arrives into `staging`, checking
/// every file. Then `land` sets it in place with the data key (and opens it to check);
/// only after that does the old phone hear that it may erase its copy. On any failure
/// `staging` is removed and nothing is kept.
pub async fn move_in<T>(
    code: &str,
    extra: Option<Multiaddr>,
    staging: &Path,
    ask: Ask<'_>,
    land: impl FnOnce(&Path, DataKey) -> Result<T, String>,
    say: &mut dyn FnMut(MoveEvent),
) -> Result<T, NetError> {
    let (old, secret_hex, mut at) = parse_code(code)?;
    at.extend(extra);
    let secret = Secret::from_hex(&secret_hex)?;
    let key = Keypair::generate_ed25519();
    let me = key.public().to_peer_id();
    let (mut swarm, mut stream) = wire::connect(key, old, &at, MOVE_PROTOCOL, Duration::from_secs(20), "the old phone")
        .await
        .map_err(in_words)?;
    let conversation = async {
        let nonce_new = nonce();
        let hello = Step::Hello {
            version: VERSION,
            proof: hex::encode(secret.hello(&me, &nonce_new)),
            nonce: hex::encode(nonce_new),
        };
        send_json(&mut stream, &hello).await.map_err(io)?;
        let (proof, nonce_old) = match read_step(&mut stream, Duration::from_secs(20)).await? {
            Step::Welcome { proof, nonce } => (proof, hex::decode(nonce).unwrap_or_default()),
            Step::Refused { reason } => return Err(NetError::Move(format!("the old phone refused: {reason}"))),
            _ => return Err(NetError::Move("the old phone broke the move's order".into())),
        };
        let proof = hex::decode(proof).unwrap_or_default();
        if nonce_old.len() != 32 || !same(&proof, &secret.welcome(&old, &nonce_new, &nonce_old)) {
            return Err(NetError::Move("the other phone does not hold this code's secret: nothing moved".into()));
        }
        say(MoveEvent::Words(secret.words(&nonce_new, &nonce_old)));
        both_say_yes(&mut stream, ask).await?;
        let (files, key_hex) = match read_step(&mut stream, STEP).await? {
            Step::Manifest { files, key } => (files, Zeroizing::new(key)),
            _ => return Err(NetError::Move("the old phone broke the move's order".into())),
        };
        let bad =
            |why: String| NetError::Move(format!("what arrived is not a whole journal ({why}): nothing was kept"));
        let total: u64 = files.iter().map(|f| f.size).fold(0u64, u64::saturating_add);
        if files.len() > MAX_FILES || total > MAX_BYTES {
            return Err(bad(format!("{} files, {total} bytes", files.len())));
        }
        if let Some(f) = files.iter().find(|f| !safe_path(&f.path)) {
            return Err(bad(format!("a file named {:?}", f.path)));
        }
        let key_bytes = Zeroizing::new(hex::decode(&key_hex[..]).map_err(|_| bad("its key".into()))?);
        let data_key = DataKey::from_slice(&key_bytes).ok_or_else(|| bad("its key".into()))?;
        let expected = digest(&files, &key_hex)?;
        say(MoveEvent::Moving { files: files.len(), bytes: total });
        for moved in &files {
            receive_file(&mut stream, moved, staging).await?;
        }
        let landed = land(staging, data_key)
            .map_err(|e| NetError::Move(format!("the journal that arrived did not open: {e}")))?;
        say(MoveEvent::Arrived);
        // In place: from here the old phone may erase its copy.
        if send_json(&mut stream, &Step::Arrived { digest: expected }).await.is_ok()
            && let Ok(Step::Erased) = read_step(&mut stream, STEP).await
        {
            say(MoveEvent::Erased);
        }
        Ok(landed)
    };
    tokio::pin!(conversation);
    let done = loop {
        tokio::select! {
            done = &mut conversation => break done,
            event = swarm.select_next_some() => drop(event),
        }
    };
    if done.is_err() {
        let _ = std::fs::remove_dir_all(staging);
    }
    done
}

/// Receives one file into `staging`, checking its size and hash.
async fn receive_file(stream: &mut Stream, moved: &Moved, staging: &Path) -> Result<(), NetError> {
    use std::io::Write;
    let to = moved.path.split('/').fold(staging.to_path_buf(), |p, part| p.join(part));
    if let Some(parent) = to.parent() {
        crate::vault::make_private_dir(parent).map_err(|e| NetError::Move(e.to_string()))?;
    }
    let mut file = crate::vault::write_new_file(&to).map_err(|e| NetError::Move(format!("{}: {e}", to.display())))?;
    let mut hash = Sha256::new();
    let mut left = moved.size;
    while left > 0 {
        let frame = tokio::time::timeout(STEP, read_frame(stream, CHUNK))
            .await
            .map_err(|_| NetError::Move("the old phone stopped sending".into()))?
            .map_err(io)?;
        if frame.is_empty() || frame.len() as u64 > left {
            return Err(NetError::Move(format!("{} arrived with the wrong size: nothing was kept", moved.path)));
        }
        hash.update(&frame);
        file.write_all(&frame).map_err(|e| NetError::Move(format!("{}: {e}", to.display())))?;
        left -= frame.len() as u64;
    }
    file.sync_all().map_err(|e| NetError::Move(format!("{}: {e}", to.display())))?;
    if hex::encode(hash.finalize()) != moved.sha256 {
        return Err(NetError::Move(format!("{} arrived changed: nothing was kept", moved.path)));
    }
    Ok(())
}

// ----- A whole move, for the command line and the window -----

/// The old phone's whole move of the journal in `dir`, opened with `key` on a connection
/// of the move's own: the folder gathered once both people said yes, sent, and erased once
/// the new phone has all of it. Whoever else has the journal open must have closed it.
pub async fn move_journal_out(
    dir: &Path,
    key: &DataKey,
    config: &NetConfig,
    ask: Ask<'_>,
    say: &mut dyn FnMut(MoveEvent),
) -> Result<(), NetError> {
    let store = Store::open_dir(dir, key).map_err(|e| NetError::Move(e.to_string()))?;
    let store = std::cell::RefCell::new(Some(store));
    let gather = || {
        let guard = store.borrow();
        let store = guard.as_ref().ok_or("the journal is closed")?;
        let stays = [super::courier::PROFILE_FILE, super::courier::SEALED_PROFILE_FILE];
        let files = moved::gather(store, dir, &stays).map_err(|e| e.to_string())?;
        Ok(Parcel { files, key: key.clone() })
    };
    let erase = || {
        let store = store.borrow_mut().take().ok_or("the journal is closed")?;
        moved::erase(store, dir)
    };
    let done = send_out(config, ask, gather, erase, say).await;
    let _ = std::fs::remove_file(dir.join(moved::SNAPSHOT_FILE));
    match done {
        Err(NetError::Move(why)) if store.borrow().is_some() => {
            Err(NetError::Move(format!("{why}. Everything is still on this phone")))
        }
        done => done,
    }
}

/// The folder beside `dir` that a move arrives in before it is put in place.
fn staging_for(dir: &Path) -> Result<PathBuf, NetError> {
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| NetError::Move(format!("{} has no name", dir.display())))?;
    Ok(dir.with_file_name(format!(".{name}.arriving")))
}

/// Whether `dir` may take a journal that moves in: missing, or empty but for a move's own
/// marker files.
pub fn may_move_into(dir: &Path) -> bool {
    let marker = |name: &str| name == moved::MOVE_WAITING || name == moved::MOVE_ANSWER;
    let holds_more = std::fs::read_dir(dir)
        .map(|d| d.flatten().any(|e| !e.file_name().to_str().is_some_and(marker)))
        .unwrap_or(false);
    !holds_more && crate::vault::Vault::at(dir).state().ok() == Some(crate::vault::LockState::New)
}

/// The new phone's whole move into `dir` ([`may_move_into`]): what arrives is written
/// beside it, checked, sealed under `passcode` (or kept without one), noted as moved for
/// the partner's phone, and put in place. Returns the data key and how many entries
/// arrived. On any failure nothing is kept, and `dir` is as it was.
pub async fn move_journal_in(
    dir: &Path,
    code: &str,
    extra: Option<Multiaddr>,
    passcode: Option<&str>,
    ask: Ask<'_>,
    say: &mut dyn FnMut(MoveEvent),
) -> Result<(DataKey, usize), NetError> {
    if !may_move_into(dir) {
        return Err(NetError::Move(format!(
            "{} already holds a journal or other files: a move arrives only in an empty data directory",
            dir.display()
        )));
    }
    let staging = staging_for(dir)?;
    let _ = std::fs::remove_dir_all(&staging);
    let land = |staging: &Path, key: DataKey| {
        for marker in [moved::MOVE_WAITING, moved::MOVE_ANSWER] {
            let _ = std::fs::remove_file(dir.join(marker));
        }
        // Before it is put in place: the partner's phone is to be told at the next
        // exchange, the courier's profile is this phone's own, and the entries are counted.
        let count = moved::land(staging, dir, &key, passcode, |store, listed| {
            store.note_moved(chrono::Utc::now()).map_err(|e| e.to_string())?;
            if let Err(e) = super::courier::keep_profile(store) {
                tracing::warn!("the courier's profile could not be written: {e}");
            }
            Ok(listed)
        })?;
        Ok((key, count))
    };
    let done = move_in(code, extra, &staging, ask, land, say).await;
    if done.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_paths_inside_the_folder_are_taken() {
        for good in ["steady.sqlite3", "letters/in/0a1b.letter", "letters/out/notes/ab_c-d.letter"] {
            assert!(safe_path(good), "{good}");
        }
        for bad in ["", "/etc/passwd", "../x", "a/../../b", "a//b", "./a", "a/.", "a b", "a\\b", "é"] {
            assert!(!safe_path(bad), "{bad}");
        }
    }

    #[test]
    fn both_phones_derive_the_same_words_and_a_wrong_secret_proves_nothing() {
        let secret = Secret::from_hex(&"ab".repeat(16)).unwrap();
        let other = Secret::from_hex(&"cd".repeat(16)).unwrap();
        let (a, b) = (nonce(), nonce());
        assert_eq!(secret.words(&a, &b), Secret::from_hex(&"ab".repeat(16)).unwrap().words(&a, &b));
        assert_eq!(secret.words(&a, &b).split(' ').count(), 4);
        assert_ne!(secret.words(&a, &b), secret.words(&b, &a), "the nonces' order counts");
        let peer = Keypair::generate_ed25519().public().to_peer_id();
        assert!(same(&secret.hello(&peer, &a), &secret.hello(&peer, &a)));
        assert!(!same(&secret.hello(&peer, &a), &other.hello(&peer, &a)));
        let stranger = Keypair::generate_ed25519().public().to_peer_id();
        assert!(!same(&secret.hello(&peer, &a), &secret.hello(&stranger, &a)), "the proof names the new phone");
    }

    #[test]
    fn a_moves_code_reads_back_and_a_relays_code_is_not_one() {
        let peer = Keypair::generate_ed25519().public().to_peer_id();
        let at: Multiaddr = "/ip4/192.168.1.20/tcp/4001".parse().unwrap();
        let code = wire::code("steady-move", peer, &"0f".repeat(16), std::slice::from_ref(&at));
        let (read, secret, addrs) = wire::parse_code("steady-move", "the code of a move", &code).unwrap();
        assert_eq!((read, secret, addrs), (peer, "0f".repeat(16), vec![at.clone()]));
        let relay = wire::code("steady-relay", peer, &"0f".repeat(16), &[at]);
        let refused = wire::parse_code("steady-move", "the code of a move", &relay).unwrap_err().to_string();
        assert!(refused.contains("not the code of a move"), "{refused}");
    }
}
