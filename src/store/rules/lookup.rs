//! What the rules read of the document, each thing once: where an object sits, whose name
//! a field held before the received changes and holds after them, whether an entry is an
//! agreement, whether a check-in reads back whole. Every answer is kept for the rest of
//! the message, so a message that touches one entry a thousand times reads it once.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use automerge::legacy::{ObjectId, Op, OpId, OpType};
use automerge::{
    ActorId, Automerge, AutomergeError, ChangeHash, ObjId, ObjType, Prop, ROOT, ReadDoc, ScalarValue, Value,
};
use chrono::{DateTime, NaiveDate};

use crate::model::fields::{key, kind};
use crate::model::{Outcome, PersonId};

use super::{MAX_DEPTH, RuleBreak, made_obj, map_id};
use crate::store::doc::ENTRIES;

/// Where an object sits: `objs[i]` was made under `props[i]` in `objs[i - 1]` (the first
/// in the root), and the last of `objs` is the object itself. Empty for the root.
pub(super) struct Position {
    pub objs: Vec<ObjId>,
    pub props: Vec<Prop>,
}

impl Position {
    /// The map key the object at depth `i` sits under.
    pub fn prop(&self, i: usize) -> Option<&str> {
        match self.props.get(i)? {
            Prop::Map(k) => Some(k.as_str()),
            Prop::Seq(_) => None,
        }
    }
}

/// Whose name a field holds, over one or more values (a field in conflict holds several).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Who {
    pub partner: bool,
    pub me: bool,
    /// Someone else, or a value that isn't a person id.
    pub other: bool,
}

impl Who {
    pub const OTHER: Who = Who { partner: false, me: false, other: true };

    pub fn or(self, o: Who) -> Who {
        Who { partner: self.partner || o.partner, me: self.me || o.me, other: self.other || o.other }
    }

    pub fn is_empty(self) -> bool {
        self == Who::default()
    }

    pub fn only_partner(self) -> bool {
        self == Who { partner: true, ..Who::default() }
    }

    pub fn only_me(self) -> bool {
        self == Who { me: true, ..Who::default() }
    }
}

/// Whose name a field held before the received changes, and holds after them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Seen {
    pub before: Who,
    pub after: Who,
}

impl Seen {
    pub fn or(self, o: Seen) -> Seen {
        Seen { before: self.before.or(o.before), after: self.after.or(o.after) }
    }

    pub fn all(self) -> Who {
        self.before.or(self.after)
    }
}

/// The document after the received changes, its heads before them, the two people, and
/// every answer already read.
pub(super) struct Lookups<'a> {
    pub doc: &'a Automerge,
    before: &'a [ChangeHash],
    me: PersonId,
    pub partner: PersonId,
    positions: HashMap<ObjectId, Rc<Position>>,
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
}

impl<'a> Lookups<'a> {
    pub fn new(doc: &'a Automerge, before: &'a [ChangeHash], me: PersonId, partner: PersonId) -> Self {
        Lookups {
            doc,
            before,
            me,
            partner,
            positions: HashMap::new(),
            at_key: HashMap::new(),
            in_obj: HashMap::new(),
            agreements: HashMap::new(),
            readable_check_ins: HashSet::new(),
            entries_before: None,
            entries_after: HashMap::new(),
            after: HashMap::new(),
            made: HashMap::new(),
        }
    }

    /// Notes that the operation with counter `counter` of `actor` makes an object: it
    /// held nothing before the changes.
    pub fn made_by(&mut self, actor: &ActorId, counter: u64) {
        self.made.entry(actor.clone()).or_default().insert(counter);
    }

    /// Lists the keys the `entries` map held before, and what each holds now, in one
    /// pass each: a message with many entries then costs a lookup in a table per entry,
    /// not a search of the document.
    pub fn list_entries(&mut self) {
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

    /// Where `obj` sits in the document.
    pub fn position(&mut self, obj: &ObjectId) -> Result<Rc<Position>, RuleBreak> {
        if let Some(position) = self.positions.get(obj) {
            return Ok(position.clone());
        }
        let unknown = RuleBreak::Malformed("a change to something that isn't in the journal");
        let position = match obj {
            ObjectId::Root => Position { objs: Vec::new(), props: Vec::new() },
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
                Position { objs, props }
            }
        };
        let position = Rc::new(position);
        self.positions.insert(obj.clone(), position.clone());
        Ok(position)
    }

    /// Places an object an operation makes, from where the operation is.
    pub fn place_made(&mut self, made_by: &OpId, made: ObjId, under: &Position, key: &str) {
        let mut objs = under.objs.clone();
        objs.push(made);
        let mut props = under.props.clone();
        props.push(Prop::Map(key.to_owned()));
        self.positions.insert(ObjectId::Id(made_by.clone()), Rc::new(Position { objs, props }));
    }

    /// Whose name `field` holds in what map `op` (with id `id`) makes, replaces or deletes
    /// at `key` of `map`: the values there before and after, the values it replaces, and
    /// the map it makes.
    pub fn changed_at_key(
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
    pub fn at_key(&mut self, map: &ObjId, key: &str, field: &'static str) -> Seen {
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
    pub fn in_obj(&mut self, obj: &ObjId, field: &'static str) -> Seen {
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
    pub fn put_person(&self, op: &Op) -> Result<Who, RuleBreak> {
        match &op.action {
            OpType::Put(ScalarValue::Str(s)) if !op.insert => Ok(self.person(Some(s.as_str()))),
            _ => Err(RuleBreak::Malformed("a person that isn't a person id")),
        }
    }

    /// Whether entry `obj` is an agreement, before and after.
    pub fn is_agreement(&mut self, obj: &ObjId) -> bool {
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

    /// Whether the check-in `obj` reads back whole, as the partner's: a check-in on my
    /// agreement that doesn't would make my agreement no longer read as one.
    pub fn readable_check_in(&mut self, obj: ObjId) -> bool {
        if self.readable_check_ins.contains(&obj) {
            return true;
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
                Ok(Some((Value::Scalar(s), _))) => {
                    matches!(s.as_ref(), ScalarValue::Str(_) | ScalarValue::Null)
                }
                _ => false,
            };
        if readable {
            self.readable_check_ins.insert(obj);
        }
        readable
    }
}
