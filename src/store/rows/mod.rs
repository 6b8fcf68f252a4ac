//! How an entry sits in an SQLite row, in the private table, the index of shared entries
//! and the outbox alike: its id in the clear (the primary key), and everything else
//! sealed with the data key, with the table and id as associated data (`store::sealed`).
//! A day's check-in also carries a lookup tag, so that "today's check-in" is found
//! without its date or author being readable.
//!
//! The sealed value is compact: a version byte, the kind, the author's 16 bytes, both
//! times as nanoseconds, a byte of flags, then (outbox only) when it may be sent and an
//! empty place once used by earlier versions, and last the kind's own fields as JSON.
//! A waiting change to a shared entry is its own, smaller row in the outbox: a version
//! byte, when it may be sent, and only what changed as JSON ([`Change`]), so a check-in
//! on an agreement that holds hundreds is kept and read as that one check-in.
//!
//! Over 600 lines with its tests; the code is about 200.

use chrono::DateTime;

use rusqlite::{Connection, OptionalExtension, params};

use serde_json::Value;

mod codec;

use super::StoreError;
use codec::{CHANGE_FORMAT, Decoded, Head, Reader, change_ready_at, decode, decode_waiting, encode};

use crate::model::fields::{self, Change, Fields, key, timestamp_text};

use crate::model::{Body, CheckIn, CheckInId, Entry, EntryId, PersonId};

use crate::vault::DataKey;

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
    pub(super) fn name(self) -> &'static str {
        match self {
            Table::Private => "private_entries",
            Table::SharedIndex => "shared_index",
            Table::Outbox => "outbox",
        }
    }

    fn shared(self) -> bool {
        self != Table::Private
    }
}

fn nanos(t: DateTime<chrono::Utc>) -> i64 {
    // Dates are checked to lie between 2000 and 2200, well inside i64 nanoseconds.
    t.timestamp_nanos_opt().unwrap_or(i64::MAX)
}

/// One waiting row of the outbox.
pub struct Waiting {
    pub id: EntryId,
    pub ready_at: DateTime<chrono::Utc>,
    pub what: Pending,
}

/// What waits to be sent.
pub enum Pending {
    /// A new share: the whole entry, which the partner has never received.
    Share(Entry),
    /// My change to an entry the partner has received.
    Change(Change),
}

/// Writes `entry` into the private table or the index, replacing any row with its id.
pub fn put(conn: &Connection, table: Table, entry: &Entry) -> Result<(), StoreError> {
    match table {
        Table::Outbox => Err(StoreError::corrupt("an outbox row is written with when it may be sent")),
        Table::SharedIndex => put_encoded(conn, &Encoded::index_row(entry)),
        Table::Private => write(conn, table, entry, encode(table, entry, None)),
    }
}

/// An entry's rows, made ready to write into the index: what [`put`] writes, made apart
/// from the writing so that it can be made on another thread.
pub struct Encoded {
    id: EntryId,
    lookup: Option<Vec<u8>>,
    plain: Vec<u8>,
    /// An agreement's check-ins, each as its own row.
    check_ins: Vec<(CheckInId, String)>,
}

impl Encoded {
    pub fn index_row(entry: &Entry) -> Encoded {
        let check_ins = match &entry.body {
            Body::Agreement { check_ins, .. } => check_ins.iter().map(|c| (c.id, fields::check_in_json(c))).collect(),
            _ => Vec::new(),
        };
        Encoded { id: entry.id, lookup: lookup_text(entry), plain: encode(Table::SharedIndex, entry, None), check_ins }
    }
}

/// Writes the rows made by [`Encoded::index_row`] into the index, in place of any the
/// entry had.
pub fn put_encoded(conn: &Connection, row: &Encoded) -> Result<(), StoreError> {
    write_row(conn, Table::SharedIndex, row.id, row.lookup.as_deref(), &row.plain)?;
    delete_check_ins(conn, row.id)?;
    for (id, text) in &row.check_ins {
        put_check_in(conn, row.id, *id, text)?;
    }
    Ok(())
}

/// A check-in row's key: its agreement's id, then its own.
fn check_in_key(entry: EntryId, id: CheckInId) -> [u8; 32] {
    keyed(entry, *id.as_uuid().as_bytes())
}

fn keyed(entry: EntryId, rest: [u8; 16]) -> [u8; 32] {
    let mut key = [0u8; 32];
    key[..16].copy_from_slice(entry.as_uuid().as_bytes());
    key[16..].copy_from_slice(&rest);
    key
}

/// The keys of every check-in row `entry` may have lie between these two.
fn check_in_range(entry: EntryId) -> ([u8; 32], [u8; 32]) {
    (keyed(entry, [0; 16]), keyed(entry, [0xff; 16]))
}

/// Deletes every check-in row of `entry`.
fn delete_check_ins(conn: &Connection, entry: EntryId) -> Result<(), StoreError> {
    let (from, to) = check_in_range(entry);
    conn.prepare_cached("DELETE FROM shared_check_ins WHERE id BETWEEN ?1 AND ?2")?.execute([from, to])?;
    Ok(())
}

fn put_check_in(conn: &Connection, entry: EntryId, id: CheckInId, text: &str) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO shared_check_ins (id, sealed) VALUES (?1, seal('shared_check_ins', ?1, ?2))",
    )?
    .execute(params![check_in_key(entry, id), text])?;
    Ok(())
}

/// Reads a check-in row's words back.
fn read_check_in(key: &[u8], plain: &[u8]) -> Result<(EntryId, CheckIn), StoreError> {
    let damaged = |why: String| StoreError::corrupt(format!("a check-in row of the index {why}"));
    if key.len() != 32 {
        return Err(damaged("has an unreadable id".into()));
    }
    let entry = EntryId::from_uuid(uuid(&key[..16])?);
    let id = uuid(&key[16..])?.to_string();
    let value: Value = serde_json::from_slice(plain).map_err(|e| damaged(format!("is not valid JSON ({e})")))?;
    let check_in = fields::check_in_from(&id, &value).map_err(|e| damaged(format!("can't be read ({e})")))?;
    Ok((entry, check_in))
}

/// Puts the check-ins the index holds for `entry` into it, if it is an agreement.
fn with_check_ins(conn: &Connection, mut entry: Entry) -> Result<Entry, StoreError> {
    let Body::Agreement { check_ins, .. } = &mut entry.body else { return Ok(entry) };
    let (from, to) = check_in_range(entry.id);
    let mut stmt = conn.prepare_cached(
        "SELECT id, unseal('shared_check_ins', id, sealed) FROM shared_check_ins WHERE id BETWEEN ?1 AND ?2",
    )?;
    let mut rows = stmt.query([from, to])?;
    while let Some(row) = rows.next()? {
        check_ins.push(read_check_in(row.get_ref(0)?.as_blob()?, row.get_ref(1)?.as_blob()?)?.1);
    }
    fields::sort_check_ins(check_ins);
    Ok(entry)
}

/// Writes a new share into the outbox: it will be sent as it is, no sooner than
/// `ready_at`.
pub fn put_outbox(conn: &Connection, entry: &Entry, ready_at: DateTime<chrono::Utc>) -> Result<(), StoreError> {
    write(conn, Table::Outbox, entry, encode(Table::Outbox, entry, Some((ready_at, None))))
}

/// Writes my change to shared entry `id` into the outbox, replacing any change of it
/// that waits: it will be sent no sooner than `ready_at`.
pub fn put_outbox_change(
    conn: &Connection,
    id: EntryId,
    ready_at: DateTime<chrono::Utc>,
    change: &Change,
) -> Result<(), StoreError> {
    let json = change.to_json().to_string();
    let mut plain = Vec::with_capacity(9 + json.len());
    plain.push(CHANGE_FORMAT);
    plain.extend_from_slice(&nanos(ready_at).to_le_bytes());
    plain.extend_from_slice(json.as_bytes());
    write_row(conn, Table::Outbox, id, None, &plain)
}

/// Writes a waiting change as versions before [`CHANGE_FORMAT`] did: the whole entry as
/// changed, and the fields it was changed from.
#[cfg(test)]
pub fn put_outbox_as_before(
    conn: &Connection,
    entry: &Entry,
    ready_at: DateTime<chrono::Utc>,
    base: &Fields,
) -> Result<(), StoreError> {
    write(conn, Table::Outbox, entry, encode(Table::Outbox, entry, Some((ready_at, Some(base)))))
}

/// Writes a row read by [`outbox`] back as it was.
pub fn put_waiting(conn: &Connection, w: &Waiting) -> Result<(), StoreError> {
    match &w.what {
        Pending::Share(entry) => put_outbox(conn, entry, w.ready_at),
        Pending::Change(change) => put_outbox_change(conn, w.id, w.ready_at, change),
    }
}

fn write(conn: &Connection, table: Table, entry: &Entry, plain: Vec<u8>) -> Result<(), StoreError> {
    write_row(conn, table, entry.id, lookup_text(entry).as_deref(), &plain)
}

fn write_row(
    conn: &Connection,
    table: Table,
    id: EntryId,
    lookup: Option<&[u8]>,
    plain: &[u8],
) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT OR REPLACE INTO {0} (id, tag, sealed) VALUES (?1, lookup_tag(?2), seal('{0}', ?1, ?3))",
        table.name()
    );
    conn.prepare_cached(&sql)?.execute(params![id.as_uuid().as_bytes(), lookup, plain])?;
    Ok(())
}

/// What the lookup tag of a row of `table` is made from, given its id and its plaintext:
/// for a day's check-in, its author and date; for anything else, nothing.
pub fn lookup_of(table: Table, id: &[u8], plain: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
    match table {
        Table::Outbox => Ok(match codec::decode_waiting(id, plain)?.what {
            Pending::Share(entry) => lookup_text(&entry),
            Pending::Change(_) => None,
        }),
        Table::Private | Table::SharedIndex => Ok(lookup_text(&decode(table, id, plain)?.entry)),
    }
}

/// What a day's check-in is found by: its author and date.
fn lookup_text(entry: &Entry) -> Option<Vec<u8>> {
    match &entry.body {
        Body::DailyCheckIn { date, .. } => Some(daily_lookup(entry.author, &date.to_string())),
        _ => None,
    }
}

fn daily_lookup(author: PersonId, date: &str) -> Vec<u8> {
    let mut text = b"daily_check_in\0".to_vec();
    text.extend_from_slice(author.as_uuid().as_bytes());
    text.push(0);
    text.extend_from_slice(date.as_bytes());
    text
}

/// The outbox, oldest first: every row, or only those ready by `ready_by`.
pub fn outbox(conn: &Connection, ready_by: Option<DateTime<chrono::Utc>>) -> Result<Vec<Waiting>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT id, unseal('outbox', id, sealed) FROM outbox")?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let w = decode_waiting(row.get_ref(0)?.as_blob()?, row.get_ref(1)?.as_blob()?)?;
        if ready_by.is_none_or(|by| w.ready_at <= by) {
            out.push(w);
        }
    }
    out.sort_by(|a, b| a.ready_at.cmp(&b.ready_at).then(a.id.cmp(&b.id)));
    Ok(out)
}

/// The outbox row of one entry, if a share or a change of it waits.
pub fn outbox_entry(conn: &Connection, id: EntryId) -> Result<Option<Waiting>, StoreError> {
    let row: Option<(Vec<u8>, Vec<u8>)> = conn
        .prepare_cached("SELECT id, unseal('outbox', id, sealed) FROM outbox WHERE id = ?1")?
        .query_row([id.as_uuid().as_bytes()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    row.map(|(id, plain)| decode_waiting(&id, &plain)).transpose()
}

/// When the next waiting row becomes ready, if any waits. Only each row's head is read,
/// not its words, check-ins and base: the sync session asks on every change.
pub fn outbox_next_ready(conn: &Connection) -> Result<Option<DateTime<chrono::Utc>>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT id, unseal('outbox', id, sealed) FROM outbox")?;
    let mut rows = stmt.query([])?;
    let mut next: Option<DateTime<chrono::Utc>> = None;
    while let Some(row) = rows.next()? {
        let (id, plain) = (row.get_ref(0)?.as_blob()?, row.get_ref(1)?.as_blob()?);
        let at = if plain.first() == Some(&CHANGE_FORMAT) {
            change_ready_at(id, &mut Reader(&plain[1..]))?
        } else {
            match Head::read(Table::Outbox, id, &mut Reader(plain))? {
                Head { ready_at: Some(at), .. } => at,
                _ => continue,
            }
        };
        next = Some(next.map_or(at, |n| n.min(at)));
    }
    Ok(next)
}

pub fn delete(conn: &Connection, table: Table, id: EntryId) -> Result<(), StoreError> {
    let sql = format!("DELETE FROM {} WHERE id = ?1", table.name());
    conn.prepare_cached(&sql)?.execute([id.as_uuid().as_bytes()])?;
    if table == Table::SharedIndex {
        delete_check_ins(conn, id)?;
    }
    Ok(())
}

/// Empties the index of entries.
pub fn clear_index(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch("DELETE FROM shared_index; DELETE FROM shared_check_ins;")?;
    Ok(())
}

pub fn get(conn: &Connection, table: Table, id: EntryId) -> Result<Option<Entry>, StoreError> {
    match read_one(conn, table, id)? {
        Some(row) if table == Table::SharedIndex => Ok(Some(with_check_ins(conn, row.entry)?)),
        row => Ok(row.map(|row| row.entry)),
    }
}

/// Every entry in `table`. In the shared index, an entry whose fields this version can't
/// read is left out of the list; the document keeps it. The rows are read from SQLite as
/// they are stored, then opened and decoded on both cores: at 10,000 entries that is
/// most of the time a list takes.
pub fn all(conn: &Connection, key: &DataKey, table: Table) -> Result<Vec<Entry>, StoreError> {
    let sql = format!("SELECT id, sealed FROM {}", table.name());
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows: Vec<(Vec<u8>, Vec<u8>)> =
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
    let open = |chunk: &[(Vec<u8>, Vec<u8>)]| -> Result<Vec<Entry>, StoreError> {
        let mut out = Vec::with_capacity(chunk.len());
        for (id, sealed) in chunk {
            let plain = key.open(&super::sealed::aad(table.name().as_bytes(), id), sealed).map_err(|_| {
                StoreError::corrupt(format!("a row of {} does not open with the journal's key", table.name()))
            })?;
            match decode(table, id, &plain) {
                Ok(row) => out.push(row.entry),
                Err(StoreError::UnreadableSharedEntry { .. }) => continue,
                Err(other) => return Err(other),
            }
        }
        Ok(out)
    };
    if rows.len() < 1024 {
        let mut out = open(&rows)?;
        if table == Table::SharedIndex {
            attach_all_check_ins(conn, key, &mut out)?;
        }
        return Ok(out);
    }
    let (first, second) = rows.split_at(rows.len() / 2);
    let (a, b) = std::thread::scope(|scope| {
        let other = scope.spawn(|| open(second));
        (open(first), other.join().unwrap_or_else(|_| Err(StoreError::corrupt("a row could not be read"))))
    });
    let mut out = a?;
    out.extend(b?);
    if table == Table::SharedIndex {
        attach_all_check_ins(conn, key, &mut out)?;
    }
    Ok(out)
}

/// Puts every check-in row of the index into its agreement.
fn attach_all_check_ins(conn: &Connection, key: &DataKey, entries: &mut [Entry]) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached("SELECT id, sealed FROM shared_check_ins")?;
    let mut rows = stmt.query([])?;
    let mut by_entry: std::collections::HashMap<EntryId, Vec<CheckIn>> = std::collections::HashMap::new();
    while let Some(row) = rows.next()? {
        let (id, sealed) = (row.get_ref(0)?.as_blob()?, row.get_ref(1)?.as_blob()?);
        let plain = key
            .open(&super::sealed::aad(b"shared_check_ins", id), sealed)
            .map_err(|_| StoreError::corrupt("a check-in row of the index does not open with the journal's key"))?;
        let (entry, check_in) = read_check_in(id, &plain)?;
        by_entry.entry(entry).or_default().push(check_in);
    }
    if by_entry.is_empty() {
        return Ok(());
    }
    for entry in entries {
        if let (Body::Agreement { check_ins, .. }, Some(found)) = (&mut entry.body, by_entry.remove(&entry.id)) {
            *check_ins = found;
            fields::sort_check_ins(check_ins);
        }
    }
    Ok(())
}

/// Index entries this connection has already opened and decoded, each kept with the
/// sealed value of its row as it was read or written. An entry is taken from here only
/// while the file still holds that very value: every write seals with a fresh nonce, and
/// an entry's row is written again whenever any of its check-ins is, so an entry written
/// since, by this connection or any other, or put back by a rollback, is read again.
/// Only agreements with many check-ins are kept, and only a few: reading those is most
/// of what a check-in on one costs each phone.
#[derive(Default)]
pub struct Opened {
    rows: std::collections::HashMap<EntryId, (Vec<u8>, Entry)>,
}

impl Opened {
    /// Entries with fewer check-ins than this read in microseconds, and are not kept.
    const WORTH_KEEPING: usize = 16;
    const AT_MOST: usize = 16;

    fn keep(&mut self, id: EntryId, sealed: Vec<u8>, entry: Entry) {
        if self.rows.len() >= Self::AT_MOST
            && !self.rows.contains_key(&id)
            && let Some(any) = self.rows.keys().next().copied()
        {
            self.rows.remove(&any);
        }
        self.rows.insert(id, (sealed, entry));
    }

    pub fn forget(&mut self, id: EntryId) {
        self.rows.remove(&id);
    }

    #[cfg(test)]
    pub fn holds(&self, id: EntryId) -> bool {
        self.rows.contains_key(&id)
    }
}

/// The index row of `id`, as [`get`] reads it, taken from `opened` when the file holds the
/// very value it was opened from.
pub fn get_index(conn: &Connection, id: EntryId, opened: &mut Opened) -> Result<Option<Entry>, StoreError> {
    read_index(conn, id, opened, false)
}

/// The index row of `id` as [`get_index`] reads it, taken out of `opened` instead of
/// copied, for a caller about to write the row anew (which keeps the new one).
pub fn take_index(conn: &Connection, id: EntryId, opened: &mut Opened) -> Result<Option<Entry>, StoreError> {
    read_index(conn, id, opened, true)
}

fn read_index(conn: &Connection, id: EntryId, opened: &mut Opened, take: bool) -> Result<Option<Entry>, StoreError> {
    let uuid = id.as_uuid();
    let key = uuid.as_bytes();
    let sealed: Option<Vec<u8>> = conn
        .prepare_cached("SELECT sealed FROM shared_index WHERE id = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()?;
    let Some(sealed) = sealed else {
        opened.forget(id);
        return Ok(None);
    };
    if opened.rows.get(&id).is_some_and(|(was, _)| *was == sealed) {
        let entry =
            if take { opened.rows.remove(&id).map(|(_, e)| e) } else { opened.rows.get(&id).map(|(_, e)| e.clone()) };
        return Ok(entry);
    }
    let plain: Vec<u8> =
        conn.prepare_cached("SELECT unseal('shared_index', ?1, ?2)")?.query_row(params![key, sealed], |r| r.get(0))?;
    let entry = with_check_ins(conn, decode(Table::SharedIndex, key, &plain)?.entry)?;
    if worth_keeping(&entry) && !take {
        opened.keep(id, sealed, entry.clone());
    } else {
        opened.forget(id);
    }
    Ok(Some(entry))
}

fn worth_keeping(entry: &Entry) -> bool {
    matches!(&entry.body, Body::Agreement { check_ins, .. } if check_ins.len() >= Opened::WORTH_KEEPING)
}

/// Writes `entry` into the index as [`put`] does, and keeps it in `opened` when it is
/// worth it. With `only`, of an agreement's check-ins only those are written (or deleted,
/// when it no longer holds one): the others are as the index holds them.
pub fn put_index(
    conn: &Connection,
    entry: Entry,
    only: Option<&[CheckInId]>,
    opened: &mut Opened,
) -> Result<(), StoreError> {
    match (only, &entry.body) {
        (Some(ids), Body::Agreement { check_ins, .. }) => {
            write(conn, Table::SharedIndex, &entry, encode(Table::SharedIndex, &entry, None))?;
            for id in ids {
                match check_ins.iter().find(|c| c.id == *id) {
                    Some(c) => put_check_in(conn, entry.id, *id, &fields::check_in_json(c))?,
                    None => {
                        conn.prepare_cached("DELETE FROM shared_check_ins WHERE id = ?1")?
                            .execute([check_in_key(entry.id, *id)])?;
                    }
                }
            }
        }
        _ => put_encoded(conn, &Encoded::index_row(&entry))?,
    }
    if worth_keeping(&entry) {
        let sealed: Vec<u8> = conn
            .prepare_cached("SELECT sealed FROM shared_index WHERE id = ?1")?
            .query_row([entry.id.as_uuid().as_bytes()], |r| r.get(0))?;
        opened.keep(entry.id, sealed, entry);
    } else {
        opened.forget(entry.id);
    }
    Ok(())
}

/// How many entries `table` holds.
pub fn count(conn: &Connection, table: Table) -> Result<i64, StoreError> {
    Ok(conn.query_row(&format!("SELECT count(*) FROM {}", table.name()), [], |r| r.get(0))?)
}

/// The id of `author`'s daily check-in for `date`, in any of the three tables.
pub fn daily_check_in(conn: &Connection, author: PersonId, date: &str) -> Result<Option<EntryId>, StoreError> {
    let id: Option<Vec<u8>> = conn
        .prepare_cached(
            "SELECT id FROM private_entries WHERE tag = lookup_tag(?1)
             UNION ALL SELECT id FROM outbox WHERE tag = lookup_tag(?1)
             UNION ALL SELECT id FROM shared_index WHERE tag = lookup_tag(?1)
             LIMIT 1",
        )?
        .query_row([daily_lookup(author, date)], |r| r.get(0))
        .optional()?;
    id.map(|bytes| uuid(&bytes).map(EntryId::from_uuid)).transpose()
}

fn uuid(bytes: &[u8]) -> Result<uuid::Uuid, StoreError> {
    uuid::Uuid::from_slice(bytes).map_err(|_| StoreError::corrupt("an entry row holds an unreadable id"))
}

fn read_one(conn: &Connection, table: Table, id: EntryId) -> Result<Option<Decoded>, StoreError> {
    let sql = format!("SELECT id, unseal('{0}', id, sealed) FROM {0} WHERE id = ?1", table.name());
    let row: Option<(Vec<u8>, Vec<u8>)> =
        conn.prepare_cached(&sql)?.query_row([id.as_uuid().as_bytes()], |r| Ok((r.get(0)?, r.get(1)?))).optional()?;
    row.map(|(id, plain)| decode(table, &id, &plain)).transpose()
}

/// The ids of every row in `table`, read without unsealing anything.
pub fn ids(conn: &Connection, table: Table) -> Result<Vec<EntryId>, StoreError> {
    let sql = format!("SELECT id FROM {}", table.name());
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let id = uuid::Uuid::from_slice(row.get_ref(0)?.as_blob()?)
            .map_err(|_| StoreError::corrupt(format!("a row of {} has an unreadable id", table.name())))?;
        out.push(EntryId::from_uuid(id));
    }
    Ok(out)
}

/// Rows as the first two versions wrote them, in the clear: read once, by the migration
/// that seals them.
pub mod before_sealing {
    use super::*;

    /// Every private entry.
    pub fn private(conn: &Connection) -> Result<Vec<Entry>, StoreError> {
        let mut stmt = conn.prepare(
            "SELECT id, kind, author, created_at, updated_at, archived, body, shared_before FROM private_entries",
        )?;
        let mut rows = stmt.query([])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let mut entry = read(row, Table::Private)?;
            entry.shared_before = row.get(7)?;
            out.push(entry);
        }
        Ok(out)
    }

    /// Every waiting row of the outbox.
    pub fn outbox(conn: &Connection) -> Result<Vec<Waiting>, StoreError> {
        let mut stmt = conn
            .prepare("SELECT id, kind, author, created_at, updated_at, archived, body, ready_at, base FROM outbox")?;
        let mut rows = stmt.query([])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let mut entry = read(row, Table::Outbox)?;
            entry.waiting = true;
            let ready_at = DateTime::from_timestamp_nanos(row.get(7)?);
            let base = match row.get_ref(8)?.as_str_or_null()? {
                None => None,
                Some(text) => Some(serde_json::from_str(text).map_err(|e| {
                    StoreError::corrupt(format!("outbox row {} has an unreadable base ({e})", entry.id))
                })?),
            };
            let id = entry.id;
            let what = match base {
                None => Pending::Share(entry),
                Some(base) => Pending::Change(Change::between(&base, &entry.to_fields())),
            };
            out.push(Waiting { id, ready_at, what });
        }
        Ok(out)
    }

    fn read(row: &rusqlite::Row<'_>, table: Table) -> Result<Entry, StoreError> {
        let id = EntryId::from_uuid(uuid(row.get_ref(0)?.as_blob()?)?);
        let damaged = |why: String| StoreError::corrupt(format!("{} row {id} {why}", table.name()));
        let author = PersonId::from_uuid(uuid(row.get_ref(2)?.as_blob()?)?);
        let time = |i: usize| -> Result<String, StoreError> {
            Ok(timestamp_text(DateTime::from_timestamp_nanos(row.get(i)?)))
        };
        let mut f: Fields =
            serde_json::from_str(row.get_ref(6)?.as_str()?).map_err(|e| damaged(format!("is not valid JSON ({e})")))?;
        f.insert(key::KIND.into(), Value::String(row.get(1)?));
        f.insert(key::AUTHOR.into(), Value::String(author.to_string()));
        f.insert(key::CREATED_AT.into(), Value::String(time(3)?));
        f.insert(key::UPDATED_AT.into(), Value::String(time(4)?));
        f.insert(key::ARCHIVED.into(), Value::Bool(row.get(5)?));
        Entry::from_fields_lenient(id, table.shared(), f).map_err(|e| damaged(format!("can't be read ({e})")))
    }
}
