//! A copy of the shared entries and names in plain SQLite rows, kept in step with the
//! shared document inside the same transactions, so that listing the journal never waits
//! for the document to load. The document stays the truth: the index is rebuilt from it
//! whenever the two might disagree.

use std::collections::{BTreeSet, HashMap};

use automerge::legacy::{Key, ObjectId};
use automerge::{Automerge, Change, Prop, ReadDoc};
use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use super::doc::{self, ENTRIES, PEOPLE};
use super::rows::{self, Table};
use crate::model::{Entry, EntryId};

/// What some changes touched, read from their operations: the entries (by their key under
/// `entries`) and whether any name changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Touched {
    pub entries: BTreeSet<EntryId>,
    pub people: bool,
    /// A change reached outside the layout (the root itself, or an object the document
    /// can't place): the index is rebuilt rather than guessed at.
    pub whole: bool,
}

impl Touched {
    /// Reads what `changes`, already applied to `doc`, touched. Each object an operation
    /// is in is placed once, by walking up to the root; the cost follows the changes, not
    /// the size of the journal.
    pub fn by(doc: &Automerge, changes: &[Change]) -> Touched {
        let mut touched = Touched::default();
        let mut places: HashMap<ObjectId, Option<Top>> = HashMap::new();
        for change in changes {
            for op in change.decode().operations {
                let place = match places.get(&op.obj) {
                    Some(place) => place.clone(),
                    None => {
                        let place = top(doc, &op.obj);
                        places.insert(op.obj.clone(), place.clone());
                        place
                    }
                };
                match (place, &op.key) {
                    (Some(Top::Entries), Key::Map(key)) => {
                        // A key that isn't an entry id is nothing the index lists.
                        if let Ok(id) = key.parse::<EntryId>() {
                            touched.entries.insert(id);
                        }
                    }
                    (Some(Top::Entry(id)), _) => {
                        touched.entries.insert(id);
                    }
                    (Some(Top::People), _) => touched.people = true,
                    (Some(Top::Elsewhere), _) => {}
                    (None, _) | (Some(Top::Entries), Key::Seq(_)) => touched.whole = true,
                }
            }
        }
        touched
    }
}

/// Where an object sits, as far as the index cares.
#[derive(Clone, Debug)]
enum Top {
    /// The `entries` map itself: the operation's key names the entry.
    Entries,
    /// Inside one entry.
    Entry(EntryId),
    /// In `people`, at any depth.
    People,
    /// Under another key of the root, or an entry key that isn't an entry id: nothing
    /// the index lists.
    Elsewhere,
}

/// Places `obj`; `None` for the root itself or an object the document can't place.
fn top(doc: &Automerge, obj: &ObjectId) -> Option<Top> {
    let ObjectId::Id(op) = obj else { return None };
    let (id, _) = doc.import(&op.to_string()).ok()?;
    // From the object up to the root: the last two steps name the root's key and, under
    // `entries`, the entry.
    let path: Vec<Prop> = doc.parents(&id).ok()?.map(|p| p.prop).collect();
    let mut down = path.iter().rev();
    let Some(Prop::Map(first)) = down.next() else { return None };
    Some(match first.as_str() {
        ENTRIES => match down.next() {
            None => Top::Entries,
            Some(Prop::Map(key)) => key.parse().map(Top::Entry).unwrap_or(Top::Elsewhere),
            Some(Prop::Seq(_)) => return None,
        },
        PEOPLE => Top::People,
        _ => Top::Elsewhere,
    })
}

/// Past this many entries touched at once, the index reads the whole entries map once
/// rather than looking each entry up.
const MANY_ENTRIES: usize = 64;

/// Records in the index what `touched` says some changes to `doc` touched: the entries
/// and names that changed, and the chunk row the index now reflects.
pub fn update(sql: &Connection, doc: &Automerge, touched: &Touched, seq: i64) -> Result<(), StoreError> {
    if touched.whole {
        return rebuild(sql, doc, seq);
    }
    if touched.entries.len() > MANY_ENTRIES {
        // A first sync: the entries map is read in one pass, not searched per entry.
        let mut left = touched.entries.clone();
        for (id, obj) in doc::entry_ids(doc)? {
            if left.remove(&id) {
                put_entry(sql, doc, id, &obj)?;
            }
        }
        for id in left {
            rows::delete(sql, Table::SharedIndex, id)?;
        }
    } else {
        for id in &touched.entries {
            match doc::find_entry(doc, *id)? {
                Some(obj) => put_entry(sql, doc, *id, &obj)?,
                None => rows::delete(sql, Table::SharedIndex, *id)?,
            }
        }
    }
    if touched.people {
        write_people(sql, doc)?;
    }
    set_seq(sql, seq)
}

/// A touched entry as the document now holds it.
#[derive(Debug)]
pub enum InDoc {
    Entry(Entry),
    /// Not in the document (the partner unshared it).
    Absent,
    /// In the document, with common fields this version can't read: left out of the
    /// index, and so of the lists.
    Unreadable,
}

/// Reads each entry `touched` names from `doc`, once: what the index writes
/// ([`update_read`]) and what the window is shown are the same reading.
pub fn read_touched(doc: &Automerge, touched: &Touched) -> Result<Vec<(EntryId, InDoc)>, StoreError> {
    let mut out = Vec::with_capacity(touched.entries.len());
    for id in &touched.entries {
        let read = match doc::find_entry(doc, *id)? {
            None => InDoc::Absent,
            Some(obj) => match doc::read_entry(doc, *id, &obj) {
                Ok(entry) => InDoc::Entry(entry),
                Err(StoreError::UnreadableSharedEntry { .. }) => InDoc::Unreadable,
                Err(other) => return Err(other),
            },
        };
        out.push((*id, read));
    }
    Ok(out)
}

/// Does what [`update`] does, with the touched entries already read ([`read_touched`],
/// from the same document).
pub fn update_read(
    sql: &Connection,
    doc: &Automerge,
    touched: &Touched,
    read: &[(EntryId, InDoc)],
    seq: i64,
) -> Result<(), StoreError> {
    debug_assert!(!touched.whole && read.iter().map(|(id, _)| id).eq(touched.entries.iter()));
    for (id, in_doc) in read {
        match in_doc {
            InDoc::Entry(entry) => rows::put(sql, Table::SharedIndex, entry)?,
            InDoc::Absent | InDoc::Unreadable => rows::delete(sql, Table::SharedIndex, *id)?,
        }
    }
    if touched.people {
        write_people(sql, doc)?;
    }
    set_seq(sql, seq)
}

/// Every entry of `doc`, as index rows ready to write (`None` for an entry whose common
/// fields can't be read, which stays out of the index). Reads only: it can run on another
/// thread while the rules check the same document.
pub fn prepare_all(doc: &Automerge) -> Result<HashMap<EntryId, Option<rows::Encoded>>, StoreError> {
    let mut out = HashMap::new();
    for (id, obj) in doc::entry_ids(doc)? {
        match doc::read_entry(doc, id, &obj) {
            Ok(entry) => out.insert(id, Some(rows::Encoded::index_row(&entry))),
            Err(StoreError::UnreadableSharedEntry { .. }) => out.insert(id, None),
            Err(other) => return Err(other),
        };
    }
    Ok(out)
}

/// Does what [`update`] does, with the rows of every entry of `doc` already made
/// ([`prepare_all`], on the same document): an entry it touched is written from its row,
/// or deleted when it has none.
pub fn update_prepared(
    sql: &Connection,
    doc: &Automerge,
    touched: &Touched,
    mut prepared: HashMap<EntryId, Option<rows::Encoded>>,
    seq: i64,
) -> Result<(), StoreError> {
    if touched.whole {
        return rebuild(sql, doc, seq);
    }
    for id in &touched.entries {
        match prepared.remove(id) {
            Some(Some(row)) => rows::put_encoded(sql, &row)?,
            // Unreadable, or no longer in the document.
            Some(None) | None => rows::delete(sql, Table::SharedIndex, *id)?,
        }
    }
    if touched.people {
        write_people(sql, doc)?;
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
