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
    /// Shares and changes to shared entries that wait to be sent to the partner.
    Outbox,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Private => "private_entries",
            Table::SharedIndex => "shared_index",
            Table::Outbox => "outbox",
        }
    }

    fn shared(self) -> bool {
        self != Table::Private
    }

    /// The columns a row of this table is read from, in order: the common seven, then
    /// the private table's mark of an earlier pairing.
    fn columns(self) -> &'static str {
        match self {
            Table::Private => "id, kind, author, created_at, updated_at, archived, body, shared_before",
            Table::SharedIndex | Table::Outbox => "id, kind, author, created_at, updated_at, archived, body",
        }
    }
}

fn nanos(t: DateTime<chrono::Utc>) -> i64 {
    // Dates are checked to lie between 2000 and 2200, well inside i64 nanoseconds.
    t.timestamp_nanos_opt().unwrap_or(i64::MAX)
}

/// Writes `entry` into the private table or the index, replacing any row with its id.
pub fn put(conn: &Connection, table: Table, entry: &Entry) -> Result<(), StoreError> {
    let (kind, body) = kind_and_body(entry);
    let (id, author) = (entry.id.as_uuid().as_bytes().to_vec(), entry.author.as_uuid().as_bytes().to_vec());
    let common = params![id, kind, author, nanos(entry.created_at), nanos(entry.updated_at), entry.archived, body];
    match table {
        Table::Private => {
            let mut values = common.to_vec();
            values.push(&entry.shared_before);
            conn.prepare_cached(
                "INSERT OR REPLACE INTO private_entries (id, kind, author, created_at, updated_at, archived, body, \
                 shared_before) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(values.as_slice())?;
        }
        Table::SharedIndex => {
            conn.prepare_cached(
                "INSERT OR REPLACE INTO shared_index (id, kind, author, created_at, updated_at, archived, body) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(common)?;
        }
        Table::Outbox => return Err(StoreError::corrupt("an outbox row is written with its base and time")),
    }
    Ok(())
}

/// Writes `entry` into the outbox: it will be sent as it is, no sooner than `ready_at`.
/// `base` is the entry's fields as the partner last received them, if they ever did.
pub fn put_outbox(
    conn: &Connection,
    entry: &Entry,
    ready_at: DateTime<chrono::Utc>,
    base: Option<&Fields>,
) -> Result<(), StoreError> {
    let (kind, body) = kind_and_body(entry);
    let base = base.map(|b| Value::Object(b.clone().into_iter().collect()).to_string());
    conn.prepare_cached(
        "INSERT OR REPLACE INTO outbox (id, kind, author, created_at, updated_at, archived, body, ready_at, base) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        entry.id.as_uuid().as_bytes(),
        kind,
        entry.author.as_uuid().as_bytes(),
        nanos(entry.created_at),
        nanos(entry.updated_at),
        entry.archived,
        body,
        nanos(ready_at),
        base
    ])?;
    Ok(())
}

/// One waiting row of the outbox.
pub struct Waiting {
    pub entry: Entry,
    pub ready_at: DateTime<chrono::Utc>,
    /// The entry's fields as the partner last received them; `None` for a new share.
    pub base: Option<Fields>,
}

const OUTBOX_COLUMNS: &str = "id, kind, author, created_at, updated_at, archived, body, ready_at, base";

/// The outbox, oldest first: every row, or only those ready by `ready_by`.
pub fn outbox(conn: &Connection, ready_by: Option<DateTime<chrono::Utc>>) -> Result<Vec<Waiting>, StoreError> {
    let sql = format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE ready_at <= ?1 ORDER BY ready_at, id");
    let mut stmt = conn.prepare_cached(&sql)?;
    read_outbox(stmt.query([ready_by.map(nanos).unwrap_or(i64::MAX)])?)
}

/// The outbox row of one entry, if a share or a change of it waits.
pub fn outbox_entry(conn: &Connection, id: EntryId) -> Result<Option<Waiting>, StoreError> {
    let sql = format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE id = ?1");
    let mut stmt = conn.prepare_cached(&sql)?;
    Ok(read_outbox(stmt.query([id.as_uuid().as_bytes()])?)?.pop())
}

fn read_outbox(mut rows: rusqlite::Rows<'_>) -> Result<Vec<Waiting>, StoreError> {
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let entry = read(row, Table::Outbox)?;
        let ready_at = DateTime::from_timestamp_nanos(row.get(7)?);
        let base =
            match row.get_ref(8)?.as_str_or_null()? {
                None => None,
                Some(text) => Some(serde_json::from_str(text).map_err(|e| {
                    StoreError::corrupt(format!("outbox row {} has an unreadable base ({e})", entry.id))
                })?),
            };
        out.push(Waiting { entry, ready_at, base });
    }
    Ok(out)
}

/// When the next waiting row becomes ready, if any waits.
pub fn outbox_next_ready(conn: &Connection) -> Result<Option<DateTime<chrono::Utc>>, StoreError> {
    let next: Option<i64> = conn.query_row("SELECT min(ready_at) FROM outbox", [], |r| r.get(0))?;
    Ok(next.map(DateTime::from_timestamp_nanos))
}

fn kind_and_body(entry: &Entry) -> (String, String) {
    let mut f = entry.to_fields();
    let kind = match f.remove(key::KIND) {
        Some(Value::String(k)) => k,
        _ => String::new(),
    };
    f.retain(|k, _| !fields::is_common(k));
    (kind, Value::Object(f.into_iter().collect()).to_string())
}

pub fn delete(conn: &Connection, table: Table, id: EntryId) -> Result<(), StoreError> {
    let sql = format!("DELETE FROM {} WHERE id = ?1", table.name());
    conn.prepare_cached(&sql)?.execute([id.as_uuid().as_bytes()])?;
    Ok(())
}

pub fn get(conn: &Connection, table: Table, id: EntryId) -> Result<Option<Entry>, StoreError> {
    let sql = format!("SELECT {} FROM {} WHERE id = ?1", table.columns(), table.name());
    let row = conn.prepare_cached(&sql)?.query_row([id.as_uuid().as_bytes()], |r| Ok(read(r, table))).optional()?;
    row.transpose()
}

/// Every entry in `table`. In the shared index, an entry whose fields this version can't
/// read is left out of the list; the document keeps it.
pub fn all(conn: &Connection, table: Table) -> Result<Vec<Entry>, StoreError> {
    let sql = format!("SELECT {} FROM {}", table.columns(), table.name());
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
             SELECT id FROM outbox WHERE kind = ?1 AND author = ?2 AND json_extract(body, '$.date') = ?3
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
    let mut entry = Entry::from_fields_lenient(id, table.shared(), f).map_err(|e| {
        if table == Table::SharedIndex {
            StoreError::UnreadableSharedEntry { id, reason: e }
        } else {
            damaged(format!("can't be read ({e})"))
        }
    })?;
    match table {
        Table::Private => entry.shared_before = row.get(7)?,
        Table::Outbox => entry.waiting = true,
        Table::SharedIndex => {}
    }
    Ok(entry)
}
