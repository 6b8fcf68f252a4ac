//! A copy of the shared entries and names in plain SQLite rows, kept in step with the
//! shared document inside the same transactions, so that listing the journal never waits
//! for the document to load. The document stays the truth: the index is rebuilt from it
//! whenever the two might disagree.
//!
//! Over 600 lines with its tests; the code is about 390.

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

/// Where `changes`, already applied to `doc`, reached inside each entry they touched, as
/// [`doc::read_entry_over`] takes it; `None` for an entry to read whole (made, replaced or
/// deleted, or reached somewhere that can't be named).
pub fn reached(doc: &Automerge, changes: &[Change]) -> HashMap<EntryId, Option<doc::Reached>> {
    let mut out: HashMap<EntryId, Option<doc::Reached>> = HashMap::new();
    let mut paths: HashMap<ObjectId, Option<Vec<Prop>>> = HashMap::new();
    for change in changes {
        for op in change.decode().operations {
            let path = paths.entry(op.obj.clone()).or_insert_with(|| path(doc, &op.obj));
            let Some(path) = path else { continue };
            // The steps under `entries`, then the operation's own key. Each value named is
            // read again from where the document now has it, so a step that is no longer
            // visible (a check-in deleted meanwhile) needs nothing of its own; an object
            // replaced whole is named one step up, by the operation that replaced it.
            let Some((Prop::Map(root), under)) = path.split_first() else { continue };
            if root != ENTRIES {
                continue;
            }
            let key = match &op.key {
                Key::Map(key) => Some(Prop::Map(key.to_string())),
                Key::Seq(_) => None,
            };
            let steps: Vec<Option<&Prop>> = under.iter().map(Some).chain([key.as_ref()]).collect();
            let Some(Some(Prop::Map(entry))) = steps.first() else { continue };
            let Ok(id) = entry.parse::<EntryId>() else { continue };
            let place = match &steps[1..] {
                [Some(Prop::Map(field)), Some(Prop::Map(inner)), ..] => Some((field.clone(), Some(inner.clone()))),
                [Some(Prop::Map(field)), ..] => Some((field.clone(), None)),
                // The entry itself was made, replaced or deleted, or reached where no key
                // names it.
                _ => None,
            };
            match (out.entry(id).or_insert_with(|| Some(doc::Reached::new())), place) {
                (Some(set), Some(place)) => {
                    set.insert(place);
                }
                (slot, _) => *slot = None,
            }
        }
    }
    out
}

/// The steps from the root down to `obj`; `None` for the root itself or an object the
/// document can't place.
fn path(doc: &Automerge, obj: &ObjectId) -> Option<Vec<Prop>> {
    let ObjectId::Id(op) = obj else { return None };
    let (id, _) = doc.import(&op.to_string()).ok()?;
    let mut path: Vec<Prop> = doc.parents(&id).ok()?.map(|p| p.prop).collect();
    path.reverse();
    Some(path)
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
    // From the root down: the first two steps name the root's key and, under `entries`,
    // the entry.
    let path = path(doc, obj)?;
    let mut down = path.iter();
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

/// Records in the index what `touched` says `changes` to `doc` touched: the entries and
/// names that changed, and the chunk row the index now reflects.
pub fn update(
    sql: &Connection,
    doc: &Automerge,
    touched: &Touched,
    changes: &[Change],
    seq: i64,
    opened: &mut rows::Opened,
) -> Result<(), StoreError> {
    if touched.whole {
        return rebuild(sql, doc, seq);
    }
    if touched.entries.len() <= MANY_ENTRIES {
        let read = read_touched(sql, doc, touched, changes, opened)?;
        return update_read(sql, doc, touched, read, seq, opened);
    }
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
    if touched.people {
        write_people(sql, doc)?;
    }
    set_seq(sql, seq)
}

/// A touched entry as the document now holds it.
#[derive(Debug)]
pub enum InDoc {
    /// As read, with the check-ins the changes reached when only those were read again
    /// (`None`: read whole).
    Entry(Entry, Option<Vec<crate::model::CheckInId>>),
    /// Not in the document (the partner unshared it).
    Absent,
    /// In the document, with common fields this version can't read: left out of the
    /// index, and so of the lists.
    Unreadable,
}

/// Reads each entry `touched` names from `doc`, once: what the index writes
/// ([`update_read`]) and what the window is shown are the same reading. `changes` are
/// what touched them; an entry the index holds (`sql`, not yet updated for them) is read
/// again only where they reached ([`reached`], [`doc::read_entry_over`]), over its row as
/// `opened` may already hold it.
pub fn read_touched(
    sql: &Connection,
    doc: &Automerge,
    touched: &Touched,
    changes: &[Change],
    opened: &mut rows::Opened,
) -> Result<Vec<(EntryId, InDoc)>, StoreError> {
    let reached = reached(doc, changes);
    let mut out = Vec::with_capacity(touched.entries.len());
    for id in &touched.entries {
        let Some(obj) = doc::find_entry(doc, *id)? else {
            out.push((*id, InDoc::Absent));
            continue;
        };
        let places = reached.get(id).and_then(Option::as_ref);
        let over = match places {
            // Taken from `opened`, not copied: the row is written anew below.
            Some(places) => match rows::take_index(sql, *id, opened)? {
                Some(before) => doc::read_entry_over(doc, *id, &obj, before, places).transpose(),
                None => None,
            },
            None => None,
        };
        // Which check-ins were read again, when nothing else of them was.
        let only = match (&over, places) {
            (Some(Ok(_)), Some(places)) => check_ins_reached(places),
            _ => None,
        };
        let read = match over.unwrap_or_else(|| doc::read_entry(doc, *id, &obj)) {
            Ok(entry) => InDoc::Entry(entry, only),
            Err(StoreError::UnreadableSharedEntry { .. }) => InDoc::Unreadable,
            Err(other) => return Err(other),
        };
        out.push((*id, read));
    }
    Ok(out)
}

/// The check-ins `places` names one by one, if it names no check-ins whole and each by
/// an id this version reads.
fn check_ins_reached(places: &doc::Reached) -> Option<Vec<crate::model::CheckInId>> {
    let mut out = Vec::new();
    for (field, inner) in places {
        if field != crate::model::fields::key::CHECK_INS {
            continue;
        }
        out.push(inner.as_ref()?.parse().ok()?);
    }
    Some(out)
}

/// Does what [`update`] does, with the touched entries already read ([`read_touched`],
/// from the same document).
pub fn update_read(
    sql: &Connection,
    doc: &Automerge,
    touched: &Touched,
    read: Vec<(EntryId, InDoc)>,
    seq: i64,
    opened: &mut rows::Opened,
) -> Result<(), StoreError> {
    debug_assert!(!touched.whole && read.iter().map(|(id, _)| id).eq(touched.entries.iter()));
    for (id, in_doc) in read {
        match in_doc {
            InDoc::Entry(entry, only) => rows::put_index(sql, entry, only.as_deref(), opened)?,
            InDoc::Absent | InDoc::Unreadable => rows::delete(sql, Table::SharedIndex, id)?,
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
    rows::clear_index(sql)?;
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

#[cfg(test)]
mod tests {
    use automerge::transaction::Transactable;
    use automerge::{ActorId, ObjType, ScalarValue, Value as AmValue};
    use proptest::prelude::*;

    use super::*;
    use crate::model::fields::key;
    use crate::model::{Outcome, PersonId};

    /// One raw edit of the document, as any program (a newer version, the partner's phone)
    /// could make it.
    #[derive(Clone, Debug)]
    enum Edit {
        /// A field of the entry: a known one, or one this version does not know.
        Put {
            field: u8,
            value: u8,
        },
        Delete {
            field: u8,
        },
        /// A new check-in, as the app makes one.
        CheckIn {
            note: u8,
        },
        /// The note of the `pick`-th check-in, or a field this version does not know in it.
        ChangeCheckIn {
            pick: u8,
            unknown: bool,
        },
        DeleteCheckIn {
            pick: u8,
        },
        /// A map inside a check-in, deeper than any this version reads.
        Deeper {
            pick: u8,
        },
        /// A new map for all the check-ins.
        ReplaceCheckIns,
        /// A list field, with an item inserted.
        List,
        /// The entry written again as a new object.
        Remake,
    }

    fn edit() -> impl Strategy<Value = Edit> {
        prop_oneof![
            1 => (0..6u8, 0..4u8).prop_map(|(field, value)| Edit::Put { field, value }),
            1 => (0..6u8).prop_map(|field| Edit::Delete { field }),
            3 => (0..4u8).prop_map(|note| Edit::CheckIn { note }),
            2 => (0..8u8, any::<bool>()).prop_map(|(pick, unknown)| Edit::ChangeCheckIn { pick, unknown }),
            1 => (0..8u8).prop_map(|pick| Edit::DeleteCheckIn { pick }),
            1 => (0..8u8).prop_map(|pick| Edit::Deeper { pick }),
            1 => Just(Edit::ReplaceCheckIns),
            1 => Just(Edit::List),
            1 => Just(Edit::Remake),
        ]
    }

    const FIELDS: [&str; 6] = [key::TEXT, key::STATUS, key::UPDATED_AT, "mood", key::CHECK_INS, key::AUTHOR];

    fn value(field: &str, v: u8) -> ScalarValue {
        match (field, v) {
            (key::STATUS, 0) => "active".into(),
            (key::STATUS, 1) => "retired".into(),
            (key::UPDATED_AT, 0 | 1) => format!("2026-12-0{}T10:00:00Z", v + 1).as_str().into(),
            (_, 3) => ScalarValue::Int(7),
            (_, v) => format!("words {v}").as_str().into(),
        }
    }

    fn check_in_obj(tx: &mut impl Transactable, obj: &automerge::ObjId, pick: u8) -> Option<automerge::ObjId> {
        let Ok(Some((AmValue::Object(ObjType::Map), check_ins))) = tx.get(obj, key::CHECK_INS) else { return None };
        let keys: Vec<String> = tx.keys(&check_ins).collect();
        let key = keys.get(pick as usize % keys.len().max(1))?;
        match tx.get(&check_ins, key.as_str()) {
            Ok(Some((AmValue::Object(ObjType::Map), c))) => Some(c),
            _ => None,
        }
    }

    fn apply(tx: &mut impl Transactable, entry: &Entry, edit: &Edit) {
        let entries = doc::root_map(tx, ENTRIES).unwrap();
        let Some(obj) = doc::find_entry(tx, entry.id).unwrap() else { return };
        match edit {
            Edit::Put { field, value: v } => {
                let field = FIELDS[*field as usize];
                tx.put(&obj, field, value(field, *v)).unwrap();
            }
            Edit::Delete { field } => tx.delete(&obj, FIELDS[*field as usize]).unwrap(),
            Edit::CheckIn { note } => {
                let mut e = entry.clone();
                let now = chrono::Utc::now();
                let note = format!("note {note}");
                if e.check_in(Outcome::Kept, Some(&note), PersonId::new(), now, now.date_naive()).is_ok() {
                    let was = doc::read_entry(tx, e.id, &obj).map(|r| r.to_fields()).unwrap_or_default();
                    doc::write_change(tx, &obj, &crate::model::fields::Change::between(&was, &e.to_fields())).unwrap();
                }
            }
            Edit::ChangeCheckIn { pick, unknown } => {
                if let Some(c) = check_in_obj(tx, &obj, *pick) {
                    let field = if *unknown { "mood" } else { key::NOTE };
                    tx.put(&c, field, format!("changed {pick}").as_str()).unwrap();
                }
            }
            Edit::DeleteCheckIn { pick } => {
                if let Ok(Some((AmValue::Object(ObjType::Map), check_ins))) = tx.get(&obj, key::CHECK_INS) {
                    let keys: Vec<String> = tx.keys(&check_ins).collect();
                    if let Some(key) = keys.get(*pick as usize % keys.len().max(1)) {
                        tx.delete(&check_ins, key.as_str()).unwrap();
                    }
                }
            }
            Edit::Deeper { pick } => {
                if let Some(c) = check_in_obj(tx, &obj, *pick) {
                    let deeper = tx.put_object(&c, "details", ObjType::Map).unwrap();
                    tx.put(&deeper, "where", "the park").unwrap();
                }
            }
            Edit::ReplaceCheckIns => {
                let check_ins = tx.put_object(&obj, key::CHECK_INS, ObjType::Map).unwrap();
                let c = tx.put_object(&check_ins, crate::model::CheckInId::new().to_string(), ObjType::Map).unwrap();
                for (k, v) in [
                    (key::DATE, "2026-12-01"),
                    (key::OUTCOME, "kept"),
                    (key::BY, &PersonId::new().to_string()),
                    (key::AT, "2026-12-01T10:00:00Z"),
                ] {
                    tx.put(&c, k, v).unwrap();
                }
            }
            Edit::List => {
                let list = tx.put_object(&obj, "moods", ObjType::List).unwrap();
                tx.insert(&list, 0, "calm").unwrap();
            }
            Edit::Remake => {
                tx.delete(&entries, entry.id.to_string()).unwrap();
                doc::write_entry(tx, entry).unwrap();
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 500, failure_persistence: None, ..ProptestConfig::default() })]

        /// Reading an entry again only where changes reached gives what reading it whole
        /// gives, whatever the changes (on this phone, or merged from another), and every
        /// entry whose reading changed is named; the index, written only where they
        /// reached, reads back as the entry read whole.
        #[test]
        fn an_entry_read_where_changes_reached_is_the_entry_read_whole(
            rounds in prop::collection::vec((prop::collection::vec(edit(), 1..4), prop::collection::vec(edit(), 0..3)), 1..8),
        ) {
            let me = PersonId::new();
            let now = chrono::Utc::now();
            let mut entry = Entry::create(
                crate::model::Draft::Agreement { text: "Phones down at dinner".into() }, me, now, now.date_naive(),
            ).unwrap();
            entry.shared = true;
            let mut doc = doc::genesis().with_actor(ActorId::random());
            let mut tx = doc.transaction();
            doc::write_entry(&mut tx, &entry).unwrap();
            for n in 0..3 {
                entry.check_in(Outcome::Kept, Some(&format!("first {n}")), me, now, now.date_naive()).unwrap();
            }
            let was = entry.to_fields();
            let obj = doc::find_entry(&tx, entry.id).unwrap().unwrap();
            doc::write_change(&mut tx, &obj, &crate::model::fields::Change::between(&was, &entry.to_fields())).unwrap();
            tx.commit();
            let id = entry.id;
            // An index kept in step with the document, as the store keeps it.
            let mut sql = Connection::open_in_memory().unwrap();
            crate::store::sealed::install(&sql, &crate::vault::DataKey::random()).unwrap();
            crate::store::schema::migrate(&mut sql, 0, |_| Ok(())).unwrap();
            rebuild(&sql, &doc, 1).unwrap();
            let mut opened = rows::Opened::default();
            for (here, there) in rounds {
                let before = doc::find_entry(&doc, id).unwrap().and_then(|obj| doc::read_entry(&doc, id, &obj).ok());
                let heads = doc.get_heads();
                let mut other = doc.fork().with_actor(ActorId::random());
                let mut tx = doc.transaction();
                for e in &here {
                    apply(&mut tx, before.as_ref().unwrap_or(&entry), e);
                }
                tx.commit();
                if !there.is_empty() {
                    let mut tx = other.transaction();
                    for e in &there {
                        apply(&mut tx, before.as_ref().unwrap_or(&entry), e);
                    }
                    tx.commit();
                    doc.merge(&mut other).unwrap();
                }
                let changes = doc.get_changes(&heads);
                let reached = reached(&doc, &changes);
                update(&sql, &doc, &Touched::by(&doc, &changes), &changes, 1, &mut opened).unwrap();
                let indexed = rows::get(&sql, Table::SharedIndex, id);
                let Some(obj) = doc::find_entry(&doc, id).unwrap() else { break };
                let whole = doc::read_entry(&doc, id, &obj);
                // The index, written where the changes reached, lists what the document
                // holds: an entry this version can't read is left out.
                match &whole {
                    Ok(whole) => prop_assert_eq!(indexed.unwrap(), Some(whole.clone())),
                    Err(_) => prop_assert!(matches!(indexed, Ok(None))),
                }
                let Some(before) = before else { continue };
                match reached.get(&id) {
                    None => prop_assert_eq!(whole.ok(), Some(before), "changed but not named"),
                    Some(None) => {}
                    Some(Some(places)) => match doc::read_entry_over(&doc, id, &obj, before, places) {
                        Ok(Some(over)) => prop_assert_eq!(Some(over), whole.ok()),
                        Ok(None) => {}
                        Err(e) => panic!("{e}"),
                    },
                }
            }
        }
    }
}
