//! How big the changes in a sync message become once inflated, found before Automerge
//! inflates them. Automerge keeps compressed changes, and compressed columns in a whole
//! document or a bundle of changes, as DEFLATE, and inflates them without a limit: a
//! 32 MiB message from a modified app could become gigabytes. This walks the chunks in
//! Automerge's storage format (a header, then for a document or a bundle its column
//! metadata) and inflates each compressed part through a reader that stops at the bound.
//! What it can't read it leaves to Automerge, which refuses it.

use std::io::{Read, Write};

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const DOCUMENT: u8 = 0;
const CHANGE: u8 = 1;
const COMPRESSED: u8 = 2;
const BUNDLE: u8 = 3;
/// A column spec's bit for "this column is DEFLATE-compressed".
const DEFLATE: u64 = 0b1000;

/// Over the bound: the bytes the chunks would take once inflated, as far as counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooBig(pub u64);

/// The bytes `chunks` take once inflated, or [`TooBig`] as soon as that passes `limit`.
pub fn inflated_size<'a>(chunks: impl IntoIterator<Item = &'a [u8]>, limit: u64) -> Result<u64, TooBig> {
    walk(chunks, limit, &mut std::io::sink())
}

/// The bytes of `chunks` with every compressed part inflated, for reading what a
/// message carries (tests search it for text that must, or must not, be there).
pub fn inflated<'a>(chunks: impl IntoIterator<Item = &'a [u8]>, limit: u64) -> Result<Vec<u8>, TooBig> {
    let mut out = Vec::new();
    walk(chunks, limit, &mut out)?;
    Ok(out)
}

fn walk<'a>(chunks: impl IntoIterator<Item = &'a [u8]>, limit: u64, out: &mut dyn Write) -> Result<u64, TooBig> {
    let mut total = 0u64;
    for bytes in chunks {
        let mut rest = bytes;
        while let Some((kind, data, after)) = chunk(rest) {
            rest = after;
            total = match kind {
                CHANGE => {
                    let _ = out.write_all(data);
                    add(total, data.len() as u64, limit)?
                }
                COMPRESSED => add(total, inflate(data, total, limit, out)?, limit)?,
                DOCUMENT => columns(data, total, limit, Layout::Document, out)?,
                BUNDLE => columns(data, total, limit, Layout::Bundle, out)?,
                _ => return Ok(total),
            };
        }
    }
    Ok(total)
}

fn add(total: u64, more: u64, limit: u64) -> Result<u64, TooBig> {
    let sum = total.saturating_add(more);
    if sum > limit { Err(TooBig(sum)) } else { Ok(sum) }
}

/// One chunk: its type, its data, and what follows it.
fn chunk(bytes: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    if bytes.len() < 9 || bytes[..4] != MAGIC {
        return None;
    }
    let kind = bytes[8];
    let (len, rest) = uleb(&bytes[9..])?;
    let len = usize::try_from(len).ok().filter(|&l| l <= rest.len())?;
    Some((kind, &rest[..len], &rest[len..]))
}

pub(super) fn uleb(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut value = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f).checked_shl(7 * i as u32)?;
        if b & 0x80 == 0 {
            return Some((value, &bytes[i + 1..]));
        }
    }
    None
}

/// Skips `count` items read by `item`, where `count` is a ULEB prefix.
fn skip_list<'a>(bytes: &'a [u8], item: impl Fn(&'a [u8]) -> Option<&'a [u8]>) -> Option<&'a [u8]> {
    let (count, mut rest) = uleb(bytes)?;
    for _ in 0..count {
        rest = item(rest)?;
    }
    Some(rest)
}

fn skip_actor(bytes: &[u8]) -> Option<&[u8]> {
    let (len, rest) = uleb(bytes)?;
    rest.get(usize::try_from(len).ok()?..)
}

fn skip_hash(bytes: &[u8]) -> Option<&[u8]> {
    bytes.get(32..)
}

/// Each column's spec and length, as a column list's metadata gives them.
type Columns = Vec<(u64, u64)>;

/// A column list's metadata, and what follows it.
fn column_meta(bytes: &[u8]) -> Option<(Columns, &[u8])> {
    let (count, mut rest) = uleb(bytes)?;
    let mut cols = Vec::new();
    for _ in 0..count.min(1024) {
        let (spec, r) = uleb(rest)?;
        let (len, r) = uleb(r)?;
        cols.push((spec, len));
        rest = r;
    }
    (count <= 1024).then_some((cols, rest))
}

#[derive(Clone, Copy)]
enum Layout {
    /// Actors, heads, change metadata, op metadata, change data, op data.
    Document,
    /// Dependencies, actors, change metadata, change data, op metadata, op data.
    Bundle,
}

/// Adds a document's or a bundle's columns, inflating the compressed ones.
fn columns(data: &[u8], total: u64, limit: u64, layout: Layout, out: &mut dyn Write) -> Result<u64, TooBig> {
    let Some(groups) = column_groups(data, layout) else {
        let _ = out.write_all(data);
        return add(total, data.len() as u64, limit);
    };
    let mut total = total;
    for (cols, mut bytes) in groups {
        for (spec, len) in cols {
            let Some(len) = usize::try_from(len).ok().filter(|&l| l <= bytes.len()) else { return Ok(total) };
            let (column, rest) = bytes.split_at(len);
            bytes = rest;
            let size = if spec & DEFLATE != 0 {
                inflate(column, total, limit, out)?
            } else {
                let _ = out.write_all(column);
                len as u64
            };
            total = add(total, size, limit)?;
        }
    }
    Ok(total)
}

/// The two column groups (changes, then ops) with the bytes their data starts at.
fn column_groups(data: &[u8], layout: Layout) -> Option<[(Columns, &[u8]); 2]> {
    let sum = |cols: &[(u64, u64)]| cols.iter().try_fold(0u64, |s, (_, l)| s.checked_add(*l));
    match layout {
        Layout::Document => {
            let rest = skip_list(data, skip_actor)?;
            let rest = skip_list(rest, skip_hash)?;
            let (changes, rest) = column_meta(rest)?;
            let (ops, rest) = column_meta(rest)?;
            let ops_at = rest.get(usize::try_from(sum(&changes)?).ok()?..)?;
            Some([(changes, rest), (ops, ops_at)])
        }
        Layout::Bundle => {
            let rest = skip_list(data, skip_hash)?;
            let rest = skip_list(rest, skip_actor)?;
            let (changes, rest) = column_meta(rest)?;
            let after = rest.get(usize::try_from(sum(&changes)?).ok()?..)?;
            let (ops, ops_at) = column_meta(after)?;
            Some([(changes, rest), (ops, ops_at)])
        }
    }
}

/// The size `deflated` inflates to, reading no further than one byte past what would
/// take `total` over `limit`.
fn inflate(deflated: &[u8], total: u64, limit: u64, out: &mut dyn Write) -> Result<u64, TooBig> {
    let room = limit.saturating_sub(total);
    let decoder = flate2::bufread::DeflateDecoder::new(deflated);
    // Bad DEFLATE stops the count; Automerge refuses the chunk itself.
    let n = std::io::copy(&mut decoder.take(room.saturating_add(1)), out).unwrap_or(0);
    if n > room { Err(TooBig(total.saturating_add(n))) } else { Ok(n) }
}

/// A stop for inflating inside [`declared_rows`], whose caller has already bounded what
/// the chunks inflate to with [`inflated_size`].
const INFLATE_AT_MOST: u64 = 256 * 1024 * 1024;

/// Over the bound: the rows one column declares, as far as counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooMany(pub u64);

/// The most rows any one column of `chunks` declares (ops, or the changes of a document),
/// or [`TooMany`] as soon as one passes `limit`. Automerge's columns are run-length
/// encoded, so a few bytes can declare a billion operations, which Automerge would build
/// one by one; this counts the runs without building anything. Inflating a compressed
/// change here is bounded by [`inflated_size`], which the caller has checked first.
pub fn declared_rows<'a>(chunks: impl IntoIterator<Item = &'a [u8]>, limit: u64) -> Result<u64, TooMany> {
    let mut most = 0u64;
    for bytes in chunks {
        let mut rest = bytes;
        while let Some((kind, data, after)) = chunk(rest) {
            rest = after;
            let rows = match kind {
                CHANGE => change_rows(data, limit),
                COMPRESSED => {
                    let mut inflated = Vec::new();
                    let decoder = flate2::bufread::DeflateDecoder::new(data);
                    let _ = decoder.take(INFLATE_AT_MOST).read_to_end(&mut inflated);
                    change_rows(&inflated, limit)
                }
                DOCUMENT => group_rows(data, Layout::Document, limit),
                BUNDLE => group_rows(data, Layout::Bundle, limit),
                _ => return Ok(most),
            };
            most = most.max(rows);
            if most > limit {
                return Err(TooMany(most));
            }
        }
    }
    Ok(most)
}

/// A change's columns come after its header: dependencies, actor, sequence number, start
/// op, time, message and the other actors.
fn change_rows(data: &[u8], limit: u64) -> u64 {
    let header = (|| {
        let rest = skip_list(data, skip_hash)?;
        let rest = skip_actor(rest)?;
        let (_seq, rest) = uleb(rest)?;
        let (_start, rest) = uleb(rest)?;
        let (_time, rest) = uleb(rest)?; // a signed LEB128 has the same length
        let rest = skip_actor(rest)?; // the message: a length and its bytes
        let rest = skip_list(rest, skip_actor)?;
        column_meta(rest)
    })();
    let Some((cols, bytes)) = header else { return 0 };
    columns_rows(&cols, bytes, limit)
}

fn group_rows(data: &[u8], layout: Layout, limit: u64) -> u64 {
    let Some(groups) = column_groups(data, layout) else { return 0 };
    groups.iter().map(|(cols, bytes)| columns_rows(cols, bytes, limit)).max().unwrap_or(0)
}

/// The most rows one of `cols` declares, their data starting at `bytes`.
fn columns_rows(cols: &[(u64, u64)], mut bytes: &[u8], limit: u64) -> u64 {
    let mut most = 0;
    for &(spec, len) in cols {
        let Some(len) = usize::try_from(len).ok().filter(|&l| l <= bytes.len()) else { break };
        let (column, rest) = bytes.split_at(len);
        bytes = rest;
        let rows = if spec & DEFLATE != 0 {
            let mut inflated = Vec::new();
            let _ = flate2::bufread::DeflateDecoder::new(column).take(INFLATE_AT_MOST).read_to_end(&mut inflated);
            column_rows(spec & 0b111, &inflated, limit)
        } else {
            column_rows(spec & 0b111, column, limit)
        };
        most = most.max(rows);
        if most > limit {
            break;
        }
    }
    most
}

/// The rows a column of `kind` declares: booleans as alternating run lengths, raw values
/// none of their own, and the rest as runs of values, literal values, or nulls.
fn column_rows(kind: u64, mut data: &[u8], limit: u64) -> u64 {
    const BOOLEAN: u64 = 4;
    const STRING: u64 = 5;
    const RAW: u64 = 7;
    let value = |bytes: &[u8]| -> Option<usize> {
        match kind {
            STRING => {
                let (len, rest) = uleb(bytes)?;
                let len = usize::try_from(len).ok().filter(|&l| l <= rest.len())?;
                Some(bytes.len() - rest.len() + len)
            }
            _ => Some(bytes.len() - uleb(bytes)?.1.len()),
        }
    };
    let mut rows = 0u64;
    while !data.is_empty() && rows <= limit {
        match kind {
            RAW => return 0,
            BOOLEAN => {
                let Some((run, rest)) = uleb(data) else { break };
                rows = rows.saturating_add(run);
                data = rest;
            }
            _ => {
                let Some((count, rest)) = sleb(data) else { break };
                data = rest;
                if count > 0 {
                    let Some(n) = value(data) else { break };
                    data = &data[n..];
                    rows = rows.saturating_add(count as u64);
                } else if count < 0 {
                    let literals = count.unsigned_abs();
                    for _ in 0..literals.min(data.len() as u64) {
                        let Some(n) = value(data) else { return rows };
                        data = &data[n..];
                    }
                    rows = rows.saturating_add(literals);
                } else {
                    let Some((nulls, rest)) = uleb(data) else { break };
                    rows = rows.saturating_add(nulls);
                    data = rest;
                }
            }
        }
    }
    rows
}

fn sleb(bytes: &[u8]) -> Option<(i64, &[u8])> {
    let mut value = 0i64;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        let shift = 7 * i as u32;
        value |= i64::from(b & 0x7f).checked_shl(shift)?;
        if b & 0x80 == 0 {
            if shift + 7 < 64 && b & 0x40 != 0 {
                value |= -1i64 << (shift + 7);
            }
            return Some((value, &bytes[i + 1..]));
        }
    }
    None
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use automerge::AutoCommit;
    use automerge::transaction::Transactable;

    fn big_doc() -> AutoCommit {
        let mut doc = AutoCommit::new();
        // Compressible text, long enough that Automerge deflates its columns.
        doc.put(automerge::ROOT, "text", "steady ".repeat(20_000)).unwrap();
        doc
    }

    #[test]
    fn a_whole_document_a_change_and_a_compressed_change_are_counted_inflated() {
        let mut doc = big_doc();
        let saved = doc.save();
        let size = inflated_size([saved.as_slice()], u64::MAX).unwrap();
        assert!(size >= 140_000, "the text alone is 140,000 bytes: {size} (saved as {})", saved.len());
        assert!(saved.len() < 20_000, "the document's columns are compressed: {}", saved.len());
        assert!(matches!(inflated_size([saved.as_slice()], 100_000), Err(TooBig(n)) if n > 100_000));

        let change = doc.get_last_local_change().unwrap().clone();
        let raw = change.raw_bytes().to_vec();
        assert!(inflated_size([raw.as_slice()], u64::MAX).unwrap() >= 140_000);
        let mut compressed = change;
        let small = compressed.bytes().to_vec();
        assert!(small.len() < raw.len(), "stored changes are deflated: {} of {}", small.len(), raw.len());
        assert!(matches!(inflated_size([small.as_slice()], 100_000), Err(TooBig(_))));
        assert!(inflated_size([small.as_slice()], 1_000_000).is_ok());
    }

    #[test]
    fn junk_is_left_to_automerge() {
        assert_eq!(inflated_size([&b"not a chunk"[..]], 10), Ok(0));
        assert_eq!(inflated_size([&[0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 1, 0xff][..]], 10), Ok(0));
    }

    #[test]
    fn the_rows_a_change_and_a_document_declare_are_their_operations() {
        let mut doc = AutoCommit::new();
        for i in 0..300 {
            doc.put(automerge::ROOT, format!("key {i}"), i as i64).unwrap();
        }
        let change = doc.get_last_local_change().unwrap().clone();
        assert_eq!(declared_rows([change.raw_bytes()], u64::MAX), Ok(300));
        let mut compressed = change;
        assert_eq!(declared_rows([compressed.bytes().as_ref()], u64::MAX), Ok(300));
        assert_eq!(declared_rows([doc.save().as_slice()], u64::MAX), Ok(300));
        assert_eq!(declared_rows([doc.save().as_slice()], 299), Err(TooMany(300)));
    }

    /// A change whose one column says "this value, a hundred million times" in six bytes.
    pub(crate) fn change_declaring(rows: i64) -> Vec<u8> {
        let leb = |mut v: u64, out: &mut Vec<u8>| loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                break;
            }
            out.push(b | 0x80);
        };
        let mut column = Vec::new();
        // A signed run length (positive: a run), then the value 5.
        let mut n = rows;
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            if (n == 0 && b & 0x40 == 0) || (n == -1 && b & 0x40 != 0) {
                column.push(b);
                break;
            }
            column.push(b | 0x80);
        }
        column.push(5);
        let mut data = vec![0]; // no dependencies
        data.push(16);
        data.extend([7u8; 16]); // the actor
        data.extend([1, 1, 0, 0, 0]); // seq, start op, time, no message, no other actors
        data.push(1); // one column: id 1, unsigned integers
        leb(0x12, &mut data);
        leb(column.len() as u64, &mut data);
        data.extend(column);
        let mut hashed = vec![CHANGE];
        leb(data.len() as u64, &mut hashed);
        hashed.extend(&data);
        let checksum = <sha2::Sha256 as sha2::Digest>::digest(&hashed);
        let mut chunk = MAGIC.to_vec();
        chunk.extend(&checksum[..4]);
        chunk.extend(hashed);
        chunk
    }

    #[test]
    fn a_run_length_that_declares_a_hundred_million_operations_is_counted_not_built() {
        let chunk = change_declaring(100_000_000);
        assert!(chunk.len() < 64, "{} bytes", chunk.len());
        assert_eq!(declared_rows([chunk.as_slice()], u64::MAX), Ok(100_000_000));
        assert_eq!(declared_rows([chunk.as_slice()], 1_000_000), Err(TooMany(100_000_000)));
        // Literals and nulls count too.
        assert_eq!(column_rows(2, &[0x7d, 1, 2, 3], 100), 3);
        assert_eq!(column_rows(2, &[0, 0x90, 0x4e], 100_000), 10_000);
        assert_eq!(column_rows(4, &[3, 4, 5], 100), 12);
        assert_eq!(column_rows(7, &[1, 2, 3], 100), 0);
    }
}
