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

fn uleb(bytes: &[u8]) -> Option<(u64, &[u8])> {
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

#[cfg(test)]
mod tests {
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
}
