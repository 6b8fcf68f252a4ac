//! Frames on a stream between the partners' phones: a 4-byte big-endian length, then that
//! many bytes. Each stream kind sets its own ceiling, and a frame over it closes the stream
//! with a reason instead of being dropped in silence, so a sync never stalls unseen.
//!
//! On the sync stream a frame's first byte says what it carries:
//!
//! | tag | payload |
//! |---|---|
//! | 1 | one Automerge sync message |
//! | 2 | nothing: "still here", sent once a second when there is nothing else to say |
//! | 3 | hello: the 16-byte couple id, then 1 if this phone's person checked the safety words, else 0 (17 bytes). Sent first, and again when that changes |
//! | 4 | a piece of a sync message longer than [`PIECE`]: its next bytes. The message's last piece goes as its own tag (1 or 5), and the receiver joins them |
//! | 5 | one Automerge sync message, compressed with DEFLATE ([`packed`]); it may inflate to at most [`MAX_SYNC_MESSAGE`] |
//!
//! A sync message of [`PACK_FROM`] bytes or more goes compressed when that makes it
//! smaller: changes carry their text and ids as they are, so a hundred entries written
//! while the partner was away go in about a tenth of their bytes. A first sync's
//! document is compressed already, and goes much as it is.
//!
//! A large sync message (a first sync) goes in pieces of at most [`PIECE`] bytes, so no
//! frame takes long on a slow Wi-Fi and the time each takes shows progress; the pieces
//! of one message may add up to [`MAX_SYNC_MESSAGE`].
//!
//! A phone sends sync messages only after its own person and (from the partner's hello)
//! the partner's have both checked the words, and applies none before that.

use automerge::sync;
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The largest sync frame sent or accepted: room for a first sync of about a hundred
/// thousand entries.
pub const MAX_SYNC_FRAME: usize = 32 * 1024 * 1024;

/// The most bytes of a sync message one frame carries; a longer message goes in pieces.
pub const PIECE: usize = 64 * 1024;
/// The longest sync message accepted, whole or in pieces.
pub const MAX_SYNC_MESSAGE: usize = MAX_SYNC_FRAME;

/// Sync messages this long or longer are sent compressed, if that makes them smaller.
pub const PACK_FROM: usize = 256;

const TAG_SYNC: u8 = 1;
const TAG_PING: u8 = 2;
const TAG_HELLO: u8 = 3;
const TAG_PART: u8 = 4;
const TAG_PACKED: u8 = 5;

/// Whether a frame with this tag ends a sync message (whole, or its last piece).
fn ends_message(tag: u8) -> bool {
    tag == TAG_SYNC || tag == TAG_PACKED
}

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("a frame of {len} bytes is over the limit of {max}")]
    TooLong { len: usize, max: usize },
    #[error("an empty frame")]
    Empty,
    #[error("an unknown frame tag {0}")]
    UnknownTag(u8),
    #[error("a ping frame with {0} bytes of payload")]
    PingWithPayload(usize),
    #[error("a hello frame that can't be read")]
    BadHello,
    #[error("a sync message that can't be read: {0}")]
    BadSyncMessage(String),
    #[error("a sync message of more than {max} bytes")]
    MessageTooLong { max: usize },
    #[error("a compressed sync message that can't be inflated")]
    BadPacking,
    #[error("a sync message broken off before its last piece")]
    BrokenOff,
    #[error("the stream ended in the middle of a frame")]
    Truncated,
    #[error("the connection failed: {0}")]
    Io(#[from] std::io::Error),
}

/// What one frame on the sync stream says.
#[derive(Debug)]
pub enum SyncFrame {
    Sync(sync::Message),
    Ping,
    /// Which pairing this phone is in, and whether its person checked the words.
    Hello {
        couple: [u8; 16],
        confirmed: bool,
    },
}

impl SyncFrame {
    /// The frame's body, without the length prefix, uncompressed: what [`packed`] sends.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            SyncFrame::Sync(message) => {
                let bytes = message.clone().encode();
                let mut out = Vec::with_capacity(bytes.len() + 1);
                out.push(TAG_SYNC);
                out.extend_from_slice(&bytes);
                out
            }
            SyncFrame::Ping => vec![TAG_PING],
            SyncFrame::Hello { couple, confirmed } => {
                let mut out = Vec::with_capacity(18);
                out.push(TAG_HELLO);
                out.extend_from_slice(couple);
                out.push(u8::from(*confirmed));
                out
            }
        }
    }

    /// Reads a frame's body, strictly.
    pub fn decode(body: &[u8]) -> Result<SyncFrame, FrameError> {
        let (&tag, rest) = body.split_first().ok_or(FrameError::Empty)?;
        match tag {
            TAG_SYNC => {
                sync::Message::decode(rest).map(SyncFrame::Sync).map_err(|e| FrameError::BadSyncMessage(e.to_string()))
            }
            TAG_PACKED => {
                let message = inflate(rest)?;
                sync::Message::decode(&message)
                    .map(SyncFrame::Sync)
                    .map_err(|e| FrameError::BadSyncMessage(e.to_string()))
            }
            TAG_PING if rest.is_empty() => Ok(SyncFrame::Ping),
            TAG_PING => Err(FrameError::PingWithPayload(rest.len())),
            TAG_HELLO => match rest {
                [couple @ .., confirmed @ (0 | 1)] if couple.len() == 16 => {
                    let couple = <[u8; 16]>::try_from(couple).map_err(|_| FrameError::BadHello)?;
                    Ok(SyncFrame::Hello { couple, confirmed: *confirmed == 1 })
                }
                _ => Err(FrameError::BadHello),
            },
            other => Err(FrameError::UnknownTag(other)),
        }
    }
}

/// The body that goes on the wire for `body` (from [`SyncFrame::encode`]): a sync message
/// of [`PACK_FROM`] bytes or more compressed, when that makes it smaller; anything else
/// as it is.
pub fn packed(body: &[u8]) -> Vec<u8> {
    use std::io::Write;
    match body.split_first() {
        Some((&TAG_SYNC, message)) if message.len() >= PACK_FROM && !already_packed(message) => {
            let mut out = flate2::write::DeflateEncoder::new(vec![TAG_PACKED], flate2::Compression::default());
            match out.write_all(message).and_then(|()| out.finish()) {
                Ok(packed) if packed.len() < body.len() => packed,
                _ => body.to_vec(),
            }
        }
        _ => body.to_vec(),
    }
}

/// Whether a long message is already compressed (a whole document, whose columns
/// Automerge deflates): a piece from its middle does not shrink by a tenth. Compressing it
/// again would cost both phones time for almost no bytes.
fn already_packed(message: &[u8]) -> bool {
    use std::io::Write;
    if message.len() < SAMPLE_FROM {
        return false;
    }
    let middle = message.len() / 2 - SAMPLE / 2;
    let sample = &message[middle..middle + SAMPLE];
    let mut out = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    match out.write_all(sample).and_then(|()| out.finish()) {
        Ok(packed) => packed.len() * 10 > sample.len() * 9,
        Err(_) => false,
    }
}

/// Messages this long or longer are sampled before they are compressed.
const SAMPLE_FROM: usize = 64 * 1024;
/// How much of a long message is compressed to judge it.
const SAMPLE: usize = 16 * 1024;

/// A compressed message, inflated; one that would pass [`MAX_SYNC_MESSAGE`] is refused
/// as soon as it does, so a small frame can't make the phone hold gigabytes.
fn inflate(packed: &[u8]) -> Result<Vec<u8>, FrameError> {
    use std::io::Read;
    let mut message = Vec::new();
    let limit = MAX_SYNC_MESSAGE as u64 + 1;
    flate2::read::DeflateDecoder::new(packed)
        .take(limit)
        .read_to_end(&mut message)
        .map_err(|_| FrameError::BadPacking)?;
    if message.len() > MAX_SYNC_MESSAGE {
        return Err(FrameError::MessageTooLong { max: MAX_SYNC_MESSAGE });
    }
    Ok(message)
}

/// The frames one frame body goes as: itself, or, for a sync message (compressed or
/// not) longer than [`PIECE`], its pieces, the last with the message's own tag.
pub fn pieces(body: &[u8]) -> Vec<Vec<u8>> {
    match body.split_first() {
        Some((&tag, message)) if ends_message(tag) && message.len() > PIECE => {
            let mut parts: Vec<Vec<u8>> = message.chunks(PIECE).map(|c| [&[TAG_PART][..], c].concat()).collect();
            if let Some(last) = parts.last_mut() {
                last[0] = tag;
            }
            parts
        }
        _ => vec![body.to_vec()],
    }
}

/// Joins the pieces of a sync message as they arrive, up to [`MAX_SYNC_MESSAGE`].
#[derive(Default)]
pub struct Assembler {
    pending: Vec<u8>,
}

impl Assembler {
    /// A frame body as it arrived: `Some` whole body to decode, or `None` when it was a
    /// piece of a message still coming.
    pub fn push(&mut self, body: Vec<u8>) -> Result<Option<Vec<u8>>, FrameError> {
        let Some(&tag) = body.first() else {
            return if self.pending.is_empty() { Ok(Some(body)) } else { Err(FrameError::BrokenOff) };
        };
        let piece = tag == TAG_PART;
        if !piece && !self.pending.is_empty() && !ends_message(tag) {
            return Err(FrameError::BrokenOff);
        }
        if !piece && self.pending.is_empty() {
            return Ok(Some(body));
        }
        let payload = &body[1..];
        // The message so far (its first byte is room for the tag) and this piece.
        if self.pending.len().saturating_sub(1) + payload.len() > MAX_SYNC_MESSAGE {
            return Err(FrameError::MessageTooLong { max: MAX_SYNC_MESSAGE });
        }
        if self.pending.is_empty() {
            self.pending.push(TAG_PART);
        }
        self.pending.extend_from_slice(payload);
        if piece {
            return Ok(None);
        }
        // The last piece says what the joined message is.
        let mut whole = std::mem::take(&mut self.pending);
        whole[0] = tag;
        Ok(Some(whole))
    }

    /// Bytes held for a message still coming.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

/// Puts the length prefix in front of a body.
pub fn prefixed(body: &[u8], max: usize) -> Result<Vec<u8>, FrameError> {
    if body.len() > max {
        return Err(FrameError::TooLong { len: body.len(), max });
    }
    let len = u32::try_from(body.len()).map_err(|_| FrameError::TooLong { len: body.len(), max })?;
    let mut out = Vec::with_capacity(body.len() + 4);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(body);
    Ok(out)
}

/// Splits a byte stream into frame bodies, as a peer would have them arrive: every whole
/// frame, then an error for whatever is left that is not one. Used by the fuzz targets
/// and tests; the network reads with [`read_body`].
pub fn split(mut bytes: &[u8], max: usize) -> Result<Vec<&[u8]>, FrameError> {
    let mut bodies = Vec::new();
    while !bytes.is_empty() {
        let Some((header, rest)) = bytes.split_first_chunk::<4>() else { return Err(FrameError::Truncated) };
        let len = u32::from_be_bytes(*header) as usize;
        if len > max {
            return Err(FrameError::TooLong { len, max });
        }
        if rest.len() < len {
            return Err(FrameError::Truncated);
        }
        let (body, rest) = rest.split_at(len);
        bodies.push(body);
        bytes = rest;
    }
    Ok(bodies)
}

/// Reads one frame body from a stream; `Ok(None)` when the stream ends between frames.
pub async fn read_body<R: AsyncRead + Unpin>(reader: &mut R, max: usize) -> Result<Option<Vec<u8>>, FrameError> {
    let mut header = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        let n = reader.read(&mut header[got..]).await?;
        if n == 0 {
            return if got == 0 { Ok(None) } else { Err(FrameError::Truncated) };
        }
        got += n;
    }
    let len = u32::from_be_bytes(header) as usize;
    if len > max {
        return Err(FrameError::TooLong { len, max });
    }
    // The buffer grows with what actually arrives, a step at a time and never past the
    // frame's length: one that promises 32 MiB and then trickles costs only what was sent.
    const STEP: usize = 64 * 1024;
    let mut body = Vec::new();
    while body.len() < len {
        let start = body.len();
        body.resize(start + STEP.min(len - start), 0);
        let n = reader.read(&mut body[start..]).await?;
        if n == 0 {
            return Err(FrameError::Truncated);
        }
        body.truncate(start + n);
    }
    Ok(Some(body))
}

/// Writes one frame and flushes it.
pub async fn write_body<W: AsyncWrite + Unpin>(writer: &mut W, body: &[u8], max: usize) -> Result<usize, FrameError> {
    let bytes = prefixed(body, max)?;
    writer.write_all(&bytes).await?;
    writer.flush().await?;
    Ok(bytes.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_bad_ones_are_named() {
        use automerge::sync::SyncDoc;
        let doc = automerge::Automerge::new();
        let message = doc.generate_sync_message(&mut sync::State::new()).unwrap();
        let mut wire = prefixed(&SyncFrame::Sync(message).encode(), MAX_SYNC_FRAME).unwrap();
        wire.extend(prefixed(&SyncFrame::Ping.encode(), MAX_SYNC_FRAME).unwrap());
        let hello = SyncFrame::Hello { couple: [7; 16], confirmed: true };
        wire.extend(prefixed(&hello.encode(), MAX_SYNC_FRAME).unwrap());
        let bodies = split(&wire, MAX_SYNC_FRAME).unwrap();
        assert!(matches!(SyncFrame::decode(bodies[0]).unwrap(), SyncFrame::Sync(_)));
        assert!(matches!(SyncFrame::decode(bodies[1]).unwrap(), SyncFrame::Ping));
        assert!(
            matches!(SyncFrame::decode(bodies[2]).unwrap(), SyncFrame::Hello { couple, confirmed: true } if couple == [7; 16])
        );
        // A hello of the wrong length, or with a flag that is not 0 or 1, is refused.
        for bad in [&[3u8][..], &[3; 17], &[3; 19], &[[3].as_slice(), &[0; 16], &[2]].concat()] {
            assert!(matches!(SyncFrame::decode(bad), Err(FrameError::BadHello)), "{bad:?}");
        }
        assert!(matches!(
            SyncFrame::decode(&[[3].as_slice(), &[0; 16], &[0]].concat()),
            Ok(SyncFrame::Hello { confirmed: false, .. })
        ));

        assert!(matches!(split(&wire[..wire.len() - 1], MAX_SYNC_FRAME), Err(FrameError::Truncated)));
        assert!(matches!(split(&[0, 0, 1, 0], 100), Err(FrameError::TooLong { len: 256, max: 100 })));
        assert!(matches!(SyncFrame::decode(&[]), Err(FrameError::Empty)));
        assert!(matches!(SyncFrame::decode(&[9]), Err(FrameError::UnknownTag(9))));
        assert!(matches!(SyncFrame::decode(&[2, 0]), Err(FrameError::PingWithPayload(1))));
        assert!(matches!(SyncFrame::decode(&[1, 0x42, 0xff]), Err(FrameError::BadSyncMessage(_))));
        assert!(matches!(prefixed(&[0; 11], 10), Err(FrameError::TooLong { .. })));
    }

    /// A sync message as a catch-up makes it: `entries` new changes, each an entry with
    /// its ids and words as they are, to a phone that holds three times as many already.
    fn wordy_message(entries: usize) -> sync::Message {
        use automerge::sync::SyncDoc;
        use automerge::transaction::Transactable;
        let write = |doc: &mut automerge::Automerge, i: usize| {
            let mut tx = doc.transaction();
            let key = format!("0192f1c4-8a2b-7c3d-9e4f-{i:012x}");
            let entry = tx.put_object(automerge::ROOT, key, automerge::ObjType::Map).unwrap();
            tx.put(&entry, "kind", "agreement").unwrap();
            tx.put(&entry, "text", format!("Text when running late, number {i}")).unwrap();
            tx.put(&entry, "author", "7d3e9a10-5b2c-4f6e-8a1d-2c3b4a5d6e7f").unwrap();
            tx.commit();
        };
        let mut doc = automerge::Automerge::new();
        for i in 0..entries * 3 {
            write(&mut doc, i);
        }
        let mut theirs = doc.fork();
        let (mut ours, mut their_state) = (sync::State::new(), sync::State::new());
        // Both learn what the other holds.
        for _ in 0..4 {
            if let Some(m) = doc.generate_sync_message(&mut ours) {
                theirs.receive_sync_message(&mut their_state, m).unwrap();
            }
            if let Some(m) = theirs.generate_sync_message(&mut their_state) {
                doc.receive_sync_message(&mut ours, m).unwrap();
            }
        }
        for i in entries * 3..entries * 4 {
            write(&mut doc, i);
        }
        doc.generate_sync_message(&mut ours).unwrap()
    }

    #[test]
    fn a_wordy_sync_message_goes_compressed_and_reads_back_the_same() {
        let message = wordy_message(100);
        let plain = SyncFrame::Sync(message.clone()).encode();
        assert!(plain.len() > 100 * 100, "the hundred entries' text is in it: {} bytes", plain.len());
        let wire = packed(&plain);
        assert_eq!(wire[0], TAG_PACKED);
        assert!(wire.len() * 3 < plain.len(), "{} bytes packed from {}", wire.len(), plain.len());
        match SyncFrame::decode(&wire).unwrap() {
            SyncFrame::Sync(back) => assert_eq!(back.encode(), message.clone().encode()),
            other => panic!("{other:?}"),
        }
        // A short message, a ping and a hello go as they are.
        let short = SyncFrame::Sync(
            automerge::sync::SyncDoc::generate_sync_message(&automerge::Automerge::new(), &mut sync::State::new())
                .unwrap(),
        )
        .encode();
        assert!(short.len() < PACK_FROM);
        for body in [short, SyncFrame::Ping.encode(), SyncFrame::Hello { couple: [1; 16], confirmed: true }.encode()] {
            assert_eq!(packed(&body), body);
        }
        // Compressed and long, it goes in pieces, the last one saying it is compressed.
        let long = packed(&SyncFrame::Sync(wordy_message(1_500)).encode());
        let parts = pieces(&long);
        assert!(parts.len() >= 2, "{} bytes", long.len());
        assert_eq!(parts.last().unwrap()[0], TAG_PACKED);
        let mut joiner = Assembler::default();
        let joined = parts.into_iter().filter_map(|p| joiner.push(p).unwrap()).collect::<Vec<_>>();
        assert_eq!(joined, vec![long.clone()]);
        assert!(matches!(SyncFrame::decode(&long).unwrap(), SyncFrame::Sync(_)));
    }

    #[test]
    fn a_whole_document_goes_as_it_is_for_it_is_compressed_already() {
        use automerge::sync::SyncDoc;
        use automerge::transaction::Transactable;
        // A phone that holds nothing is sent the whole document, its columns deflated.
        let mut doc = automerge::Automerge::new();
        let mut tx = doc.transaction();
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        for i in 0..4_000 {
            let entry = tx.put_object(automerge::ROOT, format!("entry-{i}"), automerge::ObjType::Map).unwrap();
            // Text that varies as much as people's does.
            let text: String = (0..48)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    char::from(b'a' + (seed % 26) as u8)
                })
                .collect();
            tx.put(&entry, "text", text).unwrap();
        }
        tx.commit();
        let mut empty = automerge::Automerge::new();
        let (mut ours, mut theirs) = (sync::State::new(), sync::State::new());
        let mut whole = None;
        for _ in 0..3 {
            if let Some(m) = doc.generate_sync_message(&mut ours) {
                if m.changes.iter().next().is_some_and(|chunk| chunk.get(8) == Some(&0)) {
                    whole = Some(m.clone());
                }
                empty.receive_sync_message(&mut theirs, m).unwrap();
            }
            if let Some(m) = empty.generate_sync_message(&mut theirs) {
                doc.receive_sync_message(&mut ours, m).unwrap();
            }
        }
        let whole = whole.expect("a message carried the whole document");
        let body = SyncFrame::Sync(whole.clone()).encode();
        assert!(body.len() > SAMPLE_FROM, "{} bytes", body.len());
        assert_eq!(packed(&body), body, "sent as it is");
        match SyncFrame::decode(&body).unwrap() {
            SyncFrame::Sync(back) => assert_eq!(back.encode(), whole.encode()),
            other => panic!("{other:?}"),
        }
        // As long, but wordy: compressed.
        let wordy = SyncFrame::Sync(wordy_message(1_500)).encode();
        assert!(wordy.len() > SAMPLE_FROM);
        assert_eq!(packed(&wordy)[0], TAG_PACKED);
    }

    #[test]
    fn a_compressed_frame_may_not_inflate_past_the_longest_message_nor_be_junk() {
        use std::io::Write;
        // 33 kB that inflate to one byte over the longest message.
        let mut bomb = flate2::write::DeflateEncoder::new(vec![TAG_PACKED], flate2::Compression::best());
        bomb.write_all(&vec![0u8; MAX_SYNC_MESSAGE + 1]).unwrap();
        let bomb = bomb.finish().unwrap();
        assert!(bomb.len() < 64 * 1024, "{}", bomb.len());
        assert!(matches!(SyncFrame::decode(&bomb), Err(FrameError::MessageTooLong { .. })));
        assert!(matches!(SyncFrame::decode(&[TAG_PACKED, 0xff, 0x00, 0x13]), Err(FrameError::BadPacking)));
        // Inflating to something that isn't a sync message is named as that.
        let mut not_a_message = flate2::write::DeflateEncoder::new(vec![TAG_PACKED], flate2::Compression::fast());
        not_a_message.write_all(b"hello there").unwrap();
        let not_a_message = not_a_message.finish().unwrap();
        assert!(matches!(SyncFrame::decode(&not_a_message), Err(FrameError::BadSyncMessage(_))));
    }

    #[test]
    fn a_long_sync_message_goes_in_pieces_and_is_joined_whole() {
        let long: Vec<u8> = [&[TAG_SYNC][..], &(0..(PIECE * 2 + 10)).map(|i| i as u8).collect::<Vec<_>>()].concat();
        let parts = pieces(&long);
        assert_eq!(parts.len(), 3);
        assert!(parts.iter().all(|p| p.len() <= PIECE + 1));
        assert_eq!((parts[0][0], parts[1][0], parts[2][0]), (TAG_PART, TAG_PART, TAG_SYNC));
        let mut joiner = Assembler::default();
        assert_eq!(joiner.push(parts[0].clone()).unwrap(), None);
        assert_eq!(joiner.push(parts[1].clone()).unwrap(), None);
        assert_eq!(joiner.push(parts[2].clone()).unwrap(), Some(long.clone()));
        assert_eq!(joiner.pending(), 0);
        // A short message, a ping or a hello is one frame, as it was.
        let short = [TAG_SYNC, 1, 2, 3].to_vec();
        assert_eq!(pieces(&short), vec![short.clone()]);
        assert_eq!(joiner.push(short.clone()).unwrap(), Some(short));
        assert_eq!(joiner.push(vec![TAG_PING]).unwrap(), Some(vec![TAG_PING]));
        // A ping between two pieces breaks the message off.
        joiner.push(parts[0].clone()).unwrap();
        assert!(matches!(joiner.push(vec![TAG_PING]), Err(FrameError::BrokenOff)));
    }

    #[test]
    fn pieces_may_not_add_up_past_the_longest_message() {
        let mut joiner = Assembler::default();
        let piece = [&[TAG_PART][..], &vec![0u8; PIECE]].concat();
        let mut refused = None;
        for n in 0..(MAX_SYNC_MESSAGE / PIECE + 2) {
            if let Err(e) = joiner.push(piece.clone()) {
                refused = Some((n, e));
                break;
            }
        }
        let (n, e) = refused.expect("refused");
        assert!(matches!(e, FrameError::MessageTooLong { .. }));
        assert_eq!(n, MAX_SYNC_MESSAGE / PIECE, "refused at the piece that passes the limit");
        assert!(joiner.pending() <= MAX_SYNC_MESSAGE + 1, "the message and its tag");
    }

    #[test]
    fn a_stream_read_stops_cleanly_between_frames_and_not_inside_one() {
        let wire = prefixed(b"abc", 10).unwrap();
        futures::executor::block_on(async {
            let mut whole = futures::io::Cursor::new(wire.clone());
            assert_eq!(read_body(&mut whole, 10).await.unwrap().unwrap(), b"abc");
            assert!(read_body(&mut whole, 10).await.unwrap().is_none());
            let mut cut = futures::io::Cursor::new(wire[..5].to_vec());
            assert!(matches!(read_body(&mut cut, 10).await, Err(FrameError::Truncated)));
            let mut big = futures::io::Cursor::new(wire);
            assert!(matches!(read_body(&mut big, 2).await, Err(FrameError::TooLong { len: 3, max: 2 })));
        });
    }
}
