//! A copy of the shared entries and names in plain SQLite rows, kept in step with the
//! shared document inside the same transactions, so that listing the journal never waits
//! for the document to load. The document stays the truth: the index is rebuilt from it
//! whenever the two might disagree.

use std::collections::BTreeSet;

use automerge::{Automerge, Patch, PatchAction, Prop};
use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use super::doc::{self, ENTRIES, PEOPLE};
use super::rows::{self, Table};
use crate::model::EntryId;

/// Records in the index what `patches` (the effect of one change on `doc`, from its patch
/// log) touched: the entries and names that changed, and the chunk row it now reflects.
/// The patches come from the change itself, so the cost follows the change, not the size
/// of the journal.
pub fn update(sql: &Connection, doc: &Automerge, patches: &[Patch], seq: i64) -> Result<(), StoreError> {
    if !patches.is_empty() {
        let mut entries = BTreeSet::new();
        let mut people = false;
        for patch in patches {
            let top = match patch.path.first() {
                Some((_, Prop::Map(key))) => key.as_str(),
                // A change to the root itself: rebuild rather than guess.
                _ => return rebuild(sql, doc, seq),
            };
            match top {
                ENTRIES => match (patch.path.get(1), &patch.action) {
                    (Some((_, Prop::Map(id))), _) => {
                        entries.insert(id.clone());
                    }
                    (None, PatchAction::PutMap { key, .. } | PatchAction::DeleteMap { key }) => {
                        entries.insert(key.clone());
                    }
                    (None, PatchAction::Conflict { prop: Prop::Map(key) }) => {
                        entries.insert(key.clone());
                    }
                    _ => {}
                },
                PEOPLE => people = true,
                _ => {}
            }
        }
        for id in entries {
            let Ok(id) = id.parse::<EntryId>() else { continue };
            match doc::find_entry(doc, id)? {
                Some(obj) => put_entry(sql, doc, id, &obj)?,
                None => rows::delete(sql, Table::SharedIndex, id)?,
            }
        }
        if people {
            write_people(sql, doc)?;
        }
    }
    set_seq(sql, seq)
}

/// Records that the index reflects chunk row `seq`, when the content did not change
/// (compaction).
pub fn mark(sql: &Connection, seq: i64) -> Result<(), StoreError> {
    set_seq(sql, seq)
}

/// Rewrites the whole index from the document.
pub fn rebuild(sql: &Connection, doc: &Automerge, seq: i64) -> Result<(), StoreError> {
    sql.execute("DELETE FROM shared_index", [])?;
    for (id, obj) in doc::entry_ids(doc)? {
        put_entry(sql, doc, id, &obj)?;
    }
    write_people(sql, doc)?;
    set_seq(sql, seq)
}

/// Whether the index reflects every chunk row on disk.
pub fn is_current(conn: &Connection) -> Result<bool, StoreError> {
    let last: Option<i64> = conn.query_row("SELECT max(seq) FROM doc_chunks", [], |r| r.get(0))?;
    let indexed: Option<String> =
        conn.query_row("SELECT value FROM meta WHERE key = 'index_seq'", [], |r| r.get(0)).optional()?;
    Ok(matches!((last, indexed), (Some(last), Some(i)) if i == last.to_string()))
}

/// Every indexed name.
pub fn people(conn: &Connection) -> Result<Vec<(String, String)>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT id, unseal('shared_people', id, name) FROM shared_people ORDER BY id")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (id, name) = row?;
        let name =
            String::from_utf8(name).map_err(|_| StoreError::corrupt(format!("the name of {id} is unreadable")))?;
        let name = crate::model::text::clean_name(&name);
        if !name.is_empty() {
            out.push((id, name));
        }
    }
    Ok(out)
}

/// Indexes one shared entry. An entry whose common fields can't be read stays out of the
/// index (and so out of the lists) and untouched in the document.
fn put_entry(sql: &Connection, doc: &Automerge, id: EntryId, obj: &automerge::ObjId) -> Result<(), StoreError> {
    match doc::read_entry(doc, id, obj) {
        Ok(entry) => rows::put(sql, Table::SharedIndex, &entry),
        Err(StoreError::UnreadableSharedEntry { .. }) => rows::delete(sql, Table::SharedIndex, id),
        Err(other) => Err(other),
    }
}

fn write_people(sql: &Connection, doc: &Automerge) -> Result<(), StoreError> {
    sql.execute("DELETE FROM shared_people", [])?;
    for (id, name) in doc::people(doc)? {
        sql.prepare_cached("INSERT INTO shared_people (id, name) VALUES (?1, seal('shared_people', ?1, ?2))")?
            .execute(params![id.to_string(), name])?;
    }
    Ok(())
}

fn set_seq(sql: &Connection, seq: i64) -> Result<(), StoreError> {
    sql.prepare_cached(
        "INSERT INTO meta (key, value) VALUES ('index_seq', ?1) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute([seq.to_string()])?;
    Ok(())
}
