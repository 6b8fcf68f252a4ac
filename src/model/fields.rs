//! An entry as a map of plain fields. The shared document, the private table and the
//! JSON export all hold entries in this one shape, so a field a newer version adds passes
//! through every one of them untouched.
//!
//! Over 600 lines with its tests, which stay beside the mapping they pin; the code is
//! about 550.

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde_json::{Map, Value};

use super::ModelError;
use super::entry::{Body, CheckIn, Entry, TimeWindow};
use super::ids::{CheckInId, EntryId, PersonId};

pub type Fields = BTreeMap<String, Value>;

/// Field names. They are part of the shared document's format (see ARCHITECTURE.md), so
/// they never change.
pub mod key {
    pub const KIND: &str = "kind";
    pub const AUTHOR: &str = "author";
    pub const CREATED_AT: &str = "created_at";
    pub const UPDATED_AT: &str = "updated_at";
    pub const ARCHIVED: &str = "archived";
    pub const SIDE: &str = "side";
    pub const TEXT: &str = "text";
    pub const FEELING: &str = "feeling";
    pub const NEEDING: &str = "needing";
    pub const UNDERSTANDING: &str = "understanding";
    pub const PROPOSED_BY: &str = "proposed_by";
    pub const STATUS: &str = "status";
    pub const CHECK_INS: &str = "check_ins";
    pub const DATE: &str = "date";
    pub const FROM: &str = "from";
    pub const TO: &str = "to";
    pub const OUTCOME: &str = "outcome";
    pub const NOTE: &str = "note";
    pub const BY: &str = "by";
    pub const AT: &str = "at";
}

/// The `kind` values of the shared document.
pub mod kind {
    pub const SAFETY_NEED: &str = "safety_need";
    pub const REFLECTION: &str = "reflection";
    pub const AGREEMENT: &str = "agreement";
    pub const DAILY_CHECK_IN: &str = "daily_check_in";
    pub const TRANSPARENCY: &str = "transparency";
}

const COMMON: [&str; 5] = [key::KIND, key::AUTHOR, key::CREATED_AT, key::UPDATED_AT, key::ARCHIVED];

/// A time as stored: RFC 3339 in UTC, with as many fractional digits as it has, so that
/// it reads back exactly.
pub fn timestamp_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn s(v: impl Into<String>) -> Value {
    Value::String(v.into())
}

/// The fields of a check-in, as stored under its agreement's `check_ins` map.
pub fn check_in_fields(c: &CheckIn) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(key::DATE.into(), s(c.date.to_string()));
    m.insert(key::OUTCOME.into(), s(c.outcome.as_str()));
    if let Some(note) = &c.note {
        m.insert(key::NOTE.into(), s(note.clone()));
    }
    m.insert(key::BY.into(), s(c.by.to_string()));
    m.insert(key::AT.into(), s(timestamp_text(c.at)));
    m
}

impl Entry {
    /// Every field of the entry except its id (the key it is stored under) and where it
    /// lives.
    pub fn to_fields(&self) -> Fields {
        let mut f = self.extra.clone();
        f.insert(key::AUTHOR.into(), s(self.author.to_string()));
        f.insert(key::CREATED_AT.into(), s(timestamp_text(self.created_at)));
        f.insert(key::UPDATED_AT.into(), s(timestamp_text(self.updated_at)));
        f.insert(key::ARCHIVED.into(), Value::Bool(self.archived));
        match &self.body {
            Body::SafetyNeed { side, text } => {
                f.insert(key::SIDE.into(), s(side.as_str()));
                f.insert(key::TEXT.into(), s(text.clone()));
            }
            Body::Reflection { feeling, needing, understanding } => {
                f.insert(key::FEELING.into(), s(feeling.clone()));
                if let Some(n) = needing {
                    f.insert(key::NEEDING.into(), s(n.clone()));
                }
                if let Some(u) = understanding {
                    f.insert(key::UNDERSTANDING.into(), s(u.clone()));
                }
            }
            Body::Agreement { text, proposed_by, status, check_ins } => {
                f.insert(key::TEXT.into(), s(text.clone()));
                f.insert(key::PROPOSED_BY.into(), s(proposed_by.to_string()));
                f.insert(key::STATUS.into(), s(status.as_str()));
                let map = check_ins.iter().map(|c| (c.id.to_string(), Value::Object(check_in_fields(c)))).collect();
                f.insert(key::CHECK_INS.into(), Value::Object(map));
            }
            Body::DailyCheckIn { date, text } => {
                f.insert(key::DATE.into(), s(date.to_string()));
                f.insert(key::TEXT.into(), s(text.clone()));
            }
            Body::Transparency { text, window } => {
                f.insert(key::TEXT.into(), s(text.clone()));
                if let Some(w) = window {
                    f.insert(key::FROM.into(), s(timestamp_text(w.from)));
                    f.insert(key::TO.into(), s(timestamp_text(w.to)));
                }
            }
            // Every field of an entry of an unknown kind is in `extra`.
            Body::Unknown { .. } => {}
        }
        f.insert(key::KIND.into(), s(self.kind_text()));
        f
    }

    /// The entry with an agreement's check-ins left out, made without copying them.
    pub fn without_check_ins(&self) -> Entry {
        let body = match &self.body {
            Body::Agreement { text, proposed_by, status, .. } => Body::Agreement {
                text: text.clone(),
                proposed_by: *proposed_by,
                status: *status,
                check_ins: Vec::new(),
            },
            other => other.clone(),
        };
        Entry { body, extra: self.extra.clone(), ..*self }
    }

    /// The entry's `kind` field.
    pub fn kind_text(&self) -> &str {
        match &self.body {
            Body::SafetyNeed { .. } => kind::SAFETY_NEED,
            Body::Reflection { .. } => kind::REFLECTION,
            Body::Agreement { .. } => kind::AGREEMENT,
            Body::DailyCheckIn { .. } => kind::DAILY_CHECK_IN,
            Body::Transparency { .. } => kind::TRANSPARENCY,
            Body::Unknown { kind } => kind,
        }
    }

    /// The fields [`Entry::to_fields`] gives, as a JSON object, less those `leave_out`
    /// names. An agreement's check-ins are written straight from the entry, not made
    /// into a map of fields each first: an agreement that holds hundreds is written on
    /// every check-in.
    pub fn fields_json(&self, leave_out: fn(&str) -> bool) -> String {
        let (fields, check_ins) = match &self.body {
            Body::Agreement { check_ins, .. } if !check_ins.is_empty() => {
                (self.without_check_ins().to_fields(), Some(&check_ins[..]))
            }
            _ => (self.to_fields(), None),
        };
        let view = FieldsView { fields: &fields, leave_out, check_ins };
        serde_json::to_string(&view).unwrap_or_else(|_| unreachable!("fields and check-ins always serialize"))
    }

    /// Reads an entry back from its fields. Fields this version does not know are kept in
    /// `extra`; an unknown `kind` becomes [`Body::Unknown`] with every field kept.
    pub fn from_fields(id: EntryId, shared: bool, f: Fields) -> Result<Entry, ModelError> {
        Entry::read_fields(id, shared, f, false)
    }

    /// Like [`Entry::from_fields`], but an entry of a known kind that this version can't
    /// read (a newer version may have changed a field's shape) is kept as
    /// [`Body::Unknown`] with all its fields, rather than dropped. Only entries whose
    /// common fields are unreadable are refused.
    pub fn from_fields_lenient(id: EntryId, shared: bool, f: Fields) -> Result<Entry, ModelError> {
        Entry::read_fields(id, shared, f, true)
    }

    fn read_fields(id: EntryId, shared: bool, mut f: Fields, lenient: bool) -> Result<Entry, ModelError> {
        let mut r = Reader { fields: &f, used: Vec::with_capacity(12) };
        let author = r.parse::<PersonId>(key::AUTHOR)?;
        let created_at = r.time(key::CREATED_AT)?;
        let updated_at = r.time(key::UPDATED_AT)?;
        let archived = match r.take(key::ARCHIVED) {
            Some(Value::Bool(b)) => *b,
            None => false,
            Some(other) => return Err(ModelError::bad_field(key::ARCHIVED, other)),
        };
        let kind = r.string(key::KIND)?;
        let common = r.used.len();
        let body = match r.body(&kind) {
            Ok(body) => body,
            Err(_) if lenient => {
                // Keep every field but the common ones, so the entry is written back whole.
                r.used.truncate(common);
                Body::Unknown { kind }
            }
            Err(e) => return Err(e),
        };
        for key in r.used {
            f.remove(key);
        }
        Ok(Entry {
            id,
            author,
            created_at,
            updated_at,
            archived,
            shared,
            waiting: false,
            shared_before: false,
            body,
            extra: f,
        })
    }
}

/// Whether `name` is one of the fields that every entry has.
pub fn is_common(name: &str) -> bool {
    COMMON.contains(&name)
}

/// Reads fields from a borrowed map and remembers which it used, so that the rest can be
/// kept as `extra` without copying the map first.
struct Reader<'a> {
    fields: &'a Fields,
    used: Vec<&'static str>,
}

impl<'a> Reader<'a> {
    fn take(&mut self, name: &'static str) -> Option<&'a Value> {
        let v = self.fields.get(name);
        if v.is_some() {
            self.used.push(name);
        }
        v
    }

    fn body(&mut self, kind_name: &str) -> Result<Body, ModelError> {
        Ok(match kind_name {
            kind::SAFETY_NEED => Body::SafetyNeed { side: self.parse(key::SIDE)?, text: self.string(key::TEXT)? },
            kind::REFLECTION => Body::Reflection {
                feeling: self.string(key::FEELING)?,
                needing: self.optional_string(key::NEEDING)?,
                understanding: self.optional_string(key::UNDERSTANDING)?,
            },
            kind::AGREEMENT => Body::Agreement {
                text: self.string(key::TEXT)?,
                proposed_by: self.parse(key::PROPOSED_BY)?,
                status: self.parse(key::STATUS)?,
                check_ins: self.check_ins()?,
            },
            kind::DAILY_CHECK_IN => Body::DailyCheckIn { date: self.parse(key::DATE)?, text: self.string(key::TEXT)? },
            kind::TRANSPARENCY => {
                let text = self.string(key::TEXT)?;
                let window = match (self.optional_time(key::FROM)?, self.optional_time(key::TO)?) {
                    (Some(from), Some(to)) => Some(TimeWindow { from, to }),
                    (None, None) => None,
                    _ => return Err(ModelError::HalfAWindow),
                };
                Body::Transparency { text, window }
            }
            other => Body::Unknown { kind: other.to_owned() },
        })
    }

    fn string(&mut self, name: &'static str) -> Result<String, ModelError> {
        self.optional_string(name)?.ok_or(ModelError::MissingField { field: name })
    }

    fn optional_string(&mut self, name: &'static str) -> Result<Option<String>, ModelError> {
        Ok(self.optional_str(name)?.map(str::to_owned))
    }

    fn optional_str(&mut self, name: &'static str) -> Result<Option<&'a str>, ModelError> {
        match self.take(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(v)) => Ok(Some(v)),
            Some(other) => Err(ModelError::bad_field(name, other)),
        }
    }

    fn parse<T: FromStr>(&mut self, name: &'static str) -> Result<T, ModelError> {
        let text = self.optional_str(name)?.ok_or(ModelError::MissingField { field: name })?;
        text.parse().map_err(|_| ModelError::bad_field(name, &Value::String(text.to_owned())))
    }

    fn time(&mut self, name: &'static str) -> Result<DateTime<Utc>, ModelError> {
        self.optional_time(name)?.ok_or(ModelError::MissingField { field: name })
    }

    fn optional_time(&mut self, name: &'static str) -> Result<Option<DateTime<Utc>>, ModelError> {
        match self.optional_str(name)? {
            None => Ok(None),
            Some(text) => DateTime::parse_from_rfc3339(text)
                .map(|t| Some(t.with_timezone(&Utc)))
                .map_err(|_| ModelError::bad_field(name, &Value::String(text.to_owned()))),
        }
    }

    fn check_ins(&mut self) -> Result<Vec<CheckIn>, ModelError> {
        let map = match self.take(key::CHECK_INS) {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Object(m)) => m,
            Some(other) => return Err(ModelError::bad_field(key::CHECK_INS, other)),
        };
        let mut out = Vec::with_capacity(map.len());
        for (id, value) in map {
            out.push(check_in_from(id, value)?);
        }
        sort_check_ins(&mut out);
        Ok(out)
    }
}

/// Reads one check-in, kept under `id` in its agreement's `check_ins` map.
pub fn check_in_from(id: &str, value: &Value) -> Result<CheckIn, ModelError> {
    let id: CheckInId = id.parse()?;
    let Value::Object(m) = value else {
        return Err(ModelError::bad_field(key::CHECK_INS, value));
    };
    let fields: Fields = m.clone().into_iter().collect();
    let mut r = Reader { fields: &fields, used: Vec::new() };
    Ok(CheckIn {
        id,
        date: r.parse::<NaiveDate>(key::DATE)?,
        outcome: r.parse(key::OUTCOME)?,
        note: r.optional_string(key::NOTE)?,
        by: r.parse(key::BY)?,
        at: r.time(key::AT)?,
    })
}

/// An entry's fields as [`Entry::fields_json`] writes them.
struct FieldsView<'a> {
    fields: &'a Fields,
    leave_out: fn(&str) -> bool,
    /// Written in place of the fields' empty `check_ins`.
    check_ins: Option<&'a [CheckIn]>,
}

impl serde::Serialize for FieldsView<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(None)?;
        for (k, v) in self.fields {
            if (self.leave_out)(k) || (k == key::CHECK_INS && self.check_ins.is_some()) {
                continue;
            }
            map.serialize_entry(k, v)?;
        }
        if let Some(check_ins) = self.check_ins
            && !(self.leave_out)(key::CHECK_INS)
        {
            map.serialize_entry(key::CHECK_INS, &CheckInsView(check_ins))?;
        }
        map.end()
    }
}

/// Check-ins as [`check_in_fields`] lays each out, under its id.
struct CheckInsView<'a>(&'a [CheckIn]);

impl serde::Serialize for CheckInsView<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for c in self.0 {
            map.serialize_entry(&Shown(&c.id), &CheckInView(c))?;
        }
        map.end()
    }
}

/// One check-in as JSON, laid out as [`check_in_fields`] lays it out.
pub fn check_in_json(c: &CheckIn) -> String {
    serde_json::to_string(&CheckInView(c)).unwrap_or_else(|_| unreachable!("a check-in always serializes"))
}

struct CheckInView<'a>(&'a CheckIn);

impl serde::Serialize for CheckInView<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let c = self.0;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry(key::DATE, &Shown(&c.date))?;
        map.serialize_entry(key::OUTCOME, c.outcome.as_str())?;
        if let Some(note) = &c.note {
            map.serialize_entry(key::NOTE, note)?;
        }
        map.serialize_entry(key::BY, &Shown(&c.by))?;
        map.serialize_entry(key::AT, &timestamp_text(c.at))?;
        map.end()
    }
}

/// A value written as the text it displays as, with no string made for it first.
struct Shown<'a, T>(&'a T);

impl<T: std::fmt::Display> serde::Serialize for Shown<'_, T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self.0)
    }
}

/// The one order check-ins are shown and compared in: by day, then by when they were
/// made, then by id so that every phone agrees.
pub fn sort_check_ins(check_ins: &mut [CheckIn]) {
    check_ins.sort_by_key(|a| (a.date, a.at, a.id));
}

/// What I changed in a shared entry the partner has not received yet: each field I
/// changed, set or removed, and for maps inside the entry (an agreement's check-ins) the
/// inner keys I added or changed. It is laid over the entry as the shared document holds
/// it when it is sent ([`Change::apply`]): the partner may have checked in or retired an
/// agreement since, and every field I did not change keeps the document's value, so
/// nothing the partner added is lost and nothing I did not touch is written.
///
/// It holds only what changed, never the whole entry: a check-in on an agreement that
/// holds hundreds waits as that one check-in.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Change(BTreeMap<String, FieldChange>);

/// What happened to one field of an entry.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldChange {
    /// Set to this value (never a map: a map changes key by key).
    Set(Value),
    /// These inner keys added or changed; the map's other keys stay as they are.
    Merge(Map<String, Value>),
    Removed,
}

impl Change {
    /// The change that turns `before` into `after`. Set-aside is this phone's own and
    /// never part of it; an inner key removed from a map is not either (maps inside an
    /// entry only grow).
    pub fn between(before: &Fields, after: &Fields) -> Change {
        let mut out = BTreeMap::new();
        let keys: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
        for k in keys {
            if k == key::ARCHIVED {
                continue;
            }
            let change = match (before.get(k), after.get(k)) {
                (b, a) if b == a => continue,
                (_, None) => FieldChange::Removed,
                (b, Some(Value::Object(a))) => {
                    let b = match b {
                        Some(Value::Object(b)) => Some(b),
                        _ => None,
                    };
                    let changed = a.iter().filter(|(ik, iv)| b.and_then(|b| b.get(*ik)) != Some(*iv));
                    FieldChange::Merge(changed.map(|(ik, iv)| (ik.clone(), iv.clone())).collect())
                }
                (_, Some(v)) => FieldChange::Set(v.clone()),
            };
            out.insert(k.clone(), change);
        }
        Change(out)
    }

    /// This change followed by `later`: a field `later` changes takes its value, and the
    /// inner keys of a map both changed are kept from both.
    pub fn then(mut self, later: Change) -> Change {
        for (k, change) in later.0 {
            let merged = match (self.0.remove(&k), change) {
                (Some(FieldChange::Merge(mut first)), FieldChange::Merge(second)) => {
                    first.extend(second);
                    FieldChange::Merge(first)
                }
                (_, change) => change,
            };
            self.0.insert(k, merged);
        }
        self
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The fields this change touches, with what happened to each.
    pub fn fields(&self) -> impl Iterator<Item = (&String, &FieldChange)> {
        self.0.iter()
    }

    /// `theirs`, the entry as the shared document holds it now, with this change on top.
    pub fn apply(&self, theirs: &Fields) -> Fields {
        let mut out = theirs.clone();
        for (k, change) in &self.0 {
            match change {
                FieldChange::Removed => {
                    out.remove(k);
                }
                FieldChange::Set(v) => {
                    out.insert(k.clone(), v.clone());
                }
                FieldChange::Merge(inner) => {
                    let mut merged = match out.remove(k) {
                        Some(Value::Object(t)) => t,
                        _ => Map::new(),
                    };
                    merged.extend(inner.iter().map(|(ik, iv)| (ik.clone(), iv.clone())));
                    out.insert(k.clone(), Value::Object(merged));
                }
            }
        }
        out
    }

    /// The change as JSON, to be kept in a row: `{"field": {"set": value} | {"merge": {..}}
    /// | "removed"}`.
    pub fn to_json(&self) -> Value {
        let map = self.0.iter().map(|(k, change)| {
            let v = match change {
                FieldChange::Set(v) => serde_json::json!({ "set": v }),
                FieldChange::Merge(inner) => serde_json::json!({ "merge": inner }),
                FieldChange::Removed => Value::String("removed".into()),
            };
            (k.clone(), v)
        });
        Value::Object(map.collect())
    }

    /// Reads back what [`Change::to_json`] wrote.
    pub fn from_json(value: Value) -> Result<Change, ModelError> {
        let Value::Object(map) = value else { return Err(ModelError::bad_field("change", &value)) };
        let mut out = BTreeMap::new();
        for (k, v) in map {
            let change = match v {
                Value::String(s) if s == "removed" => FieldChange::Removed,
                Value::Object(mut op) if op.len() == 1 => match (op.remove("set"), op.remove("merge")) {
                    (Some(v), None) => FieldChange::Set(v),
                    (None, Some(Value::Object(inner))) => FieldChange::Merge(inner),
                    (set, merge) => return Err(ModelError::bad_field("change", &set.or(merge).unwrap_or_default())),
                },
                other => return Err(ModelError::bad_field("change", &other)),
            };
            out.insert(k, change);
        }
        Ok(Change(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::entry::{AgreementStatus, Outcome, SafetySide};
    use chrono::TimeZone;

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 4, h, 0, 0).unwrap()
    }

    fn entry(body: Body) -> Entry {
        Entry {
            id: EntryId::new(),
            author: PersonId::new(),
            created_at: at(9),
            updated_at: at(10),
            archived: false,
            shared: false,
            waiting: false,
            shared_before: false,
            body,
            extra: Fields::new(),
        }
    }

    fn round_trip(e: &Entry) -> Entry {
        Entry::from_fields(e.id, e.shared, e.to_fields()).unwrap()
    }

    #[test]
    fn every_kind_round_trips_through_its_fields() {
        let person = PersonId::new();
        let bodies = [
            Body::SafetyNeed { side: SafetySide::Harder, text: "Plans changing at the last minute".into() },
            Body::Reflection {
                feeling: "Scared".into(),
                needing: Some("Reassurance".into()),
                understanding: Some("You were tired".into()),
            },
            Body::Reflection { feeling: "Alone".into(), needing: None, understanding: None },
            Body::Agreement {
                text: "Text when running late".into(),
                proposed_by: person,
                status: AgreementStatus::Active,
                check_ins: vec![CheckIn {
                    id: CheckInId::new(),
                    date: NaiveDate::from_ymd_opt(2026, 3, 4).unwrap(),
                    outcome: Outcome::Renegotiated,
                    note: Some("Call instead".into()),
                    by: person,
                    at: at(11),
                }],
            },
            Body::DailyCheckIn { date: NaiveDate::from_ymd_opt(2026, 3, 4).unwrap(), text: "Dinner together".into() },
            Body::Transparency { text: "Out with Sam".into(), window: Some(TimeWindow { from: at(19), to: at(22) }) },
            Body::Transparency { text: "Feeling unsure today".into(), window: None },
        ];
        for body in bodies {
            let e = entry(body);
            assert_eq!(round_trip(&e), e);
        }
    }

    #[test]
    fn fields_from_a_newer_version_are_kept() {
        let mut f = entry(Body::DailyCheckIn { date: NaiveDate::from_ymd_opt(2026, 3, 4).unwrap(), text: "x".into() })
            .to_fields();
        f.insert("mood".into(), Value::from(3));
        let e = Entry::from_fields(EntryId::new(), true, f.clone()).unwrap();
        assert_eq!(e.extra.get("mood"), Some(&Value::from(3)));
        assert_eq!(e.to_fields(), f);
    }

    #[test]
    fn an_unknown_kind_is_kept_whole() {
        let mut f = entry(Body::SafetyNeed { side: SafetySide::Helps, text: "x".into() }).to_fields();
        f.insert(key::KIND.into(), Value::from("gratitude"));
        f.insert("thanks_for".into(), Value::from("the tea"));
        let e = Entry::from_fields(EntryId::new(), true, f.clone()).unwrap();
        assert_eq!(e.body, Body::Unknown { kind: "gratitude".into() });
        assert_eq!(e.to_fields(), f);
    }

    #[test]
    fn a_known_kind_in_a_shape_this_version_cannot_read_is_kept_leniently() {
        let mut f = entry(Body::SafetyNeed { side: SafetySide::Helps, text: "x".into() }).to_fields();
        f.insert(key::SIDE.into(), Value::from("sideways"));
        assert!(Entry::from_fields(EntryId::new(), true, f.clone()).is_err());
        let e = Entry::from_fields_lenient(EntryId::new(), true, f.clone()).unwrap();
        assert_eq!(e.body, Body::Unknown { kind: kind::SAFETY_NEED.into() });
        assert_eq!(e.to_fields(), f);
    }

    #[test]
    fn a_missing_field_is_named() {
        let mut f = entry(Body::SafetyNeed { side: SafetySide::Helps, text: "x".into() }).to_fields();
        f.remove(key::TEXT);
        assert_eq!(
            Entry::from_fields(EntryId::new(), false, f).unwrap_err(),
            ModelError::MissingField { field: "text" }
        );
    }

    #[test]
    fn a_change_keeps_the_partners_check_ins_and_writes_only_what_i_changed() {
        let me = PersonId::new();
        let partner = PersonId::new();
        let mut base = entry(Body::Agreement {
            text: "Call if late".into(),
            proposed_by: me,
            status: AgreementStatus::Active,
            check_ins: Vec::new(),
        });
        base.author = me;
        let today = NaiveDate::from_ymd_opt(2026, 3, 4).unwrap();
        let mut theirs = base.clone();
        theirs.check_in(Outcome::Kept, None, partner, at(11), today).unwrap();
        theirs.set_agreement_status(AgreementStatus::Retired, at(11)).unwrap();
        let mut mine = base.clone();
        mine.edit(crate::model::Draft::Agreement { text: "Text if late".into() }, me, at(12)).unwrap();
        let change = Change::between(&base.to_fields(), &mine.to_fields());
        let merged = Entry::from_fields(base.id, true, change.apply(&theirs.to_fields())).unwrap();
        let Body::Agreement { text, status, check_ins, .. } = &merged.body else { panic!("not an agreement") };
        assert_eq!(text, "Text if late");
        assert_eq!(*status, AgreementStatus::Retired, "the partner's retirement stays");
        assert_eq!(check_ins.len(), 1, "the partner's check-in stays");
        assert_eq!(merged.updated_at, at(12));
    }

    /// A map of fields drawn from a few names, each a word, a number, or a map of words
    /// (as an agreement's check-ins are) whose inner keys only grow from `grown`.
    fn some_fields(grown: Option<Fields>) -> impl Strategy<Value = Fields> {
        let value = prop_oneof![
            "[a-c]{0,2}".prop_map(Value::from),
            (0i64..3).prop_map(Value::from),
            proptest::collection::btree_map("[p-s]", "[a-c]{0,2}", 0..4)
                .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k, Value::from(v))).collect())),
        ];
        proptest::collection::btree_map("[a-e]", value, 0..5).prop_map(move |mut f: Fields| {
            // Maps inside an entry only grow: a field that held one holds it still, with
            // anything new added or changed.
            for (k, before) in grown.iter().flatten() {
                let Value::Object(before) = before else { continue };
                match f.get_mut(k) {
                    Some(Value::Object(now)) => {
                        for (ik, iv) in before {
                            now.entry(ik.clone()).or_insert_with(|| iv.clone());
                        }
                    }
                    _ => {
                        f.insert(k.clone(), Value::Object(before.clone()));
                    }
                }
            }
            f
        })
    }

    fn three_versions() -> impl Strategy<Value = (Fields, Fields, Fields)> {
        some_fields(None).prop_flat_map(|a| {
            let a2 = a.clone();
            some_fields(Some(a)).prop_flat_map(move |b| {
                let (a, b2) = (a2.clone(), b.clone());
                some_fields(Some(b)).prop_map(move |c| (a.clone(), b2.clone(), c))
            })
        })
    }

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 500, failure_persistence: None, ..ProptestConfig::default() })]

        /// A change laid over the entry it was made from gives the entry it made, and two
        /// changes one after the other are the change from the first entry to the last:
        /// an edit and a check-in that both wait are sent as what the person did.
        #[test]
        fn a_change_and_changes_one_after_the_other_make_what_was_made((a, b, c) in three_versions()) {
            let first = Change::between(&a, &b);
            prop_assert_eq!(first.apply(&a), b.clone());
            let both = first.clone().then(Change::between(&b, &c));
            prop_assert_eq!(both.apply(&a), c.clone());
            prop_assert_eq!(Change::from_json(both.to_json()).unwrap(), both);
        }
    }

    #[test]
    fn fields_written_as_json_read_back_as_the_fields() {
        let me = PersonId::new();
        let today = NaiveDate::from_ymd_opt(2026, 3, 4).unwrap();
        let mut e = entry(Body::Agreement {
            text: "Call if \"late\", \u{1F49B}".into(),
            proposed_by: me,
            status: AgreementStatus::Active,
            check_ins: Vec::new(),
        });
        e.extra.insert("mood".into(), serde_json::json!({ "a": [1, "two"] }));
        let without = |e: &Entry| {
            let f: Fields = e.to_fields().into_iter().filter(|(k, _)| !is_common(k)).collect();
            Value::Object(f.into_iter().collect())
        };
        let read = |json: String| serde_json::from_str::<Value>(&json).unwrap();
        assert_eq!(read(e.fields_json(is_common)), without(&e), "no check-ins yet");
        for (i, note) in [None, Some("a \"quoted\" note\n"), Some("ok")].into_iter().enumerate() {
            e.check_in(Outcome::Kept, note, me, at(11 + i as u32), today).unwrap();
        }
        assert_eq!(read(e.fields_json(is_common)), without(&e));
        let all = Value::Object(e.to_fields().into_iter().collect());
        assert_eq!(read(e.fields_json(|_| false)), all);
        let unknown = Entry { body: Body::Unknown { kind: "later".into() }, ..e.clone() };
        assert_eq!(read(unknown.fields_json(is_common)), without(&unknown));
    }
}
