//! The shared document's layout, and the mapping between entries and its maps.
//!
//! ```text
//! ROOT
//! ├── format: 1
//! ├── entries: { <entry id>: { kind, author, created_at, …fields } }
//! └── people:  { <person id>: { name } }
//! ```
//!
//! Every write to an entry that exists goes field by field: a field is written only when
//! its value changed, and a field this version does not know is never touched. A new
//! entry is made in one batch, with the same operations. Whole-document hydration is
//! never used, so cost grows with what changed, not with the size of the journal.

use automerge::transaction::{CommitOptions, Transactable};
use std::collections::HashMap;

use automerge::{ActorId, Automerge, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value as AmValue, hydrate};
use serde_json::{Map, Number, Value};

use crate::model::fields::{self, Change, FieldChange, Fields};
use crate::model::{Body, Entry, EntryId, PersonId};

use super::StoreError;

pub const FORMAT_KEY: &str = "format";
pub const FORMAT: i64 = 1;
pub const ENTRIES: &str = "entries";
pub const PEOPLE: &str = "people";
pub const NAME: &str = "name";
/// When the person moved Steady to a new phone, RFC 3339, in their `people` entry:
/// written by their new phone, read by the partner's.
pub const MOVED_AT: &str = "moved_at";
/// In a person's `people` entry: the Automerge actors of the phones they moved to
/// (`{ <actor hex>: <when> }`), each written by the phone it was handed over from.
pub const DEVICES: &str = "devices";
/// In a person's `people` entry: the actors of the phones they moved away from, each
/// written by that phone as its last change.
pub const RETIRED: &str = "retired";

/// The actor that writes the genesis change. Every phone writes the very same genesis
/// change, with the same actor, time and content, so every phone's document starts from
/// the same root maps, and two documents always merge into one journal.
const GENESIS_ACTOR: &[u8] = b"steady-genesis-1";

/// The genesis change's actor, which is nobody's.
pub fn genesis_actor() -> ActorId {
    ActorId::from(GENESIS_ACTOR)
}

/// A document holding only the genesis change. Its single change has the same hash on
/// every phone.
pub fn genesis() -> Automerge {
    let mut doc = Automerge::new().with_actor(ActorId::from(GENESIS_ACTOR));
    let mut tx = doc.transaction();
    // These three calls can't fail on a fresh document: ROOT always exists.
    let made = tx
        .put(ROOT, FORMAT_KEY, FORMAT)
        .and_then(|_| tx.put_object(ROOT, ENTRIES, ObjType::Map))
        .and_then(|_| tx.put_object(ROOT, PEOPLE, ObjType::Map));
    debug_assert!(made.is_ok());
    tx.commit_with(CommitOptions::default().with_time(0).with_message("steady genesis"));
    doc
}

/// A root map the genesis created.
pub fn root_map(doc: &impl ReadDoc, key: &str) -> Result<ObjId, StoreError> {
    match doc.get(ROOT, key)? {
        Some((AmValue::Object(ObjType::Map), id)) => Ok(id),
        _ => Err(StoreError::corrupt(format!("the shared document has no {key:?} map"))),
    }
}

/// The ids of every shared entry, in the document's key order.
pub fn entry_ids(doc: &impl ReadDoc) -> Result<Vec<(EntryId, ObjId)>, StoreError> {
    let entries = root_map(doc, ENTRIES)?;
    let mut out = Vec::with_capacity(doc.length(&entries));
    for item in doc.map_range(&entries, ..) {
        // A key that is not an entry id was written by something other than Steady; it is
        // left alone rather than guessed at.
        if let (Ok(id), automerge::ValueRef::Object(ObjType::Map)) = (item.key.parse::<EntryId>(), &item.value) {
            out.push((id, item.id()));
        }
    }
    Ok(out)
}

/// The entry stored under `id`, if it is shared.
pub fn find_entry(doc: &impl ReadDoc, id: EntryId) -> Result<Option<ObjId>, StoreError> {
    let entries = root_map(doc, ENTRIES)?;
    Ok(match doc.get(&entries, id.to_string())? {
        Some((AmValue::Object(ObjType::Map), obj)) => Some(obj),
        _ => None,
    })
}

/// Reads the entry in map `obj`. Entries of kinds this version can't read are kept whole
/// as unknown entries; only an entry without readable common fields is an error.
pub fn read_entry(doc: &impl ReadDoc, id: EntryId, obj: &ObjId) -> Result<Entry, StoreError> {
    let mut fields = Fields::new();
    read_map_into(doc, obj, |k, v| {
        fields.insert(k, v);
    })?;
    Entry::from_fields_lenient(id, true, fields).map_err(|e| StoreError::UnreadableSharedEntry { id, reason: e })
}

/// Where some changes reached inside one entry: fields of the entry (`(field, None)`),
/// and single values inside a field that is a map (`(field, Some(key))`: one of an
/// agreement's check-ins).
pub type Reached = std::collections::BTreeSet<(String, Option<String>)>;

/// Reads the entry in map `obj` again where `reached` says it changed, over `before`, the
/// same entry as it read before those changes: each field named, and each value named
/// inside a map field, is read from the document; every other field is `before`'s. This
/// is what [`read_entry`] reads, at the cost of what changed: a check-in on an agreement
/// holding hundreds reads one check-in, not all of them. `None` when `before` can't take
/// the change (a field that was a map is no longer one), or either reading is one this
/// version can't make sense of; read it whole then.
pub fn read_entry_over(
    doc: &impl ReadDoc,
    id: EntryId,
    obj: &ObjId,
    mut before: Entry,
    reached: &Reached,
) -> Result<Option<Entry>, StoreError> {
    // An entry this version can't read keeps its fields as the document holds them, and
    // `before`'s are only as this version writes them: read it whole.
    if matches!(before.body, Body::Unknown { .. }) {
        return Ok(None);
    }
    // An agreement's check-ins are kept as they were read, and only those reached are
    // read again: its other fields go through the same reading as any entry's.
    let check_ins_reached = reached.iter().any(|(field, _)| field == fields::key::CHECK_INS);
    if let Body::Agreement { check_ins, .. } = &mut before.body
        && check_ins_reached
        && !reached.contains(&(fields::key::CHECK_INS.to_owned(), None))
    {
        // The check-ins move over as they are; `before` is left the agreement without them.
        let kept = std::mem::take(check_ins);
        let (others, inner): (Reached, Reached) =
            reached.iter().cloned().partition(|(field, _)| field != fields::key::CHECK_INS);
        let Some(mut entry) = read_entry_over(doc, id, obj, before, &others)? else { return Ok(None) };
        let Body::Agreement { check_ins: now, .. } = &mut entry.body else { return Ok(None) };
        let Some((AmValue::Object(ObjType::Map), map)) = doc.get(obj, fields::key::CHECK_INS)? else {
            return Ok(None);
        };
        *now = kept;
        for (_, key) in &inner {
            let Some(key) = key else { continue };
            let Ok(check_in_id) = key.parse() else { return Ok(None) };
            now.retain(|c| c.id != check_in_id);
            if let Some(value) = read_value(doc, &map, key)? {
                let Ok(check_in) = fields::check_in_from(key, &value) else { return Ok(None) };
                now.push(check_in);
            }
        }
        fields::sort_check_ins(now);
        return Ok(Some(entry));
    }
    let mut fields = before.to_fields();
    for (field, inner) in reached {
        match inner {
            None => match read_value(doc, obj, field)? {
                Some(value) => fields.insert(field.clone(), value),
                None => fields.remove(field),
            },
            // The whole field is read anyway.
            Some(_) if reached.contains(&(field.clone(), None)) => continue,
            Some(key) => {
                let (Some(Value::Object(known)), Some((AmValue::Object(ObjType::Map), map))) =
                    (fields.get_mut(field), doc.get(obj, field.as_str())?)
                else {
                    return Ok(None);
                };
                match read_value(doc, &map, key)? {
                    Some(value) => known.insert(key.clone(), value),
                    None => known.remove(key),
                }
            }
        };
    }
    match Entry::from_fields_lenient(id, true, fields) {
        Ok(entry) if matches!(entry.body, Body::Unknown { .. }) => Ok(None),
        Ok(entry) => Ok(Some(entry)),
        // Read whole, it says why.
        Err(_) => Ok(None),
    }
}

/// The value under `key` of map `obj`, as [`read_entry`] reads it.
fn read_value(doc: &impl ReadDoc, obj: &ObjId, key: &str) -> Result<Option<Value>, StoreError> {
    Ok(match doc.get(obj, key)? {
        None => None,
        Some((AmValue::Scalar(s), _)) => Some(scalar_to_json(&s)),
        Some((AmValue::Object(ObjType::Map | ObjType::Table), id)) => Some(Value::Object(read_map(doc, &id)?)),
        Some((AmValue::Object(ObjType::List), id)) => Some(Value::Array(read_list(doc, &id)?)),
        Some((AmValue::Object(ObjType::Text), id)) => Some(Value::String(doc.text(id)?)),
    })
}

fn read_map(doc: &impl ReadDoc, obj: &ObjId) -> Result<Map<String, Value>, StoreError> {
    let mut out = Map::new();
    read_map_into(doc, obj, |k, v| {
        out.insert(k, v);
    })?;
    Ok(out)
}

fn read_map_into(doc: &impl ReadDoc, obj: &ObjId, mut put: impl FnMut(String, Value)) -> Result<(), StoreError> {
    for item in doc.map_range(obj, ..) {
        let value = match &item.value {
            automerge::ValueRef::Scalar(automerge::ScalarValueRef::Str(s)) => Value::String(s.to_string()),
            automerge::ValueRef::Scalar(s) => scalar_to_json(&ScalarValue::from(s)),
            automerge::ValueRef::Object(ObjType::Map) => Value::Object(read_map(doc, &item.id())?),
            automerge::ValueRef::Object(ObjType::List) => Value::Array(read_list(doc, &item.id())?),
            automerge::ValueRef::Object(ObjType::Text) => Value::String(doc.text(item.id())?),
            automerge::ValueRef::Object(ObjType::Table) => Value::Object(read_map(doc, &item.id())?),
        };
        put(item.key.into_owned(), value);
    }
    Ok(())
}

fn read_list(doc: &impl ReadDoc, obj: &ObjId) -> Result<Vec<Value>, StoreError> {
    let mut out = Vec::new();
    for i in 0..doc.length(obj) {
        out.push(match doc.get(obj, i)? {
            Some((AmValue::Scalar(s), _)) => scalar_to_json(&s),
            Some((AmValue::Object(ObjType::List), id)) => Value::Array(read_list(doc, &id)?),
            Some((AmValue::Object(ObjType::Text), id)) => Value::String(doc.text(id)?),
            Some((AmValue::Object(_), id)) => Value::Object(read_map(doc, &id)?),
            None => Value::Null,
        });
    }
    Ok(out)
}

fn scalar_to_json(s: &ScalarValue) -> Value {
    match s {
        ScalarValue::Str(v) => Value::String(v.to_string()),
        ScalarValue::Int(v) | ScalarValue::Timestamp(v) => Value::from(*v),
        ScalarValue::Uint(v) => Value::from(*v),
        ScalarValue::F64(v) => Number::from_f64(*v).map(Value::Number).unwrap_or(Value::Null),
        ScalarValue::Counter(c) => Value::from(i64::from(c)),
        ScalarValue::Boolean(b) => Value::Bool(*b),
        ScalarValue::Null | ScalarValue::Bytes(_) | ScalarValue::Unknown { .. } => Value::Null,
    }
}

fn json_to_scalar(v: &Value) -> Option<ScalarValue> {
    Some(match v {
        Value::Null => ScalarValue::Null,
        Value::Bool(b) => ScalarValue::Boolean(*b),
        Value::String(s) => ScalarValue::Str(s.as_str().into()),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => ScalarValue::Int(i),
            (None, Some(u), _) => ScalarValue::Uint(u),
            (None, None, Some(f)) => ScalarValue::F64(f),
            _ => ScalarValue::Null,
        },
        Value::Array(_) | Value::Object(_) => return None,
    })
}

/// Writes `entry` into the document, changing only the fields whose values differ.
pub fn write_entry(tx: &mut impl Transactable, entry: &Entry) -> Result<(), StoreError> {
    let entries = root_map(tx, ENTRIES)?;
    let key = entry.id.to_string();
    let fields: Map<String, Value> = entry.to_fields().into_iter().collect();
    match tx.get(&entries, key.as_str())? {
        Some((AmValue::Object(ObjType::Map), obj)) => reconcile_map(tx, &obj, &fields),
        // A new entry is made whole, with the same operations `reconcile_map` would
        // write into an empty map, in two splices of the document instead of one per
        // field: sharing a year of entries at once stays fast.
        _ => {
            tx.batch_create_object(&entries, key.as_str(), &new_map(&fields), false)?;
            Ok(())
        }
    }
}

/// What `reconcile_nested` writes into an empty map (a check-in), as one value.
fn new_leaf(leaf: &Map<String, Value>) -> hydrate::Value {
    let leaf: HashMap<&str, hydrate::Value> = leaf
        .iter()
        .map(|(k, v)| (k.as_str(), hydrate::Value::from(json_to_scalar(v).unwrap_or(ScalarValue::Null))))
        .collect();
    hydrate::Value::from(leaf)
}

/// What `reconcile_map` writes into an empty map, as one value.
fn new_map(wanted: &Map<String, Value>) -> hydrate::Value {
    let mut out = HashMap::new();
    for (key, value) in wanted {
        let made = match value {
            Value::Object(inner) => {
                let mut nested = HashMap::new();
                for (k, v) in inner {
                    // As `reconcile_nested`: only maps are kept at this level.
                    let Value::Object(leaf) = v else { continue };
                    nested.insert(k.as_str(), new_leaf(leaf));
                }
                hydrate::Value::from(nested)
            }
            Value::Array(items) => hydrate::Value::from(
                items
                    .iter()
                    .map(|item| hydrate::Value::from(json_to_scalar(item).unwrap_or(ScalarValue::Null)))
                    .collect::<Vec<_>>(),
            ),
            scalar => hydrate::Value::from(json_to_scalar(scalar).unwrap_or(ScalarValue::Null)),
        };
        out.insert(key.as_str(), made);
    }
    hydrate::Value::from(out)
}

/// Makes map `obj` hold exactly `wanted`, key by key. Keys inside a nested map (an
/// agreement's check-ins) are only ever added or updated, never removed, so a check-in the
/// partner added at the same moment survives.
fn reconcile_map(tx: &mut impl Transactable, obj: &ObjId, wanted: &Map<String, Value>) -> Result<(), StoreError> {
    let present: Vec<String> = tx.keys(obj).collect();
    for key in present {
        if !wanted.contains_key(&key) && !fields::is_common(&key) {
            tx.delete(obj, key.as_str())?;
        }
    }
    put_fields(tx, obj, wanted)
}

/// Makes my waiting change in the entry `obj` as the document holds it now: each field it
/// sets, each inner key of a map it adds or changes, and each field it removes, written
/// only where the document's value differs. A check-in on an agreement that holds
/// hundreds writes that one check-in, and reads none of the others.
pub fn write_change(tx: &mut impl Transactable, obj: &ObjId, change: &Change) -> Result<(), StoreError> {
    let mut wanted = Map::new();
    for (key, field) in change.fields() {
        match field {
            FieldChange::Removed => {
                if !fields::is_common(key) && tx.get(obj, key.as_str())?.is_some() {
                    tx.delete(obj, key.as_str())?;
                }
            }
            FieldChange::Set(value) => {
                wanted.insert(key.clone(), value.clone());
            }
            FieldChange::Merge(inner) => {
                wanted.insert(key.clone(), Value::Object(inner.clone()));
            }
        }
    }
    put_fields(tx, obj, &wanted)
}

/// Puts each of `wanted` into map `obj`, leaving values that are already as wanted.
fn put_fields(tx: &mut impl Transactable, obj: &ObjId, wanted: &Map<String, Value>) -> Result<(), StoreError> {
    for (key, value) in wanted {
        match value {
            Value::Object(inner) => {
                let child = match tx.get(obj, key.as_str())? {
                    Some((AmValue::Object(ObjType::Map), child)) => child,
                    _ => tx.put_object(obj, key.as_str(), ObjType::Map)?,
                };
                reconcile_nested(tx, &child, inner)?;
            }
            Value::Array(items) => {
                // No field of this version is a list; a newer version's list is kept as read.
                if tx.get(obj, key.as_str())?.is_none() {
                    let list = tx.put_object(obj, key.as_str(), ObjType::List)?;
                    for (i, item) in items.iter().enumerate() {
                        tx.insert(&list, i, json_to_scalar(item).unwrap_or(ScalarValue::Null))?;
                    }
                }
            }
            scalar => {
                let new = json_to_scalar(scalar).unwrap_or(ScalarValue::Null);
                let same = matches!(tx.get(obj, key.as_str())?, Some((AmValue::Scalar(old), _)) if *old == new);
                if !same {
                    tx.put(obj, key.as_str(), new)?;
                }
            }
        }
    }
    Ok(())
}

fn reconcile_nested(tx: &mut impl Transactable, obj: &ObjId, wanted: &Map<String, Value>) -> Result<(), StoreError> {
    for (key, value) in wanted {
        let Value::Object(inner) = value else { continue };
        let child = match tx.get(obj, key.as_str())? {
            Some((AmValue::Object(ObjType::Map), child)) => child,
            // A new one (a check-in) is made whole, as `new_map` makes it: two splices of
            // the document instead of one per field, and nothing to look up in a map that
            // holds nothing yet.
            _ => {
                tx.batch_create_object(obj, key.as_str(), &new_leaf(inner), false)?;
                continue;
            }
        };
        for (k, v) in inner {
            let new = json_to_scalar(v).unwrap_or(ScalarValue::Null);
            let same = matches!(tx.get(&child, k.as_str())?, Some((AmValue::Scalar(old), _)) if *old == new);
            if !same {
                tx.put(&child, k.as_str(), new)?;
            }
        }
    }
    Ok(())
}

/// Removes a shared entry from the document.
pub fn delete_entry(tx: &mut impl Transactable, id: EntryId) -> Result<(), StoreError> {
    let entries = root_map(tx, ENTRIES)?;
    tx.delete(&entries, id.to_string())?;
    Ok(())
}

/// The names people gave themselves, as shared with their partner.
pub fn people(doc: &impl ReadDoc) -> Result<Vec<(PersonId, String)>, StoreError> {
    let people = root_map(doc, PEOPLE)?;
    let mut out = Vec::new();
    for item in doc.map_range(&people, ..) {
        let Ok(id) = item.key.parse::<PersonId>() else { continue };
        if let Some((AmValue::Scalar(name), _)) = doc.get(item.id(), NAME)?
            && let ScalarValue::Str(name) = name.as_ref()
        {
            // Written by the partner's phone: shown only once cleaned.
            let name = crate::model::text::clean_name(name);
            if !name.is_empty() {
                out.push((id, name));
            }
        }
    }
    Ok(out)
}

/// When `person` last moved Steady to a new phone, as their phone wrote it: `None` when
/// never, or when what is there is not a time.
pub fn moved_at(doc: &impl ReadDoc, person: PersonId) -> Result<Option<String>, StoreError> {
    let people = root_map(doc, PEOPLE)?;
    let Some((AmValue::Object(ObjType::Map), obj)) = doc.get(&people, person.to_string().as_str())? else {
        return Ok(None);
    };
    Ok(match doc.get(&obj, MOVED_AT)? {
        Some((AmValue::Scalar(at), _)) => {
            at.as_str().filter(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok()).map(str::to_owned)
        }
        _ => None,
    })
}

/// The handover of a move, as the new phone's first change in the document, made under
/// the old phone's actor (`old`, the document's actor still): when, the new phone's actor,
/// and the old one retired. From the next change on, the new phone writes as `new`.
pub fn write_handover(
    tx: &mut impl Transactable,
    id: PersonId,
    at: &str,
    old: &ActorId,
    new: &ActorId,
) -> Result<(), StoreError> {
    write_moved(tx, id, at)?;
    let person = person_entry(tx, id)?;
    for (key, actor) in [(DEVICES, new), (RETIRED, old)] {
        let map = match tx.get(&person, key)? {
            Some((AmValue::Object(ObjType::Map), map)) => map,
            _ => tx.put_object(&person, key, ObjType::Map)?,
        };
        tx.put(&map, actor.to_hex_string().as_str(), at)?;
    }
    Ok(())
}

/// The actors `person`'s phones handed over to, each with the actor that wrote it.
pub fn handed_to(doc: &impl ReadDoc, person: PersonId) -> Result<Vec<(ActorId, ActorId)>, StoreError> {
    let mut out = Vec::new();
    let Some(map) = person_map(doc, person, DEVICES, None)? else { return Ok(out) };
    for item in doc.map_range(&map, ..) {
        let Ok(actor) = ActorId::try_from(item.key.as_ref()) else { continue };
        if let automerge::ObjId::Id(_, writer, _) = item.id() {
            out.push((actor, writer));
        }
    }
    Ok(out)
}

/// The actors `person`'s phones retired by moving, as the document reads at `heads`
/// (now, with `None`).
pub fn retired(
    doc: &impl ReadDoc,
    person: PersonId,
    heads: Option<&[automerge::ChangeHash]>,
) -> Result<std::collections::BTreeSet<ActorId>, StoreError> {
    let Some(map) = person_map(doc, person, RETIRED, heads)? else { return Ok(Default::default()) };
    let keys: Vec<String> = match heads {
        Some(heads) => doc.map_range_at(&map, .., heads).map(|i| i.key.to_string()).collect(),
        None => doc.map_range(&map, ..).map(|i| i.key.to_string()).collect(),
    };
    Ok(keys.iter().filter_map(|k| ActorId::try_from(k.as_str()).ok()).collect())
}

/// The map at `key` in `person`'s `people` entry, at `heads` (or now).
fn person_map(
    doc: &impl ReadDoc,
    person: PersonId,
    key: &str,
    heads: Option<&[automerge::ChangeHash]>,
) -> Result<Option<ObjId>, StoreError> {
    let get = |obj: &ObjId, prop: &str| match heads {
        Some(h) => doc.get_at(obj, prop, h),
        None => doc.get(obj, prop),
    };
    let Some((AmValue::Object(ObjType::Map), people)) = get(&ROOT, PEOPLE)? else { return Ok(None) };
    let Some((AmValue::Object(ObjType::Map), entry)) = get(&people, person.to_string().as_str())? else {
        return Ok(None);
    };
    match get(&entry, key)? {
        Some((AmValue::Object(ObjType::Map), map)) => Ok(Some(map)),
        _ => Ok(None),
    }
}

/// Writes when this phone's person moved Steady to it, in their own `people` entry.
pub fn write_moved(tx: &mut impl Transactable, id: PersonId, at: &str) -> Result<(), StoreError> {
    let obj = person_entry(tx, id)?;
    tx.put(&obj, MOVED_AT, at)?;
    Ok(())
}

/// `id`'s entry in `people`, made if it isn't there.
fn person_entry(tx: &mut impl Transactable, id: PersonId) -> Result<ObjId, StoreError> {
    let people = root_map(tx, PEOPLE)?;
    let key = id.to_string();
    Ok(match tx.get(&people, key.as_str())? {
        Some((AmValue::Object(ObjType::Map), obj)) => obj,
        _ => tx.put_object(&people, key.as_str(), ObjType::Map)?,
    })
}

pub fn write_person(tx: &mut impl Transactable, id: PersonId, name: &str) -> Result<(), StoreError> {
    let obj = person_entry(tx, id)?;
    let same = matches!(tx.get(&obj, NAME)?, Some((AmValue::Scalar(old), _)) if old.as_str() == Some(name));
    if !same {
        tx.put(&obj, NAME, name)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AgreementStatus, Draft, Outcome};
    use chrono::{NaiveDate, TimeZone, Utc};

    #[test]
    fn two_genesis_documents_are_one_change() {
        let (a, b) = (genesis(), genesis());
        assert_eq!(a.get_heads(), b.get_heads());
        assert_eq!(a.get_heads().len(), 1);
    }

    #[test]
    fn entries_written_on_two_phones_all_survive_a_merge() {
        let mut a = genesis().with_actor(ActorId::random());
        let mut b = genesis().with_actor(ActorId::random());
        let now = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let today = NaiveDate::from_ymd_opt(2026, 1, 2).unwrap();
        let ea = Entry::create(Draft::CheckIn { text: "a".into() }, PersonId::new(), now, today).unwrap();
        let eb = Entry::create(Draft::CheckIn { text: "b".into() }, PersonId::new(), now, today).unwrap();
        let mut tx = a.transaction();
        write_entry(&mut tx, &ea).unwrap();
        tx.commit();
        let mut tx = b.transaction();
        write_entry(&mut tx, &eb).unwrap();
        tx.commit();
        a.merge(&mut b).unwrap();
        let ids: Vec<EntryId> = entry_ids(&a).unwrap().into_iter().map(|(id, _)| id).collect();
        assert_eq!(ids.len(), 2);
        assert!(ids.contains(&ea.id) && ids.contains(&eb.id));
    }

    #[test]
    fn rewriting_an_unchanged_entry_makes_no_change_and_a_check_in_adds_only_itself() {
        let mut doc = genesis().with_actor(ActorId::random());
        let me = PersonId::new();
        let now = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let today = NaiveDate::from_ymd_opt(2026, 1, 2).unwrap();
        let mut e = Entry::create(Draft::Agreement { text: "Be home by 7".into() }, me, now, today).unwrap();
        e.shared = true;
        let mut tx = doc.transaction();
        write_entry(&mut tx, &e).unwrap();
        tx.commit();
        let mut tx = doc.transaction();
        write_entry(&mut tx, &e).unwrap();
        assert_eq!(tx.pending_ops(), 0);
        e.check_in(Outcome::Kept, None, me, now, today).unwrap();
        write_entry(&mut tx, &e).unwrap();
        // The check-in's map and its four fields (it has no note). The clock has not moved,
        // so updated_at is unchanged.
        assert_eq!(tx.pending_ops(), 5);
        tx.commit();
        let (id, obj) = entry_ids(&doc).unwrap().pop().unwrap();
        assert_eq!(read_entry(&doc, id, &obj).unwrap(), e);
    }

    #[test]
    fn a_change_to_a_long_lived_agreement_makes_the_operations_a_full_write_makes() {
        let me = PersonId::new();
        let day = |d: u32| Utc.with_ymd_and_hms(2026, 1, 1, 8, 0, 0).unwrap() + chrono::Duration::days(i64::from(d));
        let date = |d: u32| day(d).date_naive();
        let mut e =
            Entry::create(Draft::Agreement { text: "Text when running late".into() }, me, day(0), date(0)).unwrap();
        e.shared = true;
        for d in 0..300 {
            e.check_in(if d % 3 == 0 { Outcome::Missed } else { Outcome::Kept }, Some("ok"), me, day(d), date(d))
                .unwrap();
        }
        let mut doc = genesis().with_actor(ActorId::random());
        let mut tx = doc.transaction();
        write_entry(&mut tx, &e).unwrap();
        tx.commit();
        let (_, obj) = entry_ids(&doc).unwrap().pop().unwrap();
        let was = read_entry(&doc, e.id, &obj).unwrap();
        // Each of these, written whole and written over, makes the same operations.
        let mut next = e.clone();
        next.check_in(Outcome::Kept, Some("a new day"), me, day(300), date(300)).unwrap();
        let mut renamed = next.clone();
        renamed.edit(Draft::Agreement { text: "Call when running late".into() }, me, day(301)).unwrap();
        let mut retired = e.clone();
        retired.set_agreement_status(AgreementStatus::Retired, day(302)).unwrap();
        for (what, after) in
            [("a check-in", next), ("new words and a check-in", renamed), ("retired", retired), ("unchanged", e)]
        {
            let (mut whole, mut over) = (doc.fork(), doc.fork());
            let mut tx = whole.transaction();
            write_entry(&mut tx, &after).unwrap();
            let whole_ops = tx.pending_ops();
            tx.commit();
            let mut tx = over.transaction();
            write_change(&mut tx, &obj, &Change::between(&was.to_fields(), &after.to_fields())).unwrap();
            let over_ops = tx.pending_ops();
            tx.commit();
            assert_eq!(over_ops, whole_ops, "{what}");
            assert_eq!(read_entry(&over, after.id, &obj).unwrap(), after, "{what}");
            assert_eq!(read_entry(&whole, after.id, &obj).unwrap(), after, "{what}");
        }
    }
}
