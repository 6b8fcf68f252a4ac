//! The shared document on disk: a snapshot plus the changes made since, one row each,
//! every row sealed with the data key (`store::sealed`), whose tag also finds damage: a
//! damaged row is named rather than skipped.
//!
//! automerge's `load_incremental` skips data it can't parse with only a log line, so it is
//! never used here: a snapshot is loaded with the strict `Automerge::load`, each change is
//! parsed on its own, and a change whose ancestors are missing is reported too.

use automerge::{Automerge, Change, ReadDoc};
use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;

const SNAPSHOT: &str = "snapshot";
const CHANGE: &str = "change";

/// How many change rows may pile up before they are folded into a snapshot. The sync
/// session does it once it has said "synced" ([`super::Store::compact_if_due`]), so that
/// the save of the whole document is not in the way of a change going out or coming in.
pub const COMPACT_AFTER: usize = 256;

/// Past this many, a fold or a receive folds them itself: the bound when no session
/// gets to it.
pub const COMPACT_AT_THE_LATEST: usize = 2 * COMPACT_AFTER;

/// Where the in-memory document stands against the rows on disk.
#[derive(Clone, Copy, Debug, Default)]
pub struct ChunkCursor {
    /// The last row this process has applied.
    pub last_seq: i64,
    /// Change rows since the last snapshot.
    pub changes: usize,
}

/// One row of the chunk log, as read from disk and opened, not yet checked.
pub struct ChunkRow {
    seq: i64,
    kind: String,
    bytes: Vec<u8>,
}

/// Applies every row after `cursor.last_seq` to `doc`: at open, `doc` is empty; later,
/// this picks up what another process on this phone (the app and the command line) wrote.
pub fn catch_up(conn: &Connection, doc: &mut Automerge, cursor: &mut ChunkCursor) -> Result<(), StoreError> {
    let rows = read_rows(conn, cursor.last_seq)?;
    apply_rows(rows, doc, cursor)
}

/// The rows after `after_seq`. Reading is cheap; [`apply_rows`] does the work, and can run
/// on another thread.
pub fn read_rows(conn: &Connection, after_seq: i64) -> Result<Vec<ChunkRow>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, kind, unseal('doc_chunks', seq, bytes) FROM doc_chunks WHERE seq > ?1 ORDER BY seq",
    )?;
    let rows =
        stmt.query_map([after_seq], |row| Ok(ChunkRow { seq: row.get(0)?, kind: row.get(1)?, bytes: row.get(2)? }))?;
    match rows.collect::<Result<Vec<_>, _>>().map_err(StoreError::from) {
        Err(StoreError::Sealed) => Err(name_unsealable(conn, after_seq)),
        other => other,
    }
}

/// Which row does not open, to name it.
fn name_unsealable(conn: &Connection, after_seq: i64) -> StoreError {
    let found = (|| -> Result<Option<i64>, StoreError> {
        let seqs: Vec<i64> = conn
            .prepare("SELECT seq FROM doc_chunks WHERE seq > ?1 ORDER BY seq")?
            .query_map([after_seq], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        for seq in seqs {
            let opened = conn.query_row(
                "SELECT length(unseal('doc_chunks', seq, bytes)) FROM doc_chunks WHERE seq = ?1",
                [seq],
                |r| r.get::<_, Option<i64>>(0),
            );
            if opened.is_err() {
                return Ok(Some(seq));
            }
        }
        Ok(None)
    })();
    match found {
        Ok(Some(seq)) => StoreError::corrupt(format!("document chunk {seq} does not open with the journal's key")),
        _ => StoreError::Sealed,
    }
}

/// Checks every row and applies it to `doc`.
pub fn apply_rows(rows: Vec<ChunkRow>, doc: &mut Automerge, cursor: &mut ChunkCursor) -> Result<(), StoreError> {
    let mut changes = Vec::new();
    for ChunkRow { seq, kind, bytes } in rows {
        match kind.as_str() {
            SNAPSHOT => {
                let mut snapshot = Automerge::load(&bytes)
                    .map_err(|e| StoreError::corrupt(format!("document snapshot {seq} can't be read ({e})")))?;
                if doc.get_heads().is_empty() {
                    *doc = snapshot;
                } else {
                    doc.merge(&mut snapshot)?;
                }
                cursor.changes = 0;
            }
            CHANGE => {
                let change = Change::from_bytes(bytes)
                    .map_err(|e| StoreError::corrupt(format!("document change {seq} can't be read ({e})")))?;
                changes.push(change);
                cursor.changes += 1;
            }
            other => return Err(StoreError::corrupt(format!("document chunk {seq} has unknown kind {other:?}"))),
        }
        cursor.last_seq = seq;
    }
    if changes.is_empty() {
        return Ok(());
    }
    let hashes: Vec<_> = changes.iter().map(|c| c.hash()).collect();
    doc.apply_changes(changes)?;
    // A stored change whose ancestors are not stored stays queued, out of view. Only the
    // changes read here are checked: the document may also hold changes a peer sent out of
    // order, which the sync protocol completes in its next round.
    let waiting = hashes.iter().filter(|h| doc.get_change_by_hash(h).is_none()).count();
    if waiting > 0 {
        return Err(StoreError::corrupt(format!(
            "{waiting} stored change(s) depend on changes that are missing from the file"
        )));
    }
    Ok(())
}

/// The stored size of the document's rows when it is more than Steady opens
/// ([`super::MAX_OPENED`]). SQLite knows a blob's length from its row's header, so this
/// reads none of the bytes.
pub fn too_big_to_open(conn: &Connection) -> Result<Option<u64>, StoreError> {
    let stored: i64 =
        conn.prepare_cached("SELECT coalesce(sum(length(bytes)), 0) FROM doc_chunks")?.query_row([], |r| r.get(0))?;
    let stored = u64::try_from(stored).unwrap_or(0);
    Ok((stored > super::MAX_OPENED).then_some(stored))
}

/// Appends `bytes` as one change row without reading them: for tests.
pub fn append_unchecked(conn: &Connection, bytes: &[u8]) -> Result<(), StoreError> {
    insert(conn, CHANGE, bytes).map(|_| ())
}

/// Appends changes, one row each. The caller's transaction makes them durable.
pub fn append(conn: &Connection, changes: &[Change], cursor: &mut ChunkCursor) -> Result<(), StoreError> {
    for change in changes {
        cursor.last_seq = insert(conn, CHANGE, change.raw_bytes())?;
        cursor.changes += 1;
    }
    Ok(())
}

/// Writes one row, sealed with its own sequence number, and returns that number: the
/// one AUTOINCREMENT would give it, so no number is ever used twice.
fn insert(conn: &Connection, kind: &str, bytes: &[u8]) -> Result<i64, StoreError> {
    let last: Option<i64> = conn
        .prepare_cached("SELECT seq FROM sqlite_sequence WHERE name = 'doc_chunks'")?
        .query_row([], |r| r.get(0))
        .optional()?;
    let seq = last.unwrap_or(0) + 1;
    conn.prepare_cached("INSERT INTO doc_chunks (seq, kind, bytes) VALUES (?1, ?2, seal('doc_chunks', ?1, ?3))")?
        .execute(params![seq, kind, bytes])?;
    Ok(seq)
}

/// Replaces every row up to `cursor.last_seq` with one snapshot of `doc`. The caller must
/// have caught up first, so the snapshot holds everything the deleted rows held.
pub fn compact(conn: &Connection, doc: &Automerge, cursor: &mut ChunkCursor) -> Result<(), StoreError> {
    let bytes = doc.save();
    conn.execute("DELETE FROM doc_chunks WHERE seq <= ?1", [cursor.last_seq])?;
    cursor.last_seq = insert(conn, SNAPSHOT, &bytes)?;
    cursor.changes = 0;
    Ok(())
}
