//! The compact sealed value of a row, written and read: a version byte, the kind, the
//! author's 16 bytes, both times as nanoseconds, a byte of flags, then (outbox only) when
//! it may be sent and an empty place once used by earlier versions, and last the kind's
//! own fields as JSON; or, for a waiting change, a version byte, when it may be sent and
//! only what changed.

use super::*;

/// A row, opened and decoded.
pub(super) struct Decoded {
    pub(super) entry: Entry,
    pub(super) outbox: Option<(DateTime<chrono::Utc>, Option<Fields>)>,
}

/// Reads an outbox row: a new share, a change as this version writes it, or a change as
/// earlier versions wrote it (the whole entry and the entry it was made over).
pub(super) fn decode_waiting(id: &[u8], plain: &[u8]) -> Result<Waiting, StoreError> {
    if plain.first() == Some(&CHANGE_FORMAT) {
        let mut r = Reader(&plain[1..]);
        let ready_at = change_ready_at(id, &mut r)?;
        let id = EntryId::from_uuid(uuid(id)?);
        let damaged = |why: String| StoreError::corrupt(format!("outbox row {id} {why}"));
        let json: Value = serde_json::from_slice(r.0).map_err(|e| damaged(format!("is not valid JSON ({e})")))?;
        let change = Change::from_json(json).map_err(|e| damaged(format!("holds an unreadable change ({e})")))?;
        return Ok(Waiting { id, ready_at, what: Pending::Change(change) });
    }
    let Decoded { entry, outbox } = decode(Table::Outbox, id, plain)?;
    let (ready_at, base) = outbox.unwrap_or((DateTime::UNIX_EPOCH, None));
    let id = entry.id;
    let what = match base {
        None => Pending::Share(entry),
        Some(base) => Pending::Change(Change::between(&base, &entry.to_fields())),
    };
    Ok(Waiting { id, ready_at, what })
}

pub(super) fn change_ready_at(id: &[u8], r: &mut Reader<'_>) -> Result<DateTime<chrono::Utc>, StoreError> {
    let at = r.i64().ok_or_else(|| {
        let id = uuid(id).map(|u| u.to_string()).unwrap_or_default();
        StoreError::corrupt(format!("outbox row {id} is cut short"))
    })?;
    Ok(DateTime::from_timestamp_nanos(at))
}

pub(super) const FORMAT: u8 = 1;

/// The version byte of a waiting change's row.
pub(super) const CHANGE_FORMAT: u8 = 2;

pub(super) const ARCHIVED: u8 = 1;

pub(super) const SHARED_BEFORE: u8 = 2;

pub(super) fn encode(table: Table, entry: &Entry, outbox: Option<(DateTime<chrono::Utc>, Option<&Fields>)>) -> Vec<u8> {
    let kind = entry.kind_text();
    // An agreement's check-ins are rows of their own in the index.
    let body = match (&entry.body, table) {
        (Body::Agreement { .. }, Table::SharedIndex) => {
            entry.fields_json(|k| fields::is_common(k) || k == key::CHECK_INS)
        }
        _ => entry.fields_json(fields::is_common),
    };
    let mut out = Vec::with_capacity(64 + body.len());
    out.push(FORMAT);
    let kind = &kind.as_bytes()[..kind.len().min(255)];
    out.push(kind.len() as u8);
    out.extend_from_slice(kind);
    out.extend_from_slice(entry.author.as_uuid().as_bytes());
    out.extend_from_slice(&nanos(entry.created_at).to_le_bytes());
    out.extend_from_slice(&nanos(entry.updated_at).to_le_bytes());
    let shared_before = table == Table::Private && entry.shared_before;
    out.push(if entry.archived { ARCHIVED } else { 0 } | if shared_before { SHARED_BEFORE } else { 0 });
    if let Some((ready_at, base)) = outbox {
        out.extend_from_slice(&nanos(ready_at).to_le_bytes());
        let base = base.map(|b| Value::Object(b.clone().into_iter().collect()).to_string()).unwrap_or_default();
        out.extend_from_slice(&(base.len() as u32).to_le_bytes());
        out.extend_from_slice(base.as_bytes());
    }
    out.extend_from_slice(body.as_bytes());
    out
}

/// What a row holds before its words: the fixed fields, and for the outbox when it may
/// be sent.
pub(super) struct Head<'a> {
    pub(super) id: EntryId,
    pub(super) kind: &'a str,
    pub(super) author: PersonId,
    pub(super) created_at: DateTime<chrono::Utc>,
    pub(super) updated_at: DateTime<chrono::Utc>,
    pub(super) flags: u8,
    pub(super) ready_at: Option<DateTime<chrono::Utc>>,
}

impl<'a> Head<'a> {
    pub(super) fn read(table: Table, id: &[u8], r: &mut Reader<'a>) -> Result<Head<'a>, StoreError> {
        let id = EntryId::from_uuid(uuid(id)?);
        let damaged = |why: &str| StoreError::corrupt(format!("{} row {id} {why}", table.name()));
        if r.byte().ok_or_else(|| damaged("is empty"))? != FORMAT {
            return Err(damaged("was written by a newer version"));
        }
        let short = || damaged("is cut short");
        let kind_len = r.byte().ok_or_else(short)? as usize;
        let kind =
            std::str::from_utf8(r.take(kind_len).ok_or_else(short)?).map_err(|_| damaged("has an unreadable kind"))?;
        let author = PersonId::from_uuid(uuid(r.take(16).ok_or_else(short)?)?);
        let created_at = DateTime::from_timestamp_nanos(r.i64().ok_or_else(short)?);
        let updated_at = DateTime::from_timestamp_nanos(r.i64().ok_or_else(short)?);
        let flags = r.byte().ok_or_else(short)?;
        let ready_at = match table {
            Table::Outbox => Some(DateTime::from_timestamp_nanos(r.i64().ok_or_else(short)?)),
            _ => None,
        };
        Ok(Head { id, kind, author, created_at, updated_at, flags, ready_at })
    }
}

/// Reads a sealed value's plaintext back into an entry.
pub(super) fn decode(table: Table, id: &[u8], plain: &[u8]) -> Result<Decoded, StoreError> {
    let mut r = Reader(plain);
    let Head { id, kind, author, created_at, updated_at, flags, ready_at } = Head::read(table, id, &mut r)?;
    let damaged = |why: &str| StoreError::corrupt(format!("{} row {id} {why}", table.name()));
    let short = || damaged("is cut short");
    let outbox = if let Some(ready_at) = ready_at {
        let len = u32::from_le_bytes(r.take(4).ok_or_else(short)?.try_into().expect("4 bytes")) as usize;
        let base = match r.take(len).ok_or_else(short)? {
            [] => None,
            text => Some(serde_json::from_slice(text).map_err(|e| damaged(&format!("has an unreadable base ({e})")))?),
        };
        Some((ready_at, base))
    } else {
        None
    };
    let mut f: Fields = serde_json::from_slice(r.0).map_err(|e| damaged(&format!("is not valid JSON ({e})")))?;
    f.insert(key::KIND.into(), Value::String(kind.to_owned()));
    f.insert(key::AUTHOR.into(), Value::String(author.to_string()));
    f.insert(key::CREATED_AT.into(), Value::String(timestamp_text(created_at)));
    f.insert(key::UPDATED_AT.into(), Value::String(timestamp_text(updated_at)));
    f.insert(key::ARCHIVED.into(), Value::Bool(flags & ARCHIVED != 0));
    let mut entry = Entry::from_fields_lenient(id, table.shared(), f).map_err(|e| {
        if table == Table::SharedIndex {
            StoreError::UnreadableSharedEntry { id, reason: e }
        } else {
            damaged(&format!("can't be read ({e})"))
        }
    })?;
    match table {
        Table::Private => entry.shared_before = flags & SHARED_BEFORE != 0,
        Table::Outbox => entry.waiting = true,
        Table::SharedIndex => {}
    }
    Ok(Decoded { entry, outbox })
}

pub(super) struct Reader<'a>(pub(super) &'a [u8]);

impl<'a> Reader<'a> {
    pub(super) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    pub(super) fn byte(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    pub(super) fn i64(&mut self) -> Option<i64> {
        self.take(8).map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")))
    }
}
