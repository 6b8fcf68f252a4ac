//! The two conversations partners' phones have on a connection: pairing, once, and the
//! sync session, whenever both are open and nearby. Each runs as its own task and reports
//! back to the node; neither holds the store across a wait, so a session cut off at any
//! point (a phone locked, a Wi-Fi lost) leaves every write whole.
//!
//! A sync session starts with a hello each way (the couple id, and whether that phone's
//! person checked the safety words). Nothing of the shared document is sent, and nothing
//! received is applied, until both have: each phone's own confirmation, and the one its
//! partner's hello reported. Every message received is then checked against the rules
//! (only the partner's device, only the partner's entries) before it is kept; one that
//! breaks them stops sync with that partner until the person resumes it.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use automerge::sync;
use chrono::Utc;
use futures::io::WriteHalf;
use futures::{AsyncReadExt, AsyncWriteExt};
use libp2p::{PeerId, Stream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc};

use super::WireTap;
use super::frame::{self, MAX_SYNC_FRAME, SyncFrame};
use super::pairing::{
    Introduction, InviteCode, InviterAttempt, Joiner, MAX_MESSAGE, PairMessage, PairingError, Refusal,
};
use super::peers::{self, Partner};
use crate::model::text::partner_name;
use crate::store::{Store, StoreError};

/// How long a pairing step may take before the other phone is given up on.
const PAIR_STEP: Duration = Duration::from_secs(15);
/// A session says "still here" this often when there is nothing else to say.
pub const PING_EVERY: Duration = Duration::from_secs(1);
/// Silence this long means the partner's phone is gone (asleep, or off the Wi-Fi).
pub const QUIET_LIMIT: Duration = Duration::from_secs(4);
/// A write that can't finish in this long means the connection is dead.
const WRITE_LIMIT: Duration = Duration::from_secs(4);
/// The most bytes of frames received and not yet handled that a session holds: one
/// largest frame. A partner's phone that sends faster than this phone applies waits.
pub const QUEUED_BYTES: usize = MAX_SYNC_FRAME;
/// The most frames waiting at once, whatever their size (pings are one byte each).
const QUEUED_FRAMES: usize = 64;
/// How often a session looks for changes made by another process on this phone, and
/// for shares whose undo has just ended.
const LOOK_EVERY: Duration = Duration::from_millis(50);

/// Why a session ends when the two phones are not in the same pairing.
pub const DIFFERENT_PAIRING: &str = "your partner's phone has a different pairing; pair again";

pub type SharedStore = Arc<Mutex<Store>>;

pub fn lock(store: &SharedStore) -> MutexGuard<'_, Store> {
    // A panic while holding the store can only come from a bug; the store itself is
    // consistent after any failed write, so carrying on is safe.
    store.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What a sync session tells the node.
#[derive(Debug)]
pub enum SessionReport {
    /// Both phones now hold the same document; `received` changes arrived on the way.
    Synced { received: usize },
    /// The partner's hello said whether their person checked the words.
    PartnerConfirmed(bool),
    /// The session ended, and why.
    Ended { reason: String, end: End },
}

/// How a session ended, which decides what happens to its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The stream closed or failed; the connection goes its own way.
    Closed,
    /// The partner's phone went quiet: the connection is likely dead, so it is dropped
    /// and redialed.
    Quiet,
    /// The peer broke the protocol, or is in another pairing: the connection is closed.
    Violation,
    /// The partner's phone sent changes that break the rules: sync with it stops until
    /// the person resumes it, or unpairs.
    Stopped,
}

/// Everything a sync session needs besides its stream.
pub struct SessionContext {
    pub peer: PeerId,
    /// The partner as this phone knew them when the session started.
    pub partner: Partner,
    pub store: SharedStore,
    pub local_change: Arc<Notify>,
    pub reports: mpsc::UnboundedSender<(u64, SessionReport)>,
    pub id: u64,
    pub tap: Option<WireTap>,
}

/// Runs a sync session until the stream fails, the partner goes quiet, or the task is
/// stopped. Reports its end.
pub async fn run_sync(ctx: SessionContext, stream: Stream) {
    let (end, reason) = match sync_loop(&ctx, stream).await {
        Ok(()) => (End::Closed, "the partner closed the session".to_owned()),
        Err(ended) => ended,
    };
    let _ = ctx.reports.send((ctx.id, SessionReport::Ended { reason, end }));
}

fn closed(e: impl std::fmt::Display) -> (End, String) {
    (End::Closed, e.to_string())
}

async fn sync_loop(ctx: &SessionContext, stream: Stream) -> Result<(), (End, String)> {
    let (reader, mut writer) = stream.split();
    let (frames_tx, mut frames) = mpsc::channel(QUEUED_FRAMES);
    let reading = tokio::spawn(read_frames(reader, frames_tx, Arc::new(Semaphore::new(QUEUED_BYTES))));
    let _stop_reading = AbortOnDrop(reading);

    // The pairing as the file says it now (the node's copy may be a moment old), and
    // the file's version it was read at, so no later change is missed.
    let (now, mut seen_version, mut state) = {
        let store = lock(&ctx.store);
        let version = store.data_version().map_err(closed)?;
        // A new session starts from the heads both sides last agreed on, never from a
        // state that may hold messages the partner never got.
        (peers::partner(&store).map_err(closed)?, Some(version), peers::sync_state(&store))
    };
    let mut partner = match now {
        Some(now) if now.couple == ctx.partner.couple && now.peer == ctx.partner.peer => now,
        _ => return Err(closed("the pairing ended on this phone")),
    };
    let couple = partner.couple_bytes().ok_or_else(|| closed("this phone's pairing can't be read"))?;
    let mut rules = partner.rules().map_err(closed)?;
    let mut they_confirmed = false;
    let mut last_heard = Instant::now();
    let mut last_sent = Instant::now();
    let mut received = 0usize;
    let mut reported: Option<Vec<automerge::ChangeHash>> = None;
    let mut look = tokio::time::interval(LOOK_EVERY);
    let mut next_ready = None;
    let mut dirty = true;
    let mut hello_due = true;
    loop {
        if hello_due {
            send(ctx, &mut writer, &SyncFrame::Hello { couple, confirmed: partner.confirmed }).await?;
            last_sent = Instant::now();
            hello_due = false;
        }
        // Only once both people checked the words does anything of the document move.
        let both_confirmed = partner.confirmed && they_confirmed;
        if both_confirmed {
            if let Some(heads) = newly_synced(ctx, &state, &reported) {
                // Said first, saved after: the journal already holds what arrived.
                let _ = ctx.reports.send((ctx.id, SessionReport::Synced { received }));
                peers::save_sync_state(&mut lock(&ctx.store), &state).map_err(closed)?;
                received = 0;
                reported = Some(heads);
            }
            if dirty {
                let message = {
                    let mut store = lock(&ctx.store);
                    // Shares whose undo has ended enter the document only now, as they
                    // are about to be sent.
                    store.fold_outbox().map_err(closed)?;
                    next_ready = store.next_ready().map_err(closed)?;
                    store.sync_message(&mut state).map_err(closed)?
                };
                if let Some(message) = message {
                    send(ctx, &mut writer, &SyncFrame::Sync(message)).await?;
                    last_sent = Instant::now();
                }
                dirty = false;
            }
        }
        if last_sent.elapsed() >= PING_EVERY {
            send(ctx, &mut writer, &SyncFrame::Ping).await?;
            last_sent = Instant::now();
        }

        tokio::select! {
            frame = frames.recv() => {
                last_heard = Instant::now();
                // The frame's share of the queue's bytes is given back once it is handled.
                let (frame, _queued) = match frame {
                    None => return Ok(()),
                    Some((frame, queued)) => (frame, queued),
                };
                match frame {
                    Err(ended) => return Err(ended),
                    Ok(SyncFrame::Ping) => {}
                    Ok(SyncFrame::Hello { couple: theirs, confirmed }) => {
                        if theirs != couple {
                            return Err((End::Violation, DIFFERENT_PAIRING.to_owned()));
                        }
                        if confirmed != they_confirmed {
                            they_confirmed = confirmed;
                            let _ = ctx.reports.send((ctx.id, SessionReport::PartnerConfirmed(confirmed)));
                            dirty = true;
                        }
                    }
                    Ok(SyncFrame::Sync(message)) => {
                        if !(partner.confirmed && they_confirmed) {
                            // Not both confirmed: dropped unapplied, and never written.
                            tracing::debug!("a sync message arrived before both confirmed the words; dropped");
                            continue;
                        }
                        let mut store = lock(&ctx.store);
                        let before = store.heads();
                        store.receive_sync_message(&mut state, message, &rules).map_err(|e| match e {
                            StoreError::Refused(broken) => (End::Stopped, stopped_reason(&broken)),
                            e @ StoreError::PairingChanged => closed(e),
                            e => (End::Violation, format!("a sync message from the partner was refused: {e}")),
                        })?;
                        if store.heads() != before {
                            received += store.changes_since(&before).map_err(closed)?;
                        }
                        dirty = true;
                    }
                }
            }
            _ = ctx.local_change.notified() => dirty = true,
            _ = look.tick() => {
                if last_heard.elapsed() > QUIET_LIMIT {
                    return Err((End::Quiet, "the partner's phone went quiet".to_owned()));
                }
                let store = lock(&ctx.store);
                let version = store.data_version().map_err(closed)?;
                if seen_version != Some(version) {
                    seen_version = Some(version);
                    dirty = true;
                    // The window or the command line may have confirmed, or forgotten, the
                    // pairing.
                    match peers::partner(&store).map_err(closed)? {
                        Some(now) if now.couple == partner.couple && now.peer == partner.peer => {
                            if now.confirmed != partner.confirmed {
                                hello_due = true;
                            }
                            rules = now.rules().map_err(closed)?;
                            partner = now;
                        }
                        _ => return Err(closed("the pairing ended on this phone")),
                    }
                }
                if next_ready.is_some_and(|at| at <= Utc::now()) {
                    next_ready = None;
                    dirty = true;
                }
            }
        }
    }
}

/// The plain words for a sync stopped because the partner's phone broke the rules, like
/// "Your partner's phone sent changes to entries that are yours. Sync is stopped."
pub fn stopped_reason(broken: &crate::store::RuleBreak) -> String {
    let what = broken.to_string();
    let mut chars = what.chars();
    let what: String = chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default();
    format!("{what}. Sync is stopped.")
}

/// The heads both phones now hold, if they agree and that was not said yet.
fn newly_synced(
    ctx: &SessionContext,
    state: &sync::State,
    reported: &Option<Vec<automerge::ChangeHash>>,
) -> Option<Vec<automerge::ChangeHash>> {
    let mut ours = lock(&ctx.store).heads();
    ours.sort();
    let mut theirs = state.their_heads.clone()?;
    theirs.sort();
    (theirs == ours && reported.as_ref() != Some(&ours)).then_some(ours)
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A frame read from the partner, with its share of the queue's bytes.
pub type Queued = (Result<SyncFrame, (End, String)>, OwnedSemaphorePermit);

/// Reads frames from the partner into `out` until the stream ends or breaks the rules.
/// Each frame holds its size in `budget`'s permits until the session has handled it, so
/// what waits in the queue never passes the budget however fast the partner sends:
/// memory for one session stays under the budget plus the one frame being read.
pub async fn read_frames<R: futures::AsyncRead + Unpin>(
    mut reader: R,
    out: mpsc::Sender<Queued>,
    budget: Arc<Semaphore>,
) {
    loop {
        let (item, size) = match frame::read_body(&mut reader, MAX_SYNC_FRAME).await {
            Ok(None) => return,
            Ok(Some(body)) => {
                (SyncFrame::decode(&body).map_err(|e| (End::Violation, format!("the partner sent {e}"))), body.len())
            }
            Err(e @ (frame::FrameError::TooLong { .. } | frame::FrameError::Truncated)) => {
                (Err((End::Violation, format!("the partner sent {e}"))), 0)
            }
            Err(e) => (Err((End::Closed, format!("reading from the partner failed: {e}"))), 0),
        };
        let permits = u32::try_from(size.clamp(1, QUEUED_BYTES)).unwrap_or(u32::MAX);
        let Ok(queued) = budget.clone().acquire_many_owned(permits).await else { return };
        let stop = item.is_err();
        if out.send((item, queued)).await.is_err() || stop {
            return;
        }
    }
}

async fn send(ctx: &SessionContext, writer: &mut WriteHalf<Stream>, frame: &SyncFrame) -> Result<(), (End, String)> {
    let body = frame.encode();
    if let Some(tap) = &ctx.tap {
        tap.record(&body);
    }
    match tokio::time::timeout(WRITE_LIMIT, frame::write_body(writer, &body, MAX_SYNC_FRAME)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err((End::Closed, format!("sending to the partner failed: {e}"))),
        Err(_) => Err((End::Quiet, "sending to the partner timed out".to_owned())),
    }
}

// ----- Pairing -----

/// How a pairing attempt ended, from this phone's side.
#[derive(Debug)]
pub enum PairOutcome {
    Paired(PairedWith),
    Failed(PairFailure),
}

/// Who a pairing was with, as the other phone introduced itself, and what both phones
/// now share: the safety words and the couple id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairedWith {
    /// The other phone's introduction, its name made safe to show.
    pub who: Introduction,
    pub words: [&'static str; 4],
    pub couple: [u8; 16],
}

fn paired_with(
    me: &Introduction,
    mut who: Introduction,
    key: &super::pairing::SessionKey,
) -> Result<PairedWith, PairFailure> {
    if who.person == me.person || who.actor == me.actor {
        return Err(PairingError::SameJournal.into());
    }
    who.name = partner_name(&who.name);
    Ok(PairedWith { who, words: key.safety_words(), couple: key.couple_id() })
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PairFailure {
    #[error(transparent)]
    Pairing(#[from] PairingError),
    #[error("the invite has expired; ask your partner to make a new one")]
    Expired,
    #[error("the invite was cancelled after five wrong codes; ask your partner to make a new one")]
    TooManyTries,
    #[error("your partner's phone is busy with another pairing attempt; try again in a moment")]
    Busy,
    #[error("the other phone stopped answering: {0}")]
    Gone(String),
}

impl From<Refusal> for PairFailure {
    fn from(reason: Refusal) -> Self {
        match reason {
            Refusal::WrongCode => PairFailure::Pairing(PairingError::WrongCode),
            Refusal::Expired => PairFailure::Expired,
            Refusal::TooManyTries => PairFailure::TooManyTries,
            Refusal::Busy => PairFailure::Busy,
        }
    }
}

async fn read_pair(stream: &mut Stream) -> Result<PairMessage, PairFailure> {
    match tokio::time::timeout(PAIR_STEP, frame::read_body(stream, MAX_MESSAGE)).await {
        Err(_) => Err(PairFailure::Gone("no answer in 15 seconds".to_owned())),
        Ok(Ok(None)) => Err(PairFailure::Gone("it closed the connection".to_owned())),
        Ok(Err(frame::FrameError::TooLong { len, .. })) => Err(PairingError::TooLong(len).into()),
        Ok(Err(e)) => Err(PairFailure::Gone(e.to_string())),
        Ok(Ok(Some(body))) => Ok(PairMessage::decode(&body)?),
    }
}

async fn write_pair(stream: &mut Stream, message: &PairMessage, tap: &Option<WireTap>) -> Result<(), PairFailure> {
    let body = message.encode();
    if let Some(tap) = tap {
        tap.record(&body);
    }
    match tokio::time::timeout(PAIR_STEP, frame::write_body(stream, &body, MAX_MESSAGE)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(PairFailure::Gone(e.to_string())),
        Err(_) => Err(PairFailure::Gone("it stopped reading".to_owned())),
    }
}

/// Tells a phone that tried to pair why it can't, and closes.
pub async fn refuse(mut stream: Stream, reason: Refusal, tap: Option<WireTap>) {
    let _ = write_pair(&mut stream, &PairMessage::Refused { reason }, &tap).await;
    let _ = stream.close().await;
}

/// The inviting phone's side of one attempt.
pub async fn invitee_arrived(
    mut stream: Stream,
    code: InviteCode,
    me: PeerId,
    joiner: PeerId,
    my: Introduction,
    tap: Option<WireTap>,
) -> PairOutcome {
    let result = async {
        let PairMessage::Hello { spake } = read_pair(&mut stream).await? else {
            return Err(PairingError::Malformed("expected a hello").into());
        };
        let (attempt, reply) = InviterAttempt::answer(&code, &me.to_base58(), &joiner.to_base58(), &spake)?;
        write_pair(&mut stream, &reply, &tap).await?;
        // Our reply lets the joiner test its guess of the code on its own. From here on,
        // whatever it does (a confirmation that fails, going away, junk) has used up a
        // guess, and counts as a wrong code: otherwise a stranger could guess without end
        // by never confirming.
        let confirmed = async {
            let PairMessage::Confirm { confirm, who } = read_pair(&mut stream).await? else {
                return Err(PairingError::Malformed("expected a confirmation").into());
            };
            match attempt.on_confirm(&confirm, &who) {
                Ok(key) => Ok((key, who)),
                Err(e) => {
                    let _ = write_pair(&mut stream, &PairMessage::Refused { reason: Refusal::WrongCode }, &tap).await;
                    Err(PairFailure::from(e))
                }
            }
        }
        .await;
        let (key, who) = confirmed.map_err(|e| {
            tracing::debug!("a pairing attempt ended after our reply: {e}");
            PairFailure::Pairing(PairingError::WrongCode)
        })?;
        write_pair(&mut stream, &PairMessage::Welcome { who: my.clone() }, &tap).await?;
        let _ = stream.close().await;
        paired_with(&my, who, &key)
    }
    .await;
    match result {
        Ok(paired) => PairOutcome::Paired(paired),
        Err(e) => PairOutcome::Failed(e),
    }
}

/// The joining phone's side.
pub async fn join(
    mut stream: Stream,
    code: InviteCode,
    me: PeerId,
    inviter: PeerId,
    my: Introduction,
    tap: Option<WireTap>,
) -> PairOutcome {
    let result = async {
        let (joiner, hello) = Joiner::start(&code, &inviter.to_base58(), &me.to_base58());
        write_pair(&mut stream, &hello, &tap).await?;
        let (spake, confirm) = match read_pair(&mut stream).await? {
            PairMessage::Reply { spake, confirm } => (spake, confirm),
            PairMessage::Refused { reason } => return Err(reason.into()),
            _ => return Err(PairingError::Malformed("expected a reply").into()),
        };
        let (key, confirm) = joiner.on_reply(&spake, &confirm, &my)?;
        write_pair(&mut stream, &confirm, &tap).await?;
        match read_pair(&mut stream).await? {
            PairMessage::Welcome { who } => paired_with(&my, who, &key),
            PairMessage::Refused { reason } => Err(reason.into()),
            _ => Err(PairingError::Malformed("expected a welcome").into()),
        }
    }
    .await;
    let _ = stream.close().await;
    match result {
        Ok(paired) => PairOutcome::Paired(paired),
        Err(e) => PairOutcome::Failed(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello() -> Vec<u8> {
        frame::prefixed(&SyncFrame::Hello { couple: [7; 16], confirmed: true }.encode(), MAX_SYNC_FRAME).unwrap()
    }

    /// A partner's phone that sends faster than this one handles: what waits is bounded
    /// by bytes, and reading goes on as frames are handled.
    #[tokio::test]
    async fn frames_wait_by_bytes_not_by_count() {
        let one = hello().len() - 4;
        let wire: Vec<u8> = (0..40).flat_map(|_| hello()).collect();
        let (tx, mut rx) = mpsc::channel(QUEUED_FRAMES);
        let budget = Arc::new(Semaphore::new(one * 5));
        tokio::spawn(read_frames(futures::io::Cursor::new(wire), tx, budget));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(rx.len(), 5, "five frames' bytes wait, and no more");
        let (first, permit) = rx.recv().await.unwrap();
        assert!(matches!(first, Ok(SyncFrame::Hello { confirmed: true, .. })));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(rx.len(), 4, "holding the handled frame holds its bytes");
        drop(permit);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(rx.len(), 5, "handled, its bytes make room for the next");
    }
}
