//! How an entry sits in an SQLite row, in the private table and in the index of shared
//! entries alike: the common fields in compact columns, the rest as JSON.

use chrono::DateTime;
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::Value;

use super::StoreError;
use crate::model::fields::{self, Fields, key, timestamp_text};
use crate::model::{Entry, EntryId, PersonId};

/// A table that holds entries as rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    /// Entries only this phone holds.
    Private,
    /// The index of the shared document's entries.
    SharedIndex,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Private => "private_entries",
            Table::SharedIndex => "shared_index",
        }
    }

    fn shared(self) -> bool {
        self == Table::SharedIndex
    }
}

const COLUMNS: &str = "id, kind, author, created_at, updated_at, archived, body";

fn nanos(t: DateTime<chrono::Utc>) -> i64 {
    // Dates are checked to lie between 2000 and 2200, well inside i64 nanoseconds.
    t.timestamp_nanos_opt().unwrap_or(i64::MAX)
}

/// Writes `entry` into `table`, replacing any row with its id.
pub fn put(conn: &Connection, table: Table, entry: &Entry) -> Result<(), StoreError> {
    let mut f = entry.to_fields();
    let kind = match f.remove(key::KIND) {
        Some(Value::String(k)) => k,
        _ => String::new(),
    };
    f.retain(|k, _| !fields::is_common(k));
    let body = Value::Object(f.into_iter().collect()).to_string();
    let sql = format!("INSERT OR REPLACE INTO {} ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", table.name());
    conn.prepare_cached(&sql)?.execute(params![
        entry.id.as_uuid().as_bytes(),
        kind,
        entry.author.as_uuid().as_bytes(),
        nanos(entry.created_at),
        nanos(entry.updated_at),
        entry.archived,
        body
    ])?;
    Ok(())
}

pub fn delete(conn: &Connection, table: Table, id: EntryId) -> Result<(), StoreError> {
    let sql = format!("DELETE FROM {} WHERE id = ?1", table.name());
    conn.prepare_cached(&sql)?.execute([id.as_uuid().as_bytes()])?;
    Ok(())
}

pub fn get(conn: &Connection, table: Table, id: EntryId) -> Result<Option<Entry>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM {} WHERE id = ?1", table.name());
    let row = conn.prepare_cached(&sql)?.query_row([id.as_uuid().as_bytes()], |r| Ok(read(r, table))).optional()?;
    row.transpose()
}

/// Every entry in `table`. In the shared index, an entry whose fields this version can't
/// read is left out of the list; the document keeps it.
pub fn all(conn: &Connection, table: Table) -> Result<Vec<Entry>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM {}", table.name());
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        match read(row, table) {
            Ok(e) => out.push(e),
            Err(StoreError::UnreadableSharedEntry { .. }) => continue,
            Err(other) => return Err(other),
        }
    }
    Ok(out)
}

/// How many entries `table` holds.
pub fn count(conn: &Connection, table: Table) -> Result<i64, StoreError> {
    Ok(conn.query_row(&format!("SELECT count(*) FROM {}", table.name()), [], |r| r.get(0))?)
}

/// The id of `author`'s daily check-in for `date`, in either table.
pub fn daily_check_in(conn: &Connection, author: PersonId, date: &str) -> Result<Option<EntryId>, StoreError> {
    let id: Option<Vec<u8>> = conn
        .prepare_cached(
            "SELECT id FROM private_entries WHERE kind = ?1 AND author = ?2 AND json_extract(body, '$.date') = ?3
             UNION ALL
             SELECT id FROM shared_index WHERE kind = ?1 AND author = ?2 AND json_extract(body, '$.date') = ?3
             LIMIT 1",
        )?
        .query_row(params![fields::kind::DAILY_CHECK_IN, author.as_uuid().as_bytes(), date], |r| r.get(0))
        .optional()?;
    id.map(|bytes| uuid(&bytes).map(EntryId::from_uuid)).transpose()
}

fn uuid(bytes: &[u8]) -> Result<uuid::Uuid, StoreError> {
    uuid::Uuid::from_slice(bytes).map_err(|_| StoreError::corrupt("an entry row holds an unreadable id"))
}

fn read(row: &Row<'_>, table: Table) -> Result<Entry, StoreError> {
    let id = EntryId::from_uuid(uuid(row.get_ref(0)?.as_blob()?)?);
    let damaged = |why: String| StoreError::corrupt(format!("{} row {id} {why}", table.name()));
    let author = PersonId::from_uuid(uuid(row.get_ref(2)?.as_blob()?)?);
    let time =
        |i: usize| -> Result<String, StoreError> { Ok(timestamp_text(DateTime::from_timestamp_nanos(row.get(i)?))) };
    let mut f: Fields =
        serde_json::from_str(row.get_ref(6)?.as_str()?).map_err(|e| damaged(format!("is not valid JSON ({e})")))?;
    f.insert(key::KIND.into(), Value::String(row.get(1)?));
    f.insert(key::AUTHOR.into(), Value::String(author.to_string()));
    f.insert(key::CREATED_AT.into(), Value::String(time(3)?));
    f.insert(key::UPDATED_AT.into(), Value::String(time(4)?));
    f.insert(key::ARCHIVED.into(), Value::Bool(row.get(5)?));
    Entry::from_fields_lenient(id, table.shared(), f).map_err(|e| {
        if table.shared() {
            StoreError::UnreadableSharedEntry { id, reason: e }
        } else {
            damaged(format!("can't be read ({e})"))
        }
    })
}
