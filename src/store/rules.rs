//! What the partner's phone may change in the shared document, checked before what it
//! sent is kept.
//!
//! Automerge takes any well-formed change, so without these checks a partner's phone (or
//! anything that got its keys) could rewrite what I wrote, hide my entries, or sign
//! something with my name. The rules follow the layout in [`super::doc`]:
//!
//! - every change is made under one of the partner's devices;
//! - nothing touches the root itself, so `entries`, `people` and `format` stay the
//!   genesis's;
//! - in `people`, only the partner's own name;
//! - in `entries`, only entries the partner wrote, before and after the change, and new
//!   entries only under the partner's name;
//! - on an agreement I wrote, only the partner's own check-ins, and its status (with the
//!   time it was changed).
//!
//! Every operation is checked, including values that lose a conflict and never show:
//! they are still in the document, and would show the moment the winning value goes.
//! The checks read only the objects the operations touch, so their cost grows with the
//! size of what was received, not with the size of the journal.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use automerge::legacy::{Key, ObjectId, Op, OpId, OpType};
use automerge::{
    ActorId, Automerge, AutomergeError, Change, ChangeHash, ObjId, ObjType, Prop, ROOT, ReadDoc, ScalarValue, Value,
};
use chrono::{DateTime, NaiveDate};

use crate::model::fields::{key, kind};
use crate::model::{AgreementStatus, CheckInId, EntryId, Outcome, PersonId};

use super::doc::{ENTRIES, PEOPLE, genesis_actor};
use super::index::Touched;

/// Who the partner is, as bound at pairing: their person id and the Automerge actors of
/// their devices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartnerRules {
    pub person: PersonId,
    pub actors: Vec<ActorId>,
}

/// Why a change from the partner was refused, in words a person can read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RuleBreak {
    #[error("a change was made under a device that isn't your partner's")]
    NotPartnersDevice,
    #[error("your partner's phone tried to change the journal's root")]
    Root,
    #[error("your partner's phone tried to change your name, or a name that isn't theirs")]
    YourName,
    #[error("your partner's phone sent changes to entries that are yours")]
    YourEntry,
    #[error("your partner's phone sent an entry that claims you wrote it")]
    ClaimsYouWroteIt,
    #[error("your partner's phone changed more of your agreement than a check-in or whether it is retired")]
    YourAgreement,
    #[error("your partner's phone tried to change a check-in you made")]
    YourCheckIn,
    #[error("your partner's phone sent a check-in that claims you made it")]
    ClaimsYouCheckedIn,
    #[error("your partner's phone sent an entry or a check-in under someone else's name")]
    SomeoneElse,
    #[error("your partner's phone sent a change Steady can't accept: {0}")]
    Malformed(&'static str),
}

/// How deep below the root an object may be. Entries reach 4 (a check-in's map); the rest
/// is room for fields a newer version may nest.
const MAX_DEPTH: usize = 8;

/// Past this many operations in one message (a first sync, a year of entries shared at
/// once), the entries the document held before are listed once, so each new entry's
/// "was anything here before?" is a set lookup, not a search of the document's past.
const MANY_OPS: usize = 1_000;

/// Checks every change in `new`, which were just applied to `doc` (so `doc` is the state
/// after them); `before` are the doc's heads before they were applied. `me` is this
/// phone's person. Once they pass, says what they touched, as [`Touched::by`] would: the
/// checks have placed every object already.
pub fn check_received(
    doc: &Automerge,
    before: &[ChangeHash],
    new: &[Change],
    me: PersonId,
    partner: &PartnerRules,
) -> Result<Touched, RuleBreak> {
    // The cheap check first: a stranger's change is refused without being decoded.
    if new.iter().any(|c| !partner.actors.contains(c.actor_id())) {
        return Err(RuleBreak::NotPartnersDevice);
    }
    let mut checker = Checker::new(doc, before, me, partner.person);
    let changes: Vec<_> = new.iter().map(Change::decode).collect();
    // The objects these changes make did not exist before them.
    for change in &changes {
        let start = change.start_op.get();
        let made = checker.made.entry(change.actor_id.clone()).or_default();
        for (i, op) in change.operations.iter().enumerate() {
            if let OpType::Make(_) = op.action {
                made.insert(start + i as u64);
            }
        }
    }
    if new.iter().map(Change::len).sum::<usize>() > MANY_OPS {
        checker.list_entries();
    }
    for change in &changes {
        let start = change.start_op.get();
        for (i, op) in change.operations.iter().enumerate() {
            let id = OpId(start + i as u64, change.actor_id.clone());
            checker.check_op(op, &id)?;
        }
    }
    Ok(checker.touched)
}

/// Where an object sits: `objs[i]` was made under `props[i]` in `objs[i - 1]` (the first
/// in the root), and the last of `objs` is the object itself. Empty for the root.
struct Place {
    objs: Vec<ObjId>,
    props: Vec<Prop>,
}

impl Place {
    fn prop(&self, i: usize) -> Option<&str> {
        match self.props.get(i)? {
            Prop::Map(k) => Some(k.as_str()),
            Prop::Seq(_) => None,
        }
    }
}

/// Whose name a field holds, over one or more values (a field in conflict holds several).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Who {
    partner: bool,
    me: bool,
    /// Someone else, or a value that isn't a person id.
    other: bool,
}

impl Who {
    const OTHER: Who = Who { partner: false, me: false, other: true };

    fn or(self, o: Who) -> Who {
        Who { partner: self.partner || o.partner, me: self.me || o.me, other: self.other || o.other }
    }

    fn is_empty(self) -> bool {
        self == Who::default()
    }

    fn only_partner(self) -> bool {
        self == Who { partner: true, ..Who::default() }
    }

    fn only_me(self) -> bool {
        self == Who { me: true, ..Who::default() }
    }
}

/// Whose name a field held before the received changes, and holds after them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Seen {
    before: Who,
    after: Who,
}

impl Seen {
    fn or(self, o: Seen) -> Seen {
        Seen { before: self.before.or(o.before), after: self.after.or(o.after) }
    }

    fn all(self) -> Who {
        self.before.or(self.after)
    }
}

/// What kind of owner an entry has, once it passes.
enum Owner {
    Partner,
    Me,
}

struct Checker<'a> {
    doc: &'a Automerge,
    before: &'a [ChangeHash],
    me: PersonId,
    partner: PersonId,
    partner_key: String,
    genesis: ActorId,
    places: HashMap<ObjectId, Rc<Place>>,
    at_key: HashMap<(ObjId, String, &'static str), Seen>,
    in_obj: HashMap<(ObjId, &'static str), Seen>,
    agreements: HashMap<ObjId, bool>,
    readable_check_ins: HashSet<ObjId>,
    /// The `entries` map, and the keys it held before, when listed.
    entries_before: Option<(ObjId, HashSet<String>)>,
    /// What each key of the `entries` map holds now, when listed: a map's id, or `None`
    /// for a value that isn't a map.
    entries_after: HashMap<String, Vec<Option<ObjId>>>,
    /// Whose name a field of a map holds now.
    after: HashMap<(ObjId, &'static str), Who>,
    /// The counters of the operations that make objects in the changes, by actor.
    made: HashMap<ActorId, HashSet<u64>>,
    touched: Touched,
}

impl<'a> Checker<'a> {
    fn new(doc: &'a Automerge, before: &'a [ChangeHash], me: PersonId, partner: PersonId) -> Self {
        Checker {
            doc,
            before,
            me,
            partner,
            partner_key: partner.to_string(),
            genesis: genesis_actor(),
            places: HashMap::new(),
            at_key: HashMap::new(),
            in_obj: HashMap::new(),
            agreements: HashMap::new(),
            readable_check_ins: HashSet::new(),
            entries_before: None,
            entries_after: HashMap::new(),
            after: HashMap::new(),
            made: HashMap::new(),
            touched: Touched::default(),
        }
    }

    /// Lists the keys the `entries` map held before, and what each holds now, in one
    /// pass each: a message with many entries then costs a lookup in a table per entry,
    /// not a search of the document.
    fn list_entries(&mut self) {
        let Ok(Some((Value::Object(ObjType::Map), entries))) = self.doc.get(ROOT, ENTRIES) else { return };
        for item in self.doc.map_range(&entries, ..) {
            let values = if item.conflict {
                match self.doc.get_all(&entries, item.key.as_ref()) {
                    Ok(values) => values.into_iter().map(|(v, obj)| map_id(&v, obj)).collect(),
                    Err(_) => continue,
                }
            } else {
                vec![match item.value {
                    automerge::ValueRef::Object(ObjType::Map) => Some(item.id()),
                    _ => None,
                }]
            };
            self.entries_after.insert(item.key.into_owned(), values);
        }
        let keys = self.doc.keys_at(&entries, self.before).collect();
        self.entries_before = Some((entries, keys));
    }

    /// Whether `obj` is made by the changes being checked, and so held nothing before.
    fn is_new(&self, obj: &ObjId) -> bool {
        matches!(obj, ObjId::Id(counter, actor, _) if self.made.get(actor).is_some_and(|m| m.contains(counter)))
    }

    /// Whether `key` of `map` is known to have held nothing before.
    fn empty_before(&self, map: &ObjId, key: &str) -> bool {
        matches!(&self.entries_before, Some((entries, keys)) if entries == map && !keys.contains(key))
    }

    fn check_op(&mut self, op: &Op, id: &OpId) -> Result<(), RuleBreak> {
        let place = self.place(&op.obj)?;
        let genesis_made = matches!(place.objs.first(), Some(ObjId::Id(_, actor, _)) if *actor == self.genesis);
        match place.prop(0) {
            None => return Err(RuleBreak::Root),
            Some(PEOPLE) if genesis_made => {
                self.check_people(op, &place)?;
                self.touched.people = true;
            }
            Some(ENTRIES) if genesis_made => {
                self.check_entries(op, id, &place)?;
                let key = if place.objs.len() == 1 { map_key(op).ok() } else { place.prop(1) };
                // The rules refuse a key among the entries that isn't an entry id.
                if let Some(entry) = key.and_then(|k| k.parse::<EntryId>().ok()) {
                    self.touched.entries.insert(entry);
                }
            }
            Some(_) => return Err(RuleBreak::Root),
        }
        // An object made here is placed from the operation that makes it.
        if let (OpType::Make(_), Key::Map(key)) = (&op.action, &op.key)
            && place.objs.len() < MAX_DEPTH
            && let Some(made) = made_obj(self.doc, id)
        {
            let mut objs = place.objs.clone();
            objs.push(made);
            let mut props = place.props.clone();
            props.push(Prop::Map(key.to_string()));
            self.places.insert(ObjectId::Id(id.clone()), Rc::new(Place { objs, props }));
        }
        Ok(())
    }

    /// Where `obj` sits in the document, looked up once per call.
    fn place(&mut self, obj: &ObjectId) -> Result<Rc<Place>, RuleBreak> {
        if let Some(place) = self.places.get(obj) {
            return Ok(place.clone());
        }
        let unknown = RuleBreak::Malformed("a change to something that isn't in the journal");
        let place = match obj {
            ObjectId::Root => Place { objs: Vec::new(), props: Vec::new() },
            ObjectId::Id(op) => {
                let (id, _) = self.doc.import(&op.to_string()).map_err(|_| unknown.clone())?;
                let mut up = Vec::new();
                for parent in self.doc.parents(&id).map_err(|_| unknown.clone())? {
                    if up.len() == MAX_DEPTH {
                        return Err(RuleBreak::Malformed("something nested too deep"));
                    }
                    up.push((parent.obj, parent.prop));
                }
                up.reverse();
                // `up` pairs each object's parent with the key it sits under, from the root
                // down: the root is dropped and the object itself added to make `objs`.
                let (parents, props): (Vec<ObjId>, Vec<Prop>) = up.into_iter().unzip();
                if parents.first() != Some(&ROOT) {
                    return Err(unknown);
                }
                let objs = parents.into_iter().skip(1).chain(std::iter::once(id)).collect();
                Place { objs, props }
            }
        };
        let place = Rc::new(place);
        self.places.insert(obj.clone(), place.clone());
        Ok(place)
    }

    fn check_people(&mut self, op: &Op, place: &Place) -> Result<(), RuleBreak> {
        let person = if place.objs.len() == 1 { map_key(op)? } else { place.prop(1).ok_or(NOT_A_MAP)? };
        if person == self.partner_key { Ok(()) } else { Err(RuleBreak::YourName) }
    }

    fn check_entries(&mut self, op: &Op, id: &OpId, place: &Place) -> Result<(), RuleBreak> {
        let depth = place.objs.len();
        let entries = &place.objs[0];
        let k = if depth == 1 { map_key(op)? } else { place.prop(1).ok_or(NOT_A_MAP)? };
        if !k.parse::<EntryId>().is_ok_and(|id| id.to_string() == k) {
            return Err(RuleBreak::Malformed("a key among the entries that isn't an entry id"));
        }
        if depth == 1 {
            // The entry itself: made, replaced or deleted.
            if !matches!(op.action, OpType::Make(ObjType::Map) | OpType::Delete) || op.insert {
                return Err(RuleBreak::Malformed("an entry that isn't a map"));
            }
            let seen = self.changed_at_key(entries, k, key::AUTHOR, op, id)?;
            return match entry_owner(seen)? {
                Owner::Partner => Ok(()),
                Owner::Me => Err(RuleBreak::YourEntry),
            };
        }
        let entry = &place.objs[1];
        if depth == 2 && map_key(op)? == key::AUTHOR {
            match self.put_person(op)? {
                Who { partner: true, .. } => {}
                Who { me: true, .. } => return Err(RuleBreak::ClaimsYouWroteIt),
                _ => return Err(RuleBreak::SomeoneElse),
            }
        }
        let seen = self.at_key(entries, k, key::AUTHOR).or(self.in_obj(entry, key::AUTHOR));
        let owner = entry_owner(seen)?;
        let in_check_ins = depth >= 3 && place.prop(2) == Some(key::CHECK_INS);
        match owner {
            Owner::Partner if in_check_ins => self.check_check_in(op, id, place, false),
            Owner::Partner => Ok(()),
            Owner::Me if !self.is_agreement(entry) => Err(RuleBreak::YourEntry),
            Owner::Me if in_check_ins => self.check_check_in(op, id, place, true),
            Owner::Me if depth == 2 => self.check_agreement_field(op),
            Owner::Me => Err(RuleBreak::YourAgreement),
        }
    }

    /// The fields of my agreement the partner may set: its status, and when it changed.
    fn check_agreement_field(&self, op: &Op) -> Result<(), RuleBreak> {
        let text = match &op.action {
            OpType::Put(ScalarValue::Str(s)) if !op.insert => s.as_str(),
            _ => return Err(RuleBreak::YourAgreement),
        };
        let readable = match map_key(op)? {
            key::STATUS => text.parse::<AgreementStatus>().is_ok(),
            key::UPDATED_AT => DateTime::parse_from_rfc3339(text).is_ok(),
            _ => return Err(RuleBreak::YourAgreement),
        };
        if readable { Ok(()) } else { Err(RuleBreak::Malformed("an agreement's status or time that can't be read")) }
    }

    /// An op under an agreement's `check_ins`. On my agreement (`mine`) only the
    /// partner's own, readable check-ins may be added or changed; on the partner's, only
    /// the check-ins I made are out of bounds.
    fn check_check_in(&mut self, op: &Op, id: &OpId, place: &Place, mine: bool) -> Result<(), RuleBreak> {
        let depth = place.objs.len();
        let check_ins = &place.objs[2];
        let cid = if depth == 3 { map_key(op)? } else { place.prop(3).ok_or(NOT_A_MAP)? };
        if depth == 4 && map_key(op)? == key::BY {
            match self.put_person(op) {
                Ok(Who { me: true, .. }) => return Err(RuleBreak::ClaimsYouCheckedIn),
                Ok(Who { partner: true, .. }) => {}
                Err(e) if mine => return Err(e),
                _ if mine => return Err(RuleBreak::SomeoneElse),
                _ => {}
            }
        }
        let seen = if depth == 3 {
            self.changed_at_key(check_ins, cid, key::BY, op, id)?
        } else {
            self.at_key(check_ins, cid, key::BY).or(self.in_obj(&place.objs[3], key::BY))
        };
        if seen.before.me {
            return Err(RuleBreak::YourCheckIn);
        }
        if seen.after.me {
            return Err(RuleBreak::ClaimsYouCheckedIn);
        }
        if !mine {
            return Ok(());
        }
        if !seen.all().only_partner() {
            return Err(if seen.all().is_empty() {
                RuleBreak::Malformed("a check-in that doesn't say who made it")
            } else {
                RuleBreak::SomeoneElse
            });
        }
        if !cid.parse::<CheckInId>().is_ok_and(|id| id.to_string() == cid) {
            return Err(RuleBreak::Malformed("a check-in whose id can't be read"));
        }
        let check_in = match depth {
            3 if matches!(op.action, OpType::Make(ObjType::Map)) && !op.insert => made_obj(self.doc, id),
            4 if matches!(op.action, OpType::Put(_) | OpType::Delete) && !op.insert => Some(place.objs[3].clone()),
            _ => return Err(RuleBreak::YourAgreement),
        };
        match check_in {
            Some(obj) => self.readable_check_in(obj),
            None => Err(RuleBreak::Malformed("a check-in that isn't a map")),
        }
    }

    /// A check-in on my agreement must read back whole, or my agreement would no longer
    /// read as one.
    fn readable_check_in(&mut self, obj: ObjId) -> Result<(), RuleBreak> {
        if self.readable_check_ins.contains(&obj) {
            return Ok(());
        }
        let text = |field: &str| match self.doc.get(&obj, field) {
            Ok(Some((Value::Scalar(s), _))) => s.as_str().map(str::to_owned),
            _ => None,
        };
        let readable = text(key::DATE).is_some_and(|d| d.parse::<NaiveDate>().is_ok())
            && text(key::OUTCOME).is_some_and(|o| o.parse::<Outcome>().is_ok())
            && text(key::AT).is_some_and(|t| DateTime::parse_from_rfc3339(&t).is_ok())
            && text(key::BY).is_some_and(|b| b.parse::<PersonId>().is_ok_and(|p| p == self.partner))
            && match self.doc.get(&obj, key::NOTE) {
                Ok(None) => true,
                Ok(Some((Value::Scalar(s), _))) => matches!(s.as_ref(), ScalarValue::Str(_) | ScalarValue::Null),
                _ => false,
            };
        if !readable {
            return Err(RuleBreak::Malformed("a check-in that can't be read"));
        }
        self.readable_check_ins.insert(obj);
        Ok(())
    }

    /// Whether entry `obj` is an agreement, before and after.
    fn is_agreement(&mut self, obj: &ObjId) -> bool {
        if let Some(&known) = self.agreements.get(obj) {
            return known;
        }
        let all_agreement = |values: Result<Vec<(Value<'_>, ObjId)>, AutomergeError>| {
            values.is_ok_and(|v| !v.is_empty() && v.iter().all(|(v, _)| v.as_str() == Some(kind::AGREEMENT)))
        };
        let known = all_agreement(self.doc.get_all(obj, key::KIND))
            && all_agreement(self.doc.get_all_at(obj, key::KIND, self.before));
        self.agreements.insert(obj.clone(), known);
        known
    }

    /// Whose name `field` holds in what map `op` (with id `id`) makes, replaces or deletes
    /// at `key` of `map`: the values there before and after, the values it replaces, and
    /// the map it makes.
    fn changed_at_key(
        &mut self,
        map: &ObjId,
        key: &str,
        field: &'static str,
        op: &Op,
        id: &OpId,
    ) -> Result<Seen, RuleBreak> {
        let mut seen = self.at_key(map, key, field);
        for pred in op.pred.iter() {
            seen = seen.or(match made_obj(self.doc, pred) {
                Some(obj) => self.in_obj(&obj, field),
                None => Seen { before: Who::OTHER, after: Who::OTHER },
            });
        }
        if let OpType::Make(_) = op.action {
            let made = made_obj(self.doc, id).ok_or(RuleBreak::Malformed("a map that isn't in the journal"))?;
            seen = seen.or(self.in_obj(&made, field));
        }
        Ok(seen)
    }

    /// Whose name `field` holds in the maps at `key` of `map`, before and after.
    fn at_key(&mut self, map: &ObjId, key: &str, field: &'static str) -> Seen {
        let cache_key = (map.clone(), key.to_owned(), field);
        if let Some(&seen) = self.at_key.get(&cache_key) {
            return seen;
        }
        let before = if self.empty_before(map, key) || self.is_new(map) {
            Who::default()
        } else {
            self.values_who(self.doc.get_all_at(map, key, self.before), field, Some(self.before))
        };
        let listed = match &self.entries_before {
            Some((entries, _)) if entries == map => self.entries_after.get(key).cloned(),
            _ => None,
        };
        let after = match listed {
            Some(values) => values.iter().fold(Who::default(), |who, value| {
                who.or(match value {
                    Some(obj) => self.after_in(obj, field),
                    None => Who::OTHER,
                })
            }),
            None => self.values_who(self.doc.get_all(map, key), field, None),
        };
        let seen = Seen { before, after };
        self.at_key.insert(cache_key, seen);
        seen
    }

    /// Whose name `field` of map `obj` holds, before (if it was there) and after.
    fn in_obj(&mut self, obj: &ObjId, field: &'static str) -> Seen {
        let cache_key = (obj.clone(), field);
        if let Some(&seen) = self.in_obj.get(&cache_key) {
            return seen;
        }
        let after = self.after_in(obj, field);
        let before = if self.is_new(obj) {
            Who::default()
        } else {
            match self.doc.get_all_at(obj, field, self.before) {
                Ok(values) => self.who(&values),
                Err(_) => Who::OTHER,
            }
        };
        let seen = Seen { before, after };
        self.in_obj.insert(cache_key, seen);
        seen
    }

    /// Whose name `field` of map `obj` holds now; a field that isn't there is nobody's
    /// name.
    fn after_in(&mut self, obj: &ObjId, field: &'static str) -> Who {
        let cache_key = (obj.clone(), field);
        if let Some(&who) = self.after.get(&cache_key) {
            return who;
        }
        let who = match self.doc.get_all(obj, field) {
            Ok(values) if !values.is_empty() => self.who(&values),
            _ => Who::OTHER,
        };
        self.after.insert(cache_key, who);
        who
    }

    fn values_who(
        &mut self,
        values: Result<Vec<(Value<'_>, ObjId)>, AutomergeError>,
        field: &'static str,
        at: Option<&[ChangeHash]>,
    ) -> Who {
        let Ok(values) = values else { return Who::OTHER };
        let mut who = Who::default();
        for (value, obj) in values {
            if !matches!(value, Value::Object(ObjType::Map)) {
                who = who.or(Who::OTHER);
                continue;
            }
            who = who.or(match at {
                Some(heads) => match self.doc.get_all_at(&obj, field, heads) {
                    Ok(names) if !names.is_empty() => self.who(&names),
                    _ => Who::OTHER,
                },
                None => self.after_in(&obj, field),
            });
        }
        who
    }

    fn who(&self, values: &[(Value<'_>, ObjId)]) -> Who {
        values.iter().fold(Who::default(), |acc, (value, _)| acc.or(self.person(value.as_str())))
    }

    /// Whose name a text is, read the way the store reads person ids.
    fn person(&self, text: Option<&str>) -> Who {
        match text.map(str::parse::<PersonId>) {
            Some(Ok(p)) if p == self.partner => Who { partner: true, ..Who::default() },
            Some(Ok(p)) if p == self.me => Who { me: true, ..Who::default() },
            _ => Who::OTHER,
        }
    }

    /// Whose name `op` puts.
    fn put_person(&self, op: &Op) -> Result<Who, RuleBreak> {
        match &op.action {
            OpType::Put(ScalarValue::Str(s)) if !op.insert => Ok(self.person(Some(s.as_str()))),
            _ => Err(RuleBreak::Malformed("a person that isn't a person id")),
        }
    }
}

const NOT_A_MAP: RuleBreak = RuleBreak::Malformed("a list where the journal has a map");

fn map_key(op: &Op) -> Result<&str, RuleBreak> {
    match &op.key {
        Key::Map(k) => Ok(k.as_str()),
        Key::Seq(_) => Err(NOT_A_MAP),
    }
}

/// A value's id if it is a map.
fn map_id(value: &Value<'_>, obj: ObjId) -> Option<ObjId> {
    matches!(value, Value::Object(ObjType::Map)).then_some(obj)
}

/// The object the op with id `op` made, if it made one.
fn made_obj(doc: &Automerge, op: &OpId) -> Option<ObjId> {
    doc.import(&op.to_string()).ok().map(|(obj, _)| obj).filter(|obj| *obj != ROOT)
}

/// Whose entry it is, from whose name its `author` held before and after; refuses an
/// entry that is neither only the partner's nor only mine.
fn entry_owner(seen: Seen) -> Result<Owner, RuleBreak> {
    if seen.all().only_partner() {
        Ok(Owner::Partner)
    } else if seen.before.only_me() && seen.after.only_me() {
        Ok(Owner::Me)
    } else if seen.before.me {
        Err(RuleBreak::YourEntry)
    } else if seen.after.me {
        Err(RuleBreak::ClaimsYouWroteIt)
    } else if seen.all().is_empty() {
        Err(RuleBreak::Malformed("an entry without an author"))
    } else {
        Err(RuleBreak::SomeoneElse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Draft, Entry};
    use crate::store::doc::{self, delete_entry, find_entry, genesis, read_entry, write_entry, write_person};
    use automerge::transaction::Transactable;
    use chrono::{TimeZone, Utc};

    fn at(hour: u32) -> DateTime<chrono::Utc> {
        Utc.with_ymd_and_hms(2026, 3, 4, hour, 0, 0).unwrap()
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, 4).unwrap()
    }

    /// My phone and my partner's, paired and in sync, each with one shared entry of its
    /// own: my agreement, and my partner's reflection.
    struct Couple {
        mine: Automerge,
        theirs: Automerge,
        me: PersonId,
        you: PersonId,
        rules: PartnerRules,
        my_agreement: Entry,
        my_need: Entry,
        your_reflection: Entry,
    }

    fn shared(draft: Draft, author: PersonId) -> Entry {
        let mut e = Entry::create(draft, author, at(9), today()).unwrap();
        e.shared = true;
        e
    }

    fn write(doc: &mut Automerge, edit: impl FnOnce(&mut automerge::transaction::Transaction<'_>)) {
        let mut tx = doc.transaction();
        edit(&mut tx);
        tx.commit();
    }

    fn couple() -> Couple {
        let (me, you) = (PersonId::new(), PersonId::new());
        let mut mine = genesis().with_actor(ActorId::random());
        let my_agreement = shared(Draft::Agreement { text: "Phones away at dinner".into() }, me);
        let my_need = shared(
            Draft::SafetyNeed { side: crate::model::SafetySide::Helps, text: "A text when plans change".into() },
            me,
        );
        write(&mut mine, |tx| {
            write_person(tx, me, "Alex").unwrap();
            write_entry(tx, &my_agreement).unwrap();
            write_entry(tx, &my_need).unwrap();
        });
        let mut theirs = genesis().with_actor(ActorId::random());
        let your_reflection =
            shared(Draft::Reflection { feeling: "Scared".into(), needing: None, understanding: None }, you);
        write(&mut theirs, |tx| {
            write_person(tx, you, "Sam").unwrap();
            write_entry(tx, &your_reflection).unwrap();
        });
        let rules = PartnerRules { person: you, actors: vec![theirs.get_actor().clone()] };
        theirs.merge(&mut mine.clone()).unwrap();
        let mut couple = Couple { mine, theirs, me, you, rules, my_agreement, my_need, your_reflection };
        couple.receive().unwrap();
        couple
    }

    impl Couple {
        /// Takes what my partner's phone has that mine doesn't, as sync would, and checks it.
        fn receive(&mut self) -> Result<(), RuleBreak> {
            let before = self.mine.get_heads();
            let missing: Vec<Change> = self
                .theirs
                .get_changes(&[])
                .into_iter()
                .filter(|c| self.mine.get_change_by_hash(&c.hash()).is_none())
                .collect();
            self.mine.apply_changes(missing).unwrap();
            let new = self.mine.get_changes(&before);
            let touched = check_received(&self.mine, &before, &new, self.me, &self.rules)?;
            assert_eq!(touched, Touched::by(&self.mine, &new), "what passed touched what the index reads");
            Ok(())
        }

        /// My partner's phone changes an entry the way the app does: read, change, write.
        fn partner_rewrites(&mut self, id: EntryId, change: impl FnOnce(&mut Entry)) {
            let obj = find_entry(&self.theirs, id).unwrap().unwrap();
            let mut e = read_entry(&self.theirs, id, &obj).unwrap();
            change(&mut e);
            write(&mut self.theirs, |tx| write_entry(tx, &e).unwrap());
        }

        fn partner_writes(&mut self, edit: impl FnOnce(&mut automerge::transaction::Transaction<'_>, &Ids)) {
            let ids = Ids::of(&self.theirs, self);
            write(&mut self.theirs, |tx| edit(tx, &ids));
        }
    }

    /// The objects of the couple's entries, as my partner's phone sees them.
    struct Ids {
        my_agreement: ObjId,
        my_need: ObjId,
        your_reflection: ObjId,
    }

    impl Ids {
        fn of(doc: &Automerge, c: &Couple) -> Ids {
            let find = |id| find_entry(doc, id).unwrap().unwrap();
            Ids {
                my_agreement: find(c.my_agreement.id),
                my_need: find(c.my_need.id),
                your_reflection: find(c.your_reflection.id),
            }
        }
    }

    fn check_in_obj(doc: &Automerge, agreement: &ObjId, nth: usize) -> ObjId {
        let (_, check_ins) = doc.get(agreement, key::CHECK_INS).unwrap().unwrap();
        doc.map_range(&check_ins, ..).nth(nth).unwrap().id()
    }

    // ----- What the partner may do -----

    #[test]
    fn the_partner_may_add_an_entry_of_their_own() {
        let mut c = couple();
        let e = shared(Draft::Transparency { text: "Out with Sam until 10".into(), window: None }, c.you);
        write(&mut c.theirs, |tx| write_entry(tx, &e).unwrap());
        assert_eq!(c.receive(), Ok(()));
        assert!(find_entry(&c.mine, e.id).unwrap().is_some());
    }

    #[test]
    fn the_partner_may_edit_and_delete_their_own_entry() {
        let mut c = couple();
        let id = c.your_reflection.id;
        c.partner_rewrites(id, |e| {
            e.edit(
                Draft::Reflection { feeling: "Calmer".into(), needing: Some("time".into()), understanding: None },
                e.author,
                at(10),
            )
            .unwrap()
        });
        assert_eq!(c.receive(), Ok(()));
        write(&mut c.theirs, |tx| delete_entry(tx, id).unwrap());
        assert_eq!(c.receive(), Ok(()));
        assert!(find_entry(&c.mine, id).unwrap().is_none());
    }

    #[test]
    fn the_partner_may_add_and_delete_an_entry_in_one_message() {
        let mut c = couple();
        let e = shared(Draft::Transparency { text: "Gym".into(), window: None }, c.you);
        write(&mut c.theirs, |tx| write_entry(tx, &e).unwrap());
        write(&mut c.theirs, |tx| delete_entry(tx, e.id).unwrap());
        assert_eq!(c.receive(), Ok(()));
    }

    #[test]
    fn the_partner_may_check_in_on_my_agreement_and_change_their_check_in() {
        let mut c = couple();
        let you = c.you;
        c.partner_rewrites(c.my_agreement.id, |e| {
            e.check_in(Outcome::Kept, Some("Nice dinner"), you, at(20), today()).unwrap();
        });
        assert_eq!(c.receive(), Ok(()));
        let ids = Ids::of(&c.theirs, &c);
        let theirs = check_in_obj(&c.theirs, &ids.my_agreement, 0);
        write(&mut c.theirs, |tx| tx.put(&theirs, key::NOTE, "Lovely dinner").unwrap());
        assert_eq!(c.receive(), Ok(()));
    }

    #[test]
    fn the_partner_may_retire_my_agreement() {
        let mut c = couple();
        c.partner_rewrites(c.my_agreement.id, |e| e.set_agreement_status(AgreementStatus::Retired, at(21)).unwrap());
        assert_eq!(c.receive(), Ok(()));
        let obj = find_entry(&c.mine, c.my_agreement.id).unwrap().unwrap();
        let e = read_entry(&c.mine, c.my_agreement.id, &obj).unwrap();
        assert!(matches!(e.body, crate::model::Body::Agreement { status: AgreementStatus::Retired, .. }));
    }

    #[test]
    fn the_partner_may_write_their_own_name() {
        let mut c = couple();
        let you = c.you;
        write(&mut c.theirs, |tx| write_person(tx, you, "Sammy").unwrap());
        assert_eq!(c.receive(), Ok(()));
        assert!(doc::people(&c.mine).unwrap().contains(&(you, "Sammy".to_owned())));
    }

    // ----- What the partner may not -----

    #[test]
    fn the_partner_may_not_edit_my_entry() {
        let mut c = couple();
        c.partner_writes(|tx, ids| tx.put(&ids.my_need, key::TEXT, "Nothing helps").map(drop).unwrap());
        assert_eq!(c.receive(), Err(RuleBreak::YourEntry));
    }

    #[test]
    fn the_partner_may_not_change_the_words_of_my_agreement() {
        let mut c = couple();
        c.partner_writes(|tx, ids| tx.put(&ids.my_agreement, key::TEXT, "Phones anywhere").map(drop).unwrap());
        assert_eq!(c.receive(), Err(RuleBreak::YourAgreement));
        let mut c = couple();
        c.partner_writes(|tx, ids| tx.put(&ids.my_agreement, key::ARCHIVED, true).map(drop).unwrap());
        assert_eq!(c.receive(), Err(RuleBreak::YourAgreement));
        let mut c = couple();
        c.partner_writes(|tx, ids| tx.delete(&ids.my_agreement, key::CHECK_INS).unwrap());
        assert_eq!(c.receive(), Err(RuleBreak::YourAgreement));
    }

    #[test]
    fn the_partner_may_not_delete_my_entry() {
        let mut c = couple();
        let id = c.my_need.id;
        write(&mut c.theirs, |tx| delete_entry(tx, id).unwrap());
        assert_eq!(c.receive(), Err(RuleBreak::YourEntry));
        let mut c = couple();
        let id = c.my_agreement.id;
        write(&mut c.theirs, |tx| delete_entry(tx, id).unwrap());
        assert_eq!(c.receive(), Err(RuleBreak::YourEntry));
    }

    #[test]
    fn the_partner_may_not_replace_my_entry_with_one_of_their_own() {
        let mut c = couple();
        let mut e = shared(Draft::Transparency { text: "Mine now".into(), window: None }, c.you);
        e.id = c.my_need.id;
        write(&mut c.theirs, |tx| {
            let entries = doc::root_map(tx, ENTRIES).unwrap();
            tx.put_object(&entries, e.id.to_string(), ObjType::Map).unwrap();
            write_entry(tx, &e).unwrap();
        });
        assert_eq!(c.receive(), Err(RuleBreak::YourEntry));
    }

    /// A first sync, or a year of entries shared at once, is checked through tables
    /// read in one pass (over [`MANY_OPS`] operations): one change among them that breaks
    /// the rules is still found.
    #[test]
    fn among_many_entries_one_that_breaks_the_rules_is_found() {
        fn many(c: &mut Couple, then: impl FnOnce(&mut automerge::transaction::Transaction<'_>, &Ids)) {
            let ids = Ids::of(&c.theirs, c);
            let entries: Vec<Entry> =
                (0..150).map(|i| shared(Draft::CheckIn { text: format!("Day {i}: a quiet evening") }, c.you)).collect();
            let mut tx = c.theirs.transaction();
            for e in &entries {
                write_entry(&mut tx, e).unwrap();
            }
            then(&mut tx, &ids);
            tx.commit();
            assert!(c.theirs.get_last_local_change().unwrap().len() > MANY_OPS);
        }
        let mut c = couple();
        many(&mut c, |_, _| {});
        assert_eq!(c.receive(), Ok(()), "the partner's own entries pass");
        assert_eq!(doc::entry_ids(&c.mine).unwrap().len(), 153);

        let mut c = couple();
        many(&mut c, |tx, ids| tx.put(&ids.my_need, key::TEXT, "Nothing helps").map(drop).unwrap());
        assert_eq!(c.receive(), Err(RuleBreak::YourEntry));

        let mut c = couple();
        let me = c.me;
        many(&mut c, |tx, _| {
            let forged = shared(Draft::CheckIn { text: "x".into() }, me);
            write_entry(tx, &forged).unwrap();
        });
        assert_eq!(c.receive(), Err(RuleBreak::ClaimsYouWroteIt));

        let mut c = couple();
        let (you, mine) = (c.you, c.my_need.id);
        many(&mut c, |tx, _| {
            let mut e = shared(Draft::CheckIn { text: "Mine now".into() }, you);
            e.id = mine;
            let entries = doc::root_map(tx, ENTRIES).unwrap();
            tx.put_object(&entries, e.id.to_string(), ObjType::Map).unwrap();
            write_entry(tx, &e).unwrap();
        });
        assert_eq!(c.receive(), Err(RuleBreak::YourEntry));

        let mut c = couple();
        let mine = c.my_agreement.id;
        many(&mut c, |tx, _| {
            let entries = doc::root_map(tx, ENTRIES).unwrap();
            tx.delete(&entries, mine.to_string()).unwrap();
        });
        assert_eq!(c.receive(), Err(RuleBreak::YourEntry));
    }

    #[test]
    fn the_partner_may_not_forge_an_entry_in_my_name() {
        let mut c = couple();
        let forged = shared(Draft::SafetyNeed { side: crate::model::SafetySide::Harder, text: "x".into() }, c.me);
        write(&mut c.theirs, |tx| write_entry(tx, &forged).unwrap());
        assert_eq!(c.receive(), Err(RuleBreak::ClaimsYouWroteIt));
        // Nor in my name written another way that still reads as my id.
        let mut c = couple();
        let forged = shared(Draft::SafetyNeed { side: crate::model::SafetySide::Harder, text: "x".into() }, c.you);
        let shouted = format!(" {} ", c.me.to_string().to_uppercase());
        write(&mut c.theirs, |tx| {
            write_entry(tx, &forged).unwrap();
            let obj = find_entry(tx, forged.id).unwrap().unwrap();
            tx.put(&obj, key::AUTHOR, shouted.as_str()).unwrap();
        });
        assert_eq!(c.receive(), Err(RuleBreak::ClaimsYouWroteIt));
    }

    #[test]
    fn the_partner_may_not_hand_their_entry_to_me_or_to_anyone() {
        let mut c = couple();
        let me = c.me;
        c.partner_rewrites(c.your_reflection.id, |e| e.author = me);
        assert_eq!(c.receive(), Err(RuleBreak::ClaimsYouWroteIt));
        let mut c = couple();
        c.partner_writes(|tx, ids| {
            tx.put(&ids.your_reflection, key::AUTHOR, PersonId::new().to_string()).unwrap();
        });
        assert_eq!(c.receive(), Err(RuleBreak::SomeoneElse));
    }

    #[test]
    fn a_change_under_any_other_device_is_refused() {
        let mut c = couple();
        c.theirs.set_actor(c.mine.get_actor().clone());
        let e = shared(Draft::Transparency { text: "x".into(), window: None }, c.you);
        write(&mut c.theirs, |tx| write_entry(tx, &e).unwrap());
        assert_eq!(c.receive(), Err(RuleBreak::NotPartnersDevice));
        let mut c = couple();
        c.theirs.set_actor(genesis_actor());
        let you = c.you;
        write(&mut c.theirs, |tx| write_person(tx, you, "Sam again").unwrap());
        assert_eq!(c.receive(), Err(RuleBreak::NotPartnersDevice));
    }

    #[test]
    fn the_partner_may_not_touch_the_root() {
        let mut c = couple();
        write(&mut c.theirs, |tx| {
            tx.put_object(ROOT, ENTRIES, ObjType::Map).unwrap();
        });
        assert_eq!(c.receive(), Err(RuleBreak::Root));
        let mut c = couple();
        write(&mut c.theirs, |tx| tx.put(ROOT, doc::FORMAT_KEY, 2).unwrap());
        assert_eq!(c.receive(), Err(RuleBreak::Root));
    }

    #[test]
    fn the_partner_may_not_change_my_name() {
        let mut c = couple();
        let me = c.me;
        write(&mut c.theirs, |tx| write_person(tx, me, "Mallory").unwrap());
        assert_eq!(c.receive(), Err(RuleBreak::YourName));
        let mut c = couple();
        write(&mut c.theirs, |tx| write_person(tx, PersonId::new(), "A third").unwrap());
        assert_eq!(c.receive(), Err(RuleBreak::YourName));
    }

    #[test]
    fn a_losing_put_on_my_entry_is_refused_too() {
        let mut c = couple();
        // Both phones write at once; mine has the larger actor, so mine wins the conflict.
        c.mine.set_actor(ActorId::from([0xff; 16]));
        c.theirs.set_actor(ActorId::from([0x01; 16]));
        c.rules.actors.push(c.theirs.get_actor().clone());
        let ids = Ids::of(&c.mine, &c);
        write(&mut c.mine, |tx| tx.put(&ids.my_need, key::TEXT, "mine").unwrap());
        c.partner_writes(|tx, ids| tx.put(&ids.my_need, key::TEXT, "theirs").unwrap());
        let mine_before = c.mine.get_heads();
        let refused = c.receive();
        assert_ne!(c.mine.get_heads(), mine_before, "the partner's change was applied");
        let shown = c.mine.get(&ids.my_need, key::TEXT).unwrap().unwrap().0;
        assert_eq!(shown.as_str(), Some("mine"), "the partner's value lost the conflict");
        assert_eq!(c.mine.get_all(&ids.my_need, key::TEXT).unwrap().len(), 2);
        assert_eq!(refused, Err(RuleBreak::YourEntry));
    }

    #[test]
    fn the_partner_may_not_check_in_in_my_name() {
        let mut c = couple();
        let me = c.me;
        c.partner_rewrites(c.my_agreement.id, |e| {
            e.check_in(Outcome::Missed, None, me, at(20), today()).unwrap();
        });
        assert_eq!(c.receive(), Err(RuleBreak::ClaimsYouCheckedIn));
    }

    #[test]
    fn the_partner_may_not_change_my_check_in() {
        let mut c = couple();
        let (me, id) = (c.me, c.my_agreement.id);
        let obj = find_entry(&c.mine, id).unwrap().unwrap();
        let mut e = read_entry(&c.mine, id, &obj).unwrap();
        e.check_in(Outcome::Kept, None, me, at(20), today()).unwrap();
        write(&mut c.mine, |tx| write_entry(tx, &e).unwrap());
        c.theirs.merge(&mut c.mine.clone()).unwrap();
        let mine = check_in_obj(&c.theirs, &Ids::of(&c.theirs, &c).my_agreement, 0);
        write(&mut c.theirs, |tx| tx.put(&mine, key::OUTCOME, "missed").unwrap());
        assert_eq!(c.receive(), Err(RuleBreak::YourCheckIn));
        // Nor take it over by putting their own name on it.
        let mut c2 = couple();
        let (me, you, id) = (c2.me, c2.you, c2.my_agreement.id);
        let obj = find_entry(&c2.mine, id).unwrap().unwrap();
        let mut e = read_entry(&c2.mine, id, &obj).unwrap();
        e.check_in(Outcome::Kept, None, me, at(20), today()).unwrap();
        write(&mut c2.mine, |tx| write_entry(tx, &e).unwrap());
        c2.theirs.merge(&mut c2.mine.clone()).unwrap();
        let mine = check_in_obj(&c2.theirs, &Ids::of(&c2.theirs, &c2).my_agreement, 0);
        write(&mut c2.theirs, |tx| tx.put(&mine, key::BY, you.to_string()).unwrap());
        assert_eq!(c2.receive(), Err(RuleBreak::YourCheckIn));
    }

    #[test]
    fn the_partner_may_not_rewrite_my_check_in_on_their_agreement() {
        let mut c = couple();
        let agreement = shared(Draft::Agreement { text: "Walk on Sundays".into() }, c.you);
        write(&mut c.theirs, |tx| write_entry(tx, &agreement).unwrap());
        assert_eq!(c.receive(), Ok(()));
        let obj = find_entry(&c.mine, agreement.id).unwrap().unwrap();
        let mut e = read_entry(&c.mine, agreement.id, &obj).unwrap();
        e.check_in(Outcome::Kept, None, c.me, at(20), today()).unwrap();
        write(&mut c.mine, |tx| write_entry(tx, &e).unwrap());
        c.theirs.merge(&mut c.mine.clone()).unwrap();
        let theirs_obj = find_entry(&c.theirs, agreement.id).unwrap().unwrap();
        let mine = check_in_obj(&c.theirs, &theirs_obj, 0);
        write(&mut c.theirs, |tx| tx.put(&mine, key::OUTCOME, "missed").unwrap());
        assert_eq!(c.receive(), Err(RuleBreak::YourCheckIn));
    }

    #[test]
    fn a_check_in_on_my_agreement_must_read_back() {
        let mut c = couple();
        let you = c.you.to_string();
        c.partner_writes(|tx, ids| {
            let (_, check_ins) = tx.get(&ids.my_agreement, key::CHECK_INS).unwrap().unwrap();
            let ci = tx.put_object(&check_ins, CheckInId::new().to_string(), ObjType::Map).unwrap();
            tx.put(&ci, key::BY, you.as_str()).unwrap();
            tx.put(&ci, key::OUTCOME, "sort of").unwrap();
        });
        assert_eq!(c.receive(), Err(RuleBreak::Malformed("a check-in that can't be read")));
    }

    #[test]
    fn a_key_among_the_entries_must_be_an_entry_id() {
        let mut c = couple();
        write(&mut c.theirs, |tx| {
            let entries = doc::root_map(tx, ENTRIES).unwrap();
            let obj = tx.put_object(&entries, "not-an-id", ObjType::Map).unwrap();
            tx.put(&obj, key::AUTHOR, c.you.to_string()).unwrap();
        });
        assert_eq!(c.receive(), Err(RuleBreak::Malformed("a key among the entries that isn't an entry id")));
    }

    #[test]
    fn ten_thousand_entries_are_checked_by_what_changed() {
        let mut c = couple();
        let me = c.me;
        let many: Vec<Entry> = (0..10_000).map(|i| shared(Draft::CheckIn { text: format!("day {i}") }, me)).collect();
        // One change each, as they would have been written.
        for e in &many {
            write(&mut c.mine, |tx| write_entry(tx, e).unwrap());
        }
        c.theirs.merge(&mut c.mine.clone()).unwrap();
        let e = shared(Draft::Transparency { text: "Home by 7".into(), window: None }, c.you);
        write(&mut c.theirs, |tx| write_entry(tx, &e).unwrap());
        let you = c.you;
        c.partner_rewrites(c.my_agreement.id, |e| {
            e.check_in(Outcome::Kept, None, you, at(20), today()).unwrap();
        });
        assert_eq!(c.receive(), Ok(()));
        let target = many[5_000].id;
        write(&mut c.theirs, |tx| {
            let obj = find_entry(tx, target).unwrap().unwrap();
            tx.put(&obj, key::TEXT, "changed").unwrap();
        });
        assert_eq!(c.receive(), Err(RuleBreak::YourEntry));
    }
}
