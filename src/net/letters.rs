//! Letters: what one phone has for the other, sealed so that only the two phones of the
//! couple can open it, carried while the two are apart ([design](../../docs/design/letters.md)).
//!
//! - **Sealing.** XChaCha20-Poly1305 under a key for each direction, derived from the
//!   couple secret with HKDF under its own salt. Only the two journals hold the couple
//!   secret (sealed with their data keys); the courier, the relay and the network see a
//!   header (a version and when the letter may leave) and sealed bytes. The seal also
//!   proves the letter came from the partner's phone, and that it was not changed.
//! - **Files.** The journal makes and settles letters (`store::letters`); here they are
//!   sealed, opened and moved: a letter received is kept sealed in `letters/in`, named
//!   by its hash (so a duplicate is one file), until the journal is open to read it.
//! - **The wire.** `/steady/letters/1`: the phone with letters ready opens a stream and
//!   sends each as a length and its bytes; the other answers one byte once the letter
//!   is on its disk; a length of zero ends the stream. Only then has a letter left.
//!
//! Depends on `store` (the mailbox, the journal's side), `net::peers` (the couple
//! secret), chacha20poly1305, hkdf.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use chrono::{DateTime, Utc};
use futures::{AsyncReadExt, AsyncWriteExt};
use hkdf::Hkdf;
use libp2p::{PeerId, Stream, StreamProtocol};
use sha2::{Digest, Sha256};
use tokio::sync::{Notify, broadcast};
use zeroize::Zeroizing;

use super::NetEvent;
use super::pairing::{CoupleNetwork, Role};
use super::peers::{self, Partner, PeersError};
use crate::model::EntryId;
use crate::store::letters::{Pieces, put_changes};
use crate::store::{Arrived, Mailbox, Outgoing, Store, StoreError};

pub const LETTERS_PROTOCOL: StreamProtocol = StreamProtocol::new("/steady/letters/1");

/// What a letter file starts with: the format's name and version.
const MAGIC: &[u8; 8] = b"STLETR01";
/// The header: the magic, and when the letter may leave (Unix seconds), in the clear for
/// the courier; the seal covers it.
const HEADER: usize = 16;
const NONCE: usize = 24;
/// The largest letter a phone takes: the partner's whole quota of the shared document.
pub const MAX_LETTER: usize = crate::store::PARTNER_QUOTA as usize;
/// The most bytes of letters kept waiting to be opened: a phone that is sent more (a
/// modified app) is refused the excess, in words, and its storage doesn't fill up.
pub const MAX_WAITING: u64 = 2 * crate::store::PARTNER_QUOTA;
/// How long one step of the exchange may take before the other phone is given up on.
const STEP: Duration = Duration::from_secs(20);

/// Why a letter was not taken.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LetterError {
    #[error("it is not a Steady letter")]
    NotALetter,
    #[error("it is {0} bytes, more than a letter may be ({MAX_LETTER})")]
    TooBig(usize),
    #[error("its seal does not open: it is not from your partner's phone, or it was changed on the way")]
    Seal,
    #[error("its contents are damaged")]
    Damaged,
    #[error("this phone already holds {0} bytes of letters waiting to be opened; more is refused")]
    Full(u64),
}

/// The keys of a pairing's letters, one for each direction.
pub struct LetterKeys {
    to_partner: Zeroizing<[u8; 32]>,
    from_partner: Zeroizing<[u8; 32]>,
}

impl LetterKeys {
    pub fn new(network: &CoupleNetwork, mine: Role) -> LetterKeys {
        let hk = Hkdf::<Sha256>::new(Some(b"steady letters v1"), network.as_bytes());
        let key = |from: Role| {
            let mut key = Zeroizing::new([0u8; 32]);
            let side: &[u8] = match from {
                Role::Inviter => b"from inviter",
                Role::Joiner => b"from joiner",
            };
            // 32 bytes, far below HKDF's limit, so this can't fail.
            let _ = hk.expand(side, &mut key[..]);
            key
        };
        LetterKeys { to_partner: key(mine), from_partner: key(mine.other()) }
    }

    /// The keys of this phone's pairing: none without one, or for a pairing made before
    /// phones had a couple secret.
    pub fn of(partner: &Partner) -> Option<LetterKeys> {
        Some(LetterKeys::new(partner.network.as_ref()?, partner.role?))
    }

    /// Seals a letter for the partner's phone.
    pub fn seal(&self, letter: &Outgoing) -> Vec<u8> {
        self.seal_with(letter, &[])
    }

    /// Seals a letter with a note beside its changes: what this phone tells the
    /// partner's of the couple's relays (`net::relay::Known`, as JSON).
    pub fn seal_with(&self, letter: &Outgoing, note: &[u8]) -> Vec<u8> {
        let mut plain = Zeroizing::new(Vec::new());
        put_changes(&mut plain, letter.changes);
        if !note.is_empty() {
            plain.extend((note.len() as u32).to_be_bytes());
            plain.extend(note);
        }
        let mut out = Vec::with_capacity(HEADER + NONCE + plain.len() + 16);
        out.extend(MAGIC);
        out.extend(letter.not_before.timestamp().to_be_bytes());
        let mut nonce = [0u8; NONCE];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut nonce);
        let cipher = XChaCha20Poly1305::new((&*self.to_partner).into());
        let payload = Payload { msg: &plain, aad: &out[..HEADER] };
        // Encrypting into memory can't fail.
        let sealed = cipher.encrypt(XNonce::from_slice(&nonce), payload).unwrap_or_default();
        out.extend(nonce);
        out.extend(sealed);
        out
    }

    /// Opens a letter from the partner's phone: its changes.
    pub fn open(&self, bytes: &[u8]) -> Result<Vec<Vec<u8>>, LetterError> {
        self.open_with_note(bytes).map(|(changes, _)| changes)
    }

    /// Opens a letter from the partner's phone: its changes, and its note (empty if
    /// none).
    pub fn open_with_note(&self, bytes: &[u8]) -> Result<(Vec<Vec<u8>>, Vec<u8>), LetterError> {
        not_before(bytes)?;
        if bytes.len() < HEADER + NONCE + 16 {
            return Err(LetterError::NotALetter);
        }
        let cipher = XChaCha20Poly1305::new((&*self.from_partner).into());
        let nonce = XNonce::from_slice(&bytes[HEADER..HEADER + NONCE]);
        let payload = Payload { msg: &bytes[HEADER + NONCE..], aad: &bytes[..HEADER] };
        let plain = Zeroizing::new(cipher.decrypt(nonce, payload).map_err(|_| LetterError::Seal)?);
        let mut pieces = Pieces::new(&plain);
        let changes = pieces.changes().ok_or(LetterError::Damaged)?;
        let note = if pieces.is_done() {
            Vec::new()
        } else {
            let len = pieces.count().ok_or(LetterError::Damaged)?;
            pieces.take(len).ok_or(LetterError::Damaged)?.to_vec()
        };
        Ok((changes, note))
    }
}

/// When a letter may leave, read from its header without opening it.
pub fn not_before(bytes: &[u8]) -> Result<DateTime<Utc>, LetterError> {
    if bytes.len() > MAX_LETTER {
        return Err(LetterError::TooBig(bytes.len()));
    }
    if bytes.len() < HEADER || &bytes[..8] != MAGIC {
        return Err(LetterError::NotALetter);
    }
    let secs = i64::from_be_bytes(bytes[8..16].try_into().map_err(|_| LetterError::NotALetter)?);
    DateTime::from_timestamp(secs, 0).ok_or(LetterError::NotALetter)
}

/// Makes the letter for what waits in the outbox, sealed for the partner's phone (see
/// [`Store::post_letter`]). Nothing without a pairing that has a couple secret.
pub fn post(store: &mut Store) -> Result<Option<String>, PeersError> {
    // Nothing waits, and no letter is left to settle: nothing to write.
    if store.waiting_count()? == 0 && !store.has_letters()? {
        return Ok(None);
    }
    let Some(partner) = peers::partner(store)? else { return Ok(None) };
    if !partner.confirmed {
        return Ok(None);
    }
    let Some(keys) = LetterKeys::of(&partner) else { return Ok(None) };
    Ok(store.post_letter(&|letter| Ok(keys.seal(letter)))?)
}

/// What opening the letters waiting here did.
#[derive(Debug, Default)]
pub struct Opened {
    /// The entries they brought, and this phone's entries whose letters left.
    pub entries: Vec<EntryId>,
    /// Letters refused, each with why, in words.
    pub refused: Vec<String>,
    /// The partner's phone told of a relay added or removed.
    pub relays_changed: bool,
}

/// Opens the letters from the partner that wait sealed, and takes them in with every
/// check a sync message gets; and takes in this phone's letters that left. Runs once the
/// journal is open: at unlock, in any command that opens it, and in a running node as
/// letters arrive. A letter that can't be taken is refused in words and removed; one
/// that failed for this phone's own reasons (its disk) stays for the next time.
pub fn open_waiting(store: &mut Store, show: Option<&dyn Fn(Arrived)>) -> Result<Opened, PeersError> {
    let mut opened = Opened { entries: store.settle_letters()?, ..Opened::default() };
    let mailbox = store.mailbox();
    let files = waiting_files(&mailbox);
    if files.is_empty() {
        return Ok(opened);
    }
    let Some(partner) = peers::partner(store)? else { return Ok(opened) };
    let (Some(keys), true) = (LetterKeys::of(&partner), partner.confirmed) else { return Ok(opened) };
    let rules = partner.rules()?;
    for path in files {
        let Ok(bytes) = fs::read(&path) else { continue };
        let (changes, note) = match keys.open_with_note(&bytes) {
            Ok(opened) => opened,
            Err(e) => {
                opened.refused.push(format!("a letter that came for this phone was refused: {e}"));
                let _ = fs::remove_file(&path);
                continue;
            }
        };
        if !note.is_empty() {
            match serde_json::from_slice::<super::relay::Known>(&note) {
                Ok(theirs) => {
                    let mut known = super::relay::Known::read(store)?;
                    if known.merge_from_partner(&theirs) {
                        known.write(store)?;
                        super::courier::keep_profile(store)?;
                        opened.relays_changed = true;
                    }
                }
                Err(e) => opened.refused.push(format!("a note from your partner's phone was refused: {e}")),
            }
        }
        if changes.is_empty() {
            let _ = fs::remove_file(&path);
            continue;
        }
        match store.receive_letter(changes, &rules, show) {
            Ok(received) => opened.entries.extend(received.touched.entries.iter().copied()),
            // This phone's own trouble (its disk, its lock): the letter stays for the
            // next time.
            Err(
                e @ (StoreError::Io(_)
                | StoreError::Sqlite(_)
                | StoreError::KeyChanged
                | StoreError::Lock(_)
                | StoreError::DocumentTooBig { .. }),
            ) => {
                return Err(e.into());
            }
            Err(e) => opened.refused.push(format!("a letter from your partner's phone was refused: {e}")),
        }
        let _ = fs::remove_file(&path);
    }
    Ok(opened)
}

/// The sealed letters waiting in `letters/in`, oldest first.
fn waiting_files(mailbox: &Mailbox) -> Vec<std::path::PathBuf> {
    let dir = mailbox.incoming_dir();
    let mut files: Vec<(std::time::SystemTime, std::path::PathBuf)> = Mailbox::ids_in(&dir, ".letter")
        .into_iter()
        .map(|id| dir.join(format!("{id}.letter")))
        .filter_map(|p| Some((fs::metadata(&p).ok()?.modified().ok()?, p)))
        .collect();
    files.sort();
    files.into_iter().map(|(_, p)| p).collect()
}

/// Keeps a letter that arrived, sealed, until the journal opens it. A letter already
/// here is the same file: kept once. Says whether it is new.
pub fn keep_incoming(mailbox: &Mailbox, bytes: &[u8]) -> Result<bool, LetterError> {
    not_before(bytes)?;
    mailbox.make().map_err(|_| LetterError::Damaged)?;
    let name = hex::encode(Sha256::digest(bytes));
    let path = mailbox.incoming_dir().join(format!("{name}.letter"));
    if path.exists() {
        return Ok(false);
    }
    let held: u64 = fs::read_dir(mailbox.incoming_dir())
        .map(|d| d.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum())
        .unwrap_or(0);
    if held + bytes.len() as u64 > MAX_WAITING {
        return Err(LetterError::Full(held));
    }
    Mailbox::write_whole(&path, bytes).map_err(|_| LetterError::Damaged)?;
    Ok(true)
}

/// One of this phone's letters, taken for sending.
pub struct Taken {
    id: String,
    /// Where it waits: the letters' folder, or the notes'.
    dir: PathBuf,
    pub bytes: Vec<u8>,
}

impl Taken {
    fn waiting(&self) -> PathBuf {
        self.dir.join(format!("{}.letter", self.id))
    }

    fn sending(&self) -> PathBuf {
        self.dir.join(format!("{}.sending", self.id))
    }

    /// Whether it is a note (of the couple's relays), not a letter of the journal's.
    fn is_note(&self) -> bool {
        self.dir.ends_with(NOTES)
    }
}

/// The folder of notes, in the outgoing letters' folder.
const NOTES: &str = "notes";

fn notes_dir(mailbox: &Mailbox) -> PathBuf {
    mailbox.outgoing_dir().join(NOTES)
}

/// Takes the letters whose undo has ended, for a relay, and copies of the notes: a note
/// to a relay stays for the partner's phone too, which may not know the relay yet.
pub fn take_ready_for(mailbox: &Mailbox) -> Vec<Taken> {
    let mut taken: Vec<Taken> = take_ready(mailbox, Utc::now()).0;
    let notes: Vec<Taken> = taken
        .iter()
        .filter(|t| t.is_note())
        .map(|t| Taken { id: t.id.clone(), dir: PathBuf::new(), bytes: t.bytes.clone() })
        .collect();
    give_back(
        mailbox,
        &taken
            .iter()
            .filter(|t| t.is_note())
            .map(|t| Taken { id: t.id.clone(), dir: t.dir.clone(), bytes: Vec::new() })
            .collect::<Vec<_>>(),
    );
    taken.retain(|t| !t.is_note());
    taken.extend(notes);
    taken
}

/// A letter taken for sending left: it moves to `sent`, for the journal to take in (a
/// note, delivered, is simply gone; a copy of one is left as it was).
pub fn mark_sent(mailbox: &Mailbox, letter: &Taken) {
    if letter.dir.as_os_str().is_empty() {
        return;
    }
    if letter.is_note() {
        let _ = fs::remove_file(letter.sending());
        return;
    }
    let _ = fs::create_dir_all(mailbox.sent_dir());
    let _ = fs::rename(letter.sending(), mailbox.sent(&letter.id));
}

/// Seals a note for the partner's phone (the couple's relays) into a letter of its own.
/// It is no share: nothing withdraws it, and it may leave at once.
pub fn post_note(store: &mut Store, note: &super::relay::Known) -> Result<(), PeersError> {
    let Some(partner) = peers::partner(store)? else { return Ok(()) };
    let Some(keys) = LetterKeys::of(&partner) else { return Ok(()) };
    let text = serde_json::to_vec(note).map_err(|_| PeersError::Damaged("the relays"))?;
    let sealed = keys.seal_with(&Outgoing { changes: &[], not_before: Utc::now() }, &text);
    let mailbox = store.mailbox();
    mailbox.make().map_err(StoreError::from)?;
    let dir = notes_dir(&mailbox);
    fs::create_dir_all(&dir).map_err(StoreError::from)?;
    // A newer note says all an older one did: the older ones go.
    for old in Mailbox::ids_in(&dir, ".letter") {
        let _ = fs::remove_file(dir.join(format!("{old}.letter")));
    }
    let id = hex::encode(uuid::Uuid::new_v4().as_bytes());
    Mailbox::write_whole(&dir.join(format!("{id}.letter")), &sealed).map_err(StoreError::from)?;
    Ok(())
}

/// Takes the letters whose undo has ended for sending: each renamed, so that the journal
/// can no longer withdraw it, nor another sender take it. Says when the next one is due.
fn take_ready(mailbox: &Mailbox, now: DateTime<Utc>) -> (Vec<Taken>, Option<DateTime<Utc>>) {
    let mut taken = Vec::new();
    let mut next = None;
    for dir in [mailbox.outgoing_dir(), notes_dir(mailbox)] {
        for id in Mailbox::ids_in(&dir, ".letter") {
            let letter = Taken { id, dir: dir.clone(), bytes: Vec::new() };
            let Ok(bytes) = fs::read(letter.waiting()) else { continue };
            let Ok(at) = not_before(&bytes) else { continue };
            if at > now {
                next = Some(next.map_or(at, |n: DateTime<Utc>| n.min(at)));
                continue;
            }
            if fs::rename(letter.waiting(), letter.sending()).is_ok() {
                taken.push(Taken { bytes, ..letter });
            }
        }
    }
    (taken, next)
}

/// Hands the letters that are ready from one mailbox to another, as the wire would
/// between two phones (`send_ready` and [`receive`]), without one: for simulations of
/// phones that meet. Says how many were new to the other.
pub fn hand_over(from: &Mailbox, to: &Mailbox) -> usize {
    let (letters, _) = take_ready(from, Utc::now());
    let mut new = 0;
    for letter in &letters {
        match keep_incoming(to, &letter.bytes) {
            Ok(fresh) => {
                new += usize::from(fresh);
                mark_sent(from, letter);
            }
            Err(_) => give_back(from, std::slice::from_ref(letter)),
        }
    }
    new
}

/// Puts letters taken for sending back, for the next time.
pub fn give_back(mailbox: &Mailbox, letters: &[Taken]) {
    let _ = mailbox;
    for letter in letters.iter().filter(|l| !l.dir.as_os_str().is_empty()) {
        let _ = fs::rename(letter.sending(), letter.waiting());
    }
}

/// When the next of this phone's letters may leave, if one waits.
pub fn next_due(mailbox: &Mailbox) -> Option<DateTime<Utc>> {
    [mailbox.outgoing_dir(), notes_dir(mailbox)]
        .into_iter()
        .flat_map(|dir| Mailbox::ids_in(&dir, ".letter").into_iter().map(move |id| dir.join(format!("{id}.letter"))))
        .filter_map(|path| {
            let mut header = [0u8; HEADER];
            let mut file = fs::File::open(path).ok()?;
            std::io::Read::read_exact(&mut file, &mut header).ok()?;
            not_before(&header).ok()
        })
        .min()
}

/// Sends the letters that are ready on `stream`, each once the other phone says it is
/// on its disk; what is sent moves to `sent`. Returns the bytes of each letter sent.
pub async fn send_ready(mailbox: &Mailbox, stream: Stream) -> Result<Vec<usize>, String> {
    let (letters, _) = take_ready(mailbox, Utc::now());
    let mut stream = stream;
    let mut sent = Vec::new();
    let mut result = Ok(());
    for (i, letter) in letters.iter().enumerate() {
        let step = async {
            stream.write_all(&(letter.bytes.len() as u32).to_be_bytes()).await?;
            stream.write_all(&letter.bytes).await?;
            stream.flush().await?;
            let mut answer = [0u8; 1];
            stream.read_exact(&mut answer).await?;
            Ok::<u8, std::io::Error>(answer[0])
        };
        match tokio::time::timeout(STEP, step).await {
            Ok(Ok(ACCEPTED)) | Ok(Ok(HAD_IT)) => {
                mark_sent(mailbox, letter);
                sent.push(letter.bytes.len());
            }
            Ok(Ok(_)) => {
                // Refused: it stays here, for a phone that can take it.
                give_back(mailbox, &letters[i..]);
                result = Err("the other phone refused a letter".to_owned());
                break;
            }
            Ok(Err(e)) => {
                give_back(mailbox, &letters[i..]);
                result = Err(e.to_string());
                break;
            }
            Err(_) => {
                give_back(mailbox, &letters[i..]);
                result = Err("the other phone stopped answering".to_owned());
                break;
            }
        }
    }
    if result.is_ok() {
        let _ = stream.write_all(&0u32.to_be_bytes()).await;
        let _ = stream.close().await;
    }
    result.map(|()| sent)
}

const ACCEPTED: u8 = 1;
const HAD_IT: u8 = 2;
const REFUSED: u8 = 3;

/// Takes the letters the other phone sends on `stream` and keeps each, sealed, before
/// saying so. `arrived` hears of each letter kept (its size). Returns how many were new.
pub async fn receive(mailbox: &Mailbox, mut stream: Stream, arrived: &(dyn Fn(usize) + Sync)) -> Result<usize, String> {
    let mut new = 0;
    loop {
        let mut len = [0u8; 4];
        match tokio::time::timeout(STEP, stream.read_exact(&mut len)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => return Err("the other phone stopped sending".to_owned()),
        }
        let len = u32::from_be_bytes(len) as usize;
        if len == 0 {
            return Ok(new);
        }
        if len > MAX_LETTER {
            let _ = stream.write_all(&[REFUSED]).await;
            return Err(LetterError::TooBig(len).to_string());
        }
        let mut bytes = vec![0u8; len];
        match tokio::time::timeout(STEP, stream.read_exact(&mut bytes)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => return Err("the other phone stopped sending".to_owned()),
        }
        let kept = keep_incoming(mailbox, &bytes);
        let answer = match &kept {
            Ok(true) => ACCEPTED,
            Ok(false) => HAD_IT,
            Err(_) => REFUSED,
        };
        stream.write_all(&[answer]).await.map_err(|e| e.to_string())?;
        stream.flush().await.map_err(|e| e.to_string())?;
        match kept {
            Ok(true) => {
                new += 1;
                arrived(len);
            }
            Ok(false) => {}
            Err(e) => return Err(format!("a letter was refused: {e}")),
        }
    }
}

/// With the partner's phone connected, the letters' sender looks for letters at least
/// this often (and whenever `changed` says so, and when one's undo ends).
const LOOK: Duration = Duration::from_secs(5 * 60);
/// After a letter could not be sent, the sender tries again this much later.
const RETRY: Duration = Duration::from_secs(5);

/// Sends this phone's letters to `peer` for as long as it is connected: those ready now,
/// and each later one once its undo has ended. `sent` runs after letters left (the node
/// takes them into the journal at once; a courier can't).
pub async fn push_while_connected<F, Fut>(
    peer: PeerId,
    control: &mut libp2p_stream::Control,
    mailbox: &Mailbox,
    changed: &Notify,
    events: &broadcast::Sender<NetEvent>,
    sent: F,
) where
    F: Fn(&[usize]) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    loop {
        let now = Utc::now();
        let due = next_due(mailbox);
        let mut wait = due.map_or(LOOK, |at| (at - now).to_std().unwrap_or_default().min(LOOK));
        if due.is_some_and(|at| at <= now) {
            // The partner's phone gone, or not taking letters: this sender ends.
            let Ok(stream) = control.open_stream(peer, LETTERS_PROTOCOL).await else { return };
            match send_ready(mailbox, stream).await {
                Ok(bytes) if !bytes.is_empty() => {
                    for b in &bytes {
                        let _ = events.send(NetEvent::LetterSent { bytes: *b });
                    }
                    sent(&bytes).await;
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!("letters not sent: {e}");
                    wait = RETRY;
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = changed.notified() => {}
        }
    }
}

/// Forgets every letter, made here or received: the pairing ended.
pub fn forget_all(data_dir: &Path) -> std::io::Result<()> {
    Mailbox::in_dir(data_dir).empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (LetterKeys, LetterKeys) {
        let network = CoupleNetwork::from_bytes([9; 32]);
        (LetterKeys::new(&network, Role::Inviter), LetterKeys::new(&network, Role::Joiner))
    }

    /// A letter opens only on the partner's phone: not with the writer's own key for
    /// the other direction, nor in another pairing; a changed byte anywhere, the
    /// header included, breaks the seal; and the header says when it may leave.
    #[test]
    fn a_letter_opens_only_for_the_partner_and_only_as_it_was_sealed() {
        let (alex, blair) = pair();
        let changes = vec![b"LETTER-TEXT-7c1".to_vec(), vec![1, 2, 3]];
        let at = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let sealed = alex.seal(&Outgoing { changes: &changes, not_before: at });
        assert!(memchr::memmem::find(&sealed, b"LETTER-TEXT-7c1").is_none(), "sealed");
        assert_eq!(not_before(&sealed).unwrap(), at);
        assert_eq!(blair.open(&sealed).unwrap(), changes);
        assert_eq!(alex.open(&sealed), Err(LetterError::Seal), "not the way it went");
        let stranger = LetterKeys::new(&CoupleNetwork::from_bytes([10; 32]), Role::Joiner);
        assert_eq!(stranger.open(&sealed), Err(LetterError::Seal));
        for at in [3, 12, HEADER + 2, sealed.len() - 1] {
            let mut changed = sealed.clone();
            changed[at] ^= 1;
            assert!(blair.open(&changed).is_err(), "byte {at}");
        }
        assert_eq!(blair.open(b"hello"), Err(LetterError::NotALetter));
        assert_eq!(blair.open(&vec![0; MAX_LETTER + 1]), Err(LetterError::TooBig(MAX_LETTER + 1)));
    }

    /// A letter kept twice is one file; past the bound, more is refused in words and
    /// nothing already kept is lost.
    #[test]
    fn a_duplicate_is_kept_once_and_a_full_mailbox_refuses_in_words() {
        let dir = tempfile::tempdir().unwrap();
        let mailbox = Mailbox::in_dir(dir.path());
        let (alex, _) = pair();
        let letter = alex.seal(&Outgoing { changes: &[vec![7; 64]], not_before: Utc::now() });
        assert_eq!(keep_incoming(&mailbox, &letter), Ok(true));
        assert_eq!(keep_incoming(&mailbox, &letter), Ok(false));
        assert_eq!(waiting_files(&mailbox).len(), 1);
        let big = |fill: u8| alex.seal(&Outgoing { changes: &[vec![fill; MAX_LETTER - 200]], not_before: Utc::now() });
        assert_eq!(keep_incoming(&mailbox, &big(1)), Ok(true));
        assert_eq!(keep_incoming(&mailbox, &big(2)), Ok(true));
        let e = keep_incoming(&mailbox, &big(3)).unwrap_err();
        assert!(matches!(e, LetterError::Full(_)) && e.to_string().contains("more is refused"), "{e}");
        assert_eq!(waiting_files(&mailbox).len(), 3, "what was kept stays");
    }
}
