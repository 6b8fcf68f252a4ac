//! The two conversations partners' phones have on a connection, each run as its own task
//! that reports back to the node: pairing, once (the exchange itself is `net::pairing`),
//! and the sync session, whenever both are open and nearby (the session's decisions are
//! `net::sync`; here it meets the stream and the clock). Neither holds the store across a
//! wait, so a session cut off at any point (a phone locked, a Wi-Fi lost) leaves every
//! write whole.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::io::WriteHalf;
use futures::{AsyncReadExt, AsyncWriteExt};
use libp2p::{PeerId, Stream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc};

use super::frame::{self, MAX_SYNC_FRAME, SyncFrame};
use super::pairing::{
    Continued, Introduction, InviteCode, InviterAttempt, Joiner, MAX_MESSAGE, PairMessage, PairingError, Refusal,
};
pub use super::pairing::{PairFailure, PairOutcome, PairedWith};
use super::peers::Partner;
pub use super::sync::{ANSWER_LIMIT, DIFFERENT_PAIRING, End, Ended, PING_EVERY, SessionReport, stopped_reason};
use super::sync::{Arrived, Out, Show, SyncSession};
use super::worker::StoreWorker;
use super::{AbortOnDrop, WireTap};
use crate::model::text::partner_name;
use crate::store::{Continuable, Store};

/// How long a pairing step may take before the other phone is given up on.
const PAIR_STEP: Duration = Duration::from_secs(15);
/// A joining phone says hello as soon as its stream opens: one that says nothing for this
/// long is not pairing, and the invite is free for the next.
const FIRST_STEP: Duration = Duration::from_secs(3);
/// Closing a stream politely waits at most this long for the other phone.
const CLOSE_LIMIT: Duration = Duration::from_secs(2);
/// A piece of a frame (at most `frame::PIECE` bytes) that the connection can't take in
/// this long means it is dead: 16 KiB a second, far below any Wi-Fi that still works.
const WRITE_LIMIT: Duration = Duration::from_secs(4);
/// The most bytes of frames received and not yet handled that a session holds: one
/// largest frame. A partner's phone that sends faster than this phone applies waits.
pub const QUEUED_BYTES: usize = MAX_SYNC_FRAME;
/// While a step takes long, the session says "still here" this often: well within the
/// time the partner gives a ping or changes to be answered.
const STILL_HERE: Duration = Duration::from_secs(1);
/// The most frames waiting at once, whatever their size (pings are one byte each).
const QUEUED_FRAMES: usize = 64;

/// Everything a sync session needs besides its stream.
pub struct SessionContext {
    pub peer: PeerId,
    /// The partner as this phone knew them when the session started.
    pub partner: Partner,
    pub store: StoreWorker,
    pub local_change: Arc<Notify>,
    pub reports: mpsc::UnboundedSender<(u64, SessionReport)>,
    /// Where the entries a message changed go, for the window.
    pub arrivals: tokio::sync::broadcast::Sender<Arc<Arrived>>,
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

/// Meets the session with its stream: frames read go in, what it says goes out, and the
/// clock ticks it. Every decision is the session's.
async fn sync_loop(ctx: &SessionContext, stream: Stream) -> Result<(), Ended> {
    let (reader, mut writer) = stream.split();
    let (frames_tx, mut frames) = mpsc::channel(QUEUED_FRAMES);
    let reading = tokio::spawn(read_frames(reader, frames_tx, Arc::new(Semaphore::new(QUEUED_BYTES))));
    let _stop_reading = AbortOnDrop(reading);

    let partner = ctx.partner.clone();
    let started = ctx.store.run(move |store| SyncSession::start(store, &partner, Instant::now())).await;
    let mut session = Some(started.map_err(gone)??);
    answer(ctx, &mut writer, &mut session, |s, store| s.poll(Instant::now(), Utc::now(), store)).await?;
    // What a message brought goes to the window from the store's thread, as soon as it is
    // applied, not after it is durable.
    let to_window: Show = {
        let arrivals = ctx.arrivals.clone();
        Arc::new(move |arrived| drop(arrivals.send(Arc::new(arrived))))
    };
    loop {
        // Asleep until a frame comes, this phone's journal changes, or the session has
        // something due (a ping, the partner's silence judged, a share's undo ended).
        let wake = session.as_ref().map_or_else(Instant::now, |s| s.next_wake(Instant::now(), Utc::now()));
        tokio::select! {
            // Frames first: after a long send (a first sync on a slow Wi-Fi), what the
            // partner said meanwhile counts before the silence is judged.
            biased;
            frame = frames.recv() => {
                // The frame's share of the queue's bytes is given back once it is handled.
                let (frame, _queued) = match frame {
                    None => return Ok(()),
                    Some((frame, queued)) => (frame?, queued),
                };
                // The entries a message changed are read only for someone to take.
                let show = (ctx.arrivals.receiver_count() > 0).then(|| to_window.clone());
                let frame_in = move |s: &mut SyncSession, store: &mut Store| {
                    s.show_arrivals(show);
                    s.on_frame(Instant::now(), Utc::now(), frame, store)
                };
                answer(ctx, &mut writer, &mut session, frame_in).await?;
            }
            // Written here (the window), or in another process (the node saw the file
            // change): look at once.
            _ = ctx.local_change.notified() => {
                let changed = |s: &mut SyncSession, store: &mut Store| {
                    s.on_local_change();
                    s.on_tick(Instant::now(), Utc::now(), store)
                };
                answer(ctx, &mut writer, &mut session, changed).await?;
            }
            _ = tokio::time::sleep_until(wake.into()) => {
                let tick = |s: &mut SyncSession, store: &mut Store| s.on_tick(Instant::now(), Utc::now(), store);
                answer(ctx, &mut writer, &mut session, tick).await?;
            }
        }
    }
}

/// One step of the session, then what it said, then its further polls while it has more
/// to say (a "synced" goes out before the state is saved and the partner answered).
async fn answer(
    ctx: &SessionContext,
    writer: &mut WriteHalf<Stream>,
    session: &mut Option<SyncSession>,
    work: impl FnOnce(&mut SyncSession, &mut Store) -> Result<Vec<Out>, Ended> + Send + 'static,
) -> Result<(), Ended> {
    let said = step(ctx, writer, session, work).await?;
    perform(ctx, writer, said).await?;
    while session.as_ref().is_some_and(SyncSession::more_to_say) {
        let said = step(ctx, writer, session, |s, store| s.poll(Instant::now(), Utc::now(), store)).await?;
        perform(ctx, writer, said).await?;
    }
    Ok(())
}

fn gone(e: super::worker::WorkerError) -> Ended {
    (End::Closed, e.to_string())
}

/// Hands the session to the store's thread for one step, and takes it back. A long step
/// (folding ten thousand shares, applying a first sync) keeps saying "still here" every
/// second meanwhile, so the partner's phone does not take the work for silence.
async fn step(
    ctx: &SessionContext,
    writer: &mut WriteHalf<Stream>,
    session: &mut Option<SyncSession>,
    work: impl FnOnce(&mut SyncSession, &mut Store) -> Result<Vec<Out>, Ended> + Send + 'static,
) -> Result<Vec<Out>, Ended> {
    let Some(mut s) = session.take() else { return Err(gone(super::worker::WorkerError::Gone)) };
    let job = ctx.store.run(move |store| {
        let said = work(&mut s, store);
        (s, said)
    });
    tokio::pin!(job);
    let mut still_here = tokio::time::interval_at(tokio::time::Instant::now() + STILL_HERE, STILL_HERE);
    let (s, said) = loop {
        tokio::select! {
            done = &mut job => break done.map_err(gone)?,
            _ = still_here.tick() => send(ctx, writer, &SyncFrame::Ping).await?,
        }
    };
    *session = Some(s);
    said
}

async fn perform(ctx: &SessionContext, writer: &mut WriteHalf<Stream>, said: Vec<Out>) -> Result<(), Ended> {
    for out in said {
        match out {
            Out::Send(frame) => send(ctx, writer, &frame).await?,
            Out::Report(report) => {
                let _ = ctx.reports.send((ctx.id, report));
            }
        }
    }
    Ok(())
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
    let mut pieces = frame::Assembler::default();
    loop {
        let (item, size) = match frame::read_body(&mut reader, MAX_SYNC_FRAME).await {
            Ok(None) if pieces.pending() > 0 => {
                (Err((End::Closed, format!("the partner sent {}", frame::FrameError::BrokenOff))), 0)
            }
            Ok(None) => return,
            Ok(Some(body)) => match pieces.push(body) {
                Ok(Some(whole)) => (
                    SyncFrame::decode(&whole).map_err(|e| (End::Violation, format!("the partner sent {e}"))),
                    whole.len(),
                ),
                // A piece of a message still coming: the partner is sending, which
                // counts as heard. What it holds is in the assembler, bounded by the
                // longest message.
                Ok(None) => (Ok(SyncFrame::Ping), 1),
                Err(e) => (Err((End::Violation, format!("the partner sent {e}"))), 0),
            },
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

/// Sends one frame, a long sync message in pieces. Each piece must be taken by the
/// connection within [`WRITE_LIMIT`]: the time measures progress, so a slow Wi-Fi that
/// keeps moving is waited for, and a dead one is found.
async fn send(ctx: &SessionContext, writer: &mut WriteHalf<Stream>, frame: &SyncFrame) -> Result<(), (End, String)> {
    let plain = frame.encode();
    let body = frame::packed(&plain);
    if let Some(tap) = &ctx.tap {
        tap.record_packed(&plain, body.len());
    }
    for piece in frame::pieces(&body) {
        let sent = tokio::time::timeout(WRITE_LIMIT, frame::write_body(writer, &piece, MAX_SYNC_FRAME)).await;
        match sent {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err((End::Closed, format!("sending to the partner failed: {e}"))),
            Err(_) => return Err((End::Quiet, "sending to the partner made no progress".to_owned())),
        }
    }
    Ok(())
}

// ----- Pairing -----

fn paired_with(
    me: &Introduction,
    mut who: Introduction,
    key: &super::pairing::Agreement,
    continued: Option<Continued>,
) -> Result<PairedWith, PairFailure> {
    if who.person == me.person || who.actor == me.actor {
        return Err(PairingError::SameJournal.into());
    }
    who.name = partner_name(&who.name);
    Ok(PairedWith { who, words: key.safety_words(), couple: key.couple_id(), network: key.couple_network(), continued })
}

async fn read_pair(stream: &mut Stream, limit: Duration) -> Result<PairMessage, PairFailure> {
    match tokio::time::timeout(limit, frame::read_body(stream, MAX_MESSAGE)).await {
        Err(_) => Err(PairFailure::Gone(format!("no answer in {} seconds", limit.as_secs()))),
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

/// Closes a stream, waiting for the other phone no longer than [`CLOSE_LIMIT`].
async fn close(stream: &mut Stream) {
    let _ = tokio::time::timeout(CLOSE_LIMIT, stream.close()).await;
}

/// Tells a phone that tried to pair why it can't, and closes.
pub async fn refuse(mut stream: Stream, reason: Refusal, tap: Option<WireTap>) {
    refuse_with(&mut stream, reason, &tap).await;
}

/// The past pairings that may be continued, newest first; none when they can't be read.
async fn continuable(store: &StoreWorker) -> Vec<Continuable> {
    let found = store.run(|store| store.continuable().map_err(|e| e.to_string())).await;
    found.map_err(|e| e.to_string()).and_then(|found| found).unwrap_or_else(|e| {
        tracing::warn!("past pairings could not be read to continue one: {e}");
        Vec::new()
    })
}

async fn refuse_with(stream: &mut Stream, reason: Refusal, tap: &Option<WireTap>) {
    let _ = write_pair(stream, &PairMessage::Refused { reason }, tap).await;
    close(stream).await;
}

/// The inviting phone's side of one attempt. `store` is asked which past pairings may be
/// continued only when a joiner restored from a backup asks to continue one.
pub async fn invitee_arrived(
    mut stream: Stream,
    code: InviteCode,
    me: PeerId,
    joiner: PeerId,
    my: Introduction,
    store: StoreWorker,
    tap: Option<WireTap>,
) -> PairOutcome {
    let result = async {
        let PairMessage::Hello { spake } = read_pair(&mut stream, FIRST_STEP).await? else {
            return Err(PairingError::Malformed("expected a hello").into());
        };
        let (attempt, reply) = InviterAttempt::answer(&code, &me.to_base58(), &joiner.to_base58(), &spake)?;
        write_pair(&mut stream, &reply, &tap).await?;
        // Our reply lets the joiner test its guess of the code on its own. From here on,
        // whatever it does (a confirmation that fails, going away, junk) has used up a
        // guess, and counts as a wrong code: otherwise a stranger could guess without end
        // by never confirming.
        let confirmed = async {
            let PairMessage::Confirm { confirm, who, nonce, continues } = read_pair(&mut stream, PAIR_STEP).await?
            else {
                return Err(PairingError::Malformed("expected a confirmation").into());
            };
            match attempt.on_confirm(&confirm, &who, &nonce, continues) {
                Ok((agreed, nonce)) => Ok((agreed, nonce, who, continues)),
                Err(e) => {
                    let _ = write_pair(&mut stream, &PairMessage::Refused { reason: Refusal::WrongCode }, &tap).await;
                    Err(PairFailure::from(e))
                }
            }
        }
        .await;
        let (key, nonce, who, continues) = confirmed.map_err(|e| {
            tracing::debug!("a pairing attempt ended after our reply: {e}");
            PairFailure::Pairing(PairingError::WrongCode)
        })?;
        // Only a document the joiner's person wrote in is continued: the newest such.
        let continued = match continues {
            false => None,
            true => match continuable(&store).await.into_iter().find(|c| c.person == who.person) {
                Some(c) => Some(Continued { past: Some(c.past), heads: c.heads.iter().map(|h| h.0).collect() }),
                None => {
                    refuse_with(&mut stream, Refusal::NothingToContinue, &tap).await;
                    return Err(PairFailure::NothingToContinue);
                }
            },
        };
        let history = continued.as_ref().map(|c| c.heads.clone()).unwrap_or_default();
        write_pair(&mut stream, &PairMessage::Welcome { who: my.clone(), nonce, history }, &tap).await?;
        close(&mut stream).await;
        paired_with(&my, who, &key, continued)
    }
    .await;
    match result {
        Ok(paired) => PairOutcome::Paired(paired),
        Err(e) => PairOutcome::Failed(e),
    }
}

/// The joining phone's side; `continues` asks to continue the couple's shared document.
pub async fn join(
    mut stream: Stream,
    code: InviteCode,
    me: PeerId,
    inviter: PeerId,
    my: Introduction,
    continues: bool,
    tap: Option<WireTap>,
) -> PairOutcome {
    let result = async {
        let (joiner, hello) = Joiner::start(&code, &inviter.to_base58(), &me.to_base58());
        write_pair(&mut stream, &hello, &tap).await?;
        let (spake, confirm, commit) = match read_pair(&mut stream, PAIR_STEP).await? {
            PairMessage::Reply { spake, confirm, commit } => (spake, confirm, commit),
            PairMessage::Refused { reason } => return Err(reason.into()),
            _ => return Err(PairingError::Malformed("expected a reply").into()),
        };
        let (confirmed, confirm) = joiner.on_reply(&spake, &confirm, &commit, &my, continues)?;
        write_pair(&mut stream, &confirm, &tap).await?;
        match read_pair(&mut stream, PAIR_STEP).await? {
            PairMessage::Welcome { who, nonce, history } => {
                let agreed = confirmed.on_welcome(&nonce)?;
                let continued = match (continues, history.is_empty()) {
                    (true, false) => Some(Continued { past: None, heads: history }),
                    (false, true) => None,
                    (true, true) => return Err(PairFailure::NotContinued),
                    (false, false) => return Err(PairingError::Malformed("a history nobody asked for").into()),
                };
                paired_with(&my, who, &agreed, continued)
            }
            PairMessage::Refused { reason } => Err(reason.into()),
            _ => Err(PairingError::Malformed("expected a welcome").into()),
        }
    }
    .await;
    close(&mut stream).await;
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

    /// A first sync's message, longer than a piece, arrives whole after pieces that each
    /// count as the partner being heard; one broken off by a ping ends the session.
    #[tokio::test]
    async fn a_long_message_arrives_in_pieces_and_is_read_whole() {
        use automerge::sync::SyncDoc;
        use automerge::transaction::Transactable;
        let mut doc = automerge::AutoCommit::new();
        // Text that does not compress, so the message is longer than two pieces.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let noise: String = (0..400_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                char::from(b'a' + (x % 26) as u8)
            })
            .collect();
        doc.put(automerge::ROOT, "text", noise).unwrap();
        // What the doc sends an empty phone, once it has heard what that phone holds.
        let (mut ours, mut theirs) = (automerge::sync::State::new(), automerge::sync::State::new());
        let empty = automerge::AutoCommit::new().sync().generate_sync_message(&mut theirs).unwrap();
        doc.sync().receive_sync_message(&mut ours, empty).unwrap();
        let message = doc.sync().generate_sync_message(&mut ours).unwrap();
        let body = SyncFrame::Sync(message.clone()).encode();
        let parts = frame::pieces(&body);
        assert!(parts.len() >= 3, "{} pieces for {} bytes", parts.len(), body.len());
        let wire: Vec<u8> = parts.iter().flat_map(|p| frame::prefixed(p, MAX_SYNC_FRAME).unwrap()).collect();
        let (tx, mut rx) = mpsc::channel(QUEUED_FRAMES);
        tokio::spawn(read_frames(futures::io::Cursor::new(wire), tx, Arc::new(Semaphore::new(QUEUED_BYTES))));
        for _ in 0..parts.len() - 1 {
            assert!(matches!(rx.recv().await.unwrap().0, Ok(SyncFrame::Ping)));
        }
        match rx.recv().await.unwrap().0 {
            Ok(SyncFrame::Sync(whole)) => assert_eq!(whole.encode(), message.encode()),
            other => panic!("{other:?}"),
        }
        assert!(rx.recv().await.is_none());

        let mut broken: Vec<u8> = frame::prefixed(&parts[0], MAX_SYNC_FRAME).unwrap();
        broken.extend(frame::prefixed(&SyncFrame::Ping.encode(), MAX_SYNC_FRAME).unwrap());
        let (tx, mut rx) = mpsc::channel(QUEUED_FRAMES);
        tokio::spawn(read_frames(futures::io::Cursor::new(broken), tx, Arc::new(Semaphore::new(QUEUED_BYTES))));
        assert!(matches!(rx.recv().await.unwrap().0, Ok(SyncFrame::Ping)));
        assert!(matches!(rx.recv().await.unwrap().0, Err((End::Violation, reason)) if reason.contains("broken off")));
    }
}
