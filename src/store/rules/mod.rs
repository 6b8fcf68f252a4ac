//! What the partner's phone may change in the shared document, checked before what it
//! sent is kept.
//!
//! Automerge takes any well-formed change, so without these checks a partner's phone (or
//! anything that got its keys) could rewrite what I wrote, hide my entries, or sign
//! something with my name. The rules follow the layout in [`super::doc`]:
//!
//! - every change is made under one of the partner's devices (bound at pairing, or handed
//!   over to in a move), never one a move retired;
//! - nothing touches the root itself, so `entries`, `people` and `format` stay the
//!   genesis's;
//! - in `people`, only the partner's own entry (name, and a move's handover);
//! - in `entries`, only entries the partner wrote, before and after the change, and new
//!   entries only under the partner's name;
//! - on an agreement I wrote, only the partner's own check-ins, and its status (with the
//!   time it was changed).
//!
//! Every operation is checked, including values that lose a conflict and never show:
//! they are still in the document, and would show the moment the winning value goes.
//! The checks read only the objects the operations touch, so their cost grows with the
//! size of what was received, not with the size of the journal.

mod lookup;

use std::collections::HashSet;

use automerge::legacy::{Key, Op, OpId, OpType};
use automerge::{ActorId, Automerge, Change, ChangeHash, ObjId, ObjType, ROOT, ScalarValue, Value};
use chrono::DateTime;

use crate::model::fields::key;
use crate::model::{AgreementStatus, CheckInId, EntryId, PersonId};

use super::doc::{ENTRIES, PEOPLE, genesis_actor};
use super::index::Touched;
use lookup::{Lookups, Position, Seen, Who};

/// Who the partner is, as bound at pairing: their person id and the Automerge actors of
/// their devices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartnerRules {
    pub person: PersonId,
    pub actors: Vec<ActorId>,
    /// When this phone continued the couple's document after a restore: the heads the
    /// partner's phone named at pairing. The changes up to them are the couple's history
    /// as the partner kept it, made by devices this phone no longer knows (among them my
    /// own lost phone's), and are taken as they are; nothing after them is.
    pub history: Vec<automerge::ChangeHash>,
}

impl PartnerRules {
    /// The partner's devices as `doc` knows them: those bound at pairing, and each phone
    /// one of them handed over to in a move (`people.<partner>.devices`, written by a
    /// device already known).
    pub fn devices(&self, doc: &Automerge) -> Vec<ActorId> {
        let mut known = self.actors.clone();
        let handed = super::doc::handed_to(doc, self.person).unwrap_or_default();
        // Each round may add a phone handed over to by one added in the round before.
        for _ in 0..handed.len() {
            let more: Vec<ActorId> = handed
                .iter()
                .filter(|(to, by)| known.contains(by) && !known.contains(to))
                .map(|(to, _)| to.clone())
                .collect();
            if more.is_empty() {
                break;
            }
            known.extend(more);
        }
        known
    }
}

/// Why a change from the partner was refused, in words a person can read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RuleBreak {
    #[error("a change was made under a device that isn't your partner's")]
    NotPartnersDevice,
    #[error("a copy of your partner's phone from before they moved Steady to a new one tried to sync, and was refused")]
    MovedAway,
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
    // The cheap checks first: a stranger's change is refused without being decoded, and
    // so is one made under a phone the partner moved away from (a copy of its folder).
    let unreadable = |_| RuleBreak::Malformed("a person's devices that can't be read");
    let retired = super::doc::retired(doc, partner.person, None).map_err(unreadable)?;
    if new.iter().any(|c| retired.contains(c.actor_id())) {
        // The handover itself may be among these: only phones retired before it count.
        let before = super::doc::retired(doc, partner.person, Some(before)).map_err(unreadable)?;
        if new.iter().any(|c| before.contains(c.actor_id())) {
            return Err(RuleBreak::MovedAway);
        }
    }
    let history = history_in(doc, new, &partner.history);
    let devices = partner.devices(doc);
    if new.iter().any(|c| !devices.contains(c.actor_id()) && !history.contains(&c.hash())) {
        return Err(RuleBreak::NotPartnersDevice);
    }
    let mut checker = Checker::new(doc, before, me, partner.person);
    let changes: Vec<_> = new.iter().map(Change::decode).collect();
    // The objects these changes make did not exist before them.
    for change in &changes {
        let start = change.start_op.get();
        for (i, op) in change.operations.iter().enumerate() {
            if let OpType::Make(_) = op.action {
                checker.look.made_by(&change.actor_id, start + i as u64);
            }
        }
    }
    if new.iter().map(Change::len).sum::<usize>() > MANY_OPS {
        checker.look.list_entries();
    }
    for (change, raw) in changes.iter().zip(new) {
        if history.contains(&raw.hash()) {
            continue;
        }
        let start = change.start_op.get();
        for (i, op) in change.operations.iter().enumerate() {
            let id = OpId(start + i as u64, change.actor_id.clone());
            checker.check_op(op, &id)?;
        }
    }
    if history.is_empty() { Ok(checker.touched) } else { Ok(super::index::Touched::by(doc, new)) }
}

/// Which of `new` belong to the continued history given by `heads`: none unless this
/// message completes it (a head among `new`, and every head now in `doc`), and then those
/// that the heads descend from. Once the history is whole, no later change can be in it.
fn history_in(doc: &Automerge, new: &[Change], heads: &[ChangeHash]) -> HashSet<ChangeHash> {
    let arrived = new.iter().any(|c| heads.contains(&c.hash()));
    if !arrived || heads.iter().any(|h| automerge::ReadDoc::get_change_by_hash(doc, h).is_none()) {
        return HashSet::new();
    }
    let after: HashSet<ChangeHash> = doc.get_changes(heads).iter().map(|c| c.hash()).collect();
    new.iter().map(Change::hash).filter(|h| !after.contains(h)).collect()
}

/// Whose an entry is, once it passes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owner {
    Partner,
    Me,
}

/// What one operation touches, and whose it is: worked out once, from where the object
/// sits and whose names the document holds before and after the message. Each refusal a
/// classification can already name is kept in it, in the order the checks give them, and
/// [`Checker::decide`] says the rest in one match.
enum Target {
    /// The root itself, or a key of it that isn't one of the genesis's maps.
    Root,
    /// A name in `people`: `own` when it is under the partner's own person id.
    Name { own: bool },
    /// An entry itself, made, replaced or deleted at its key of `entries`.
    Entry { owner: Result<Owner, RuleBreak> },
    /// A field of an entry outside its check-ins (`top`: one of the entry's own, not
    /// nested deeper). `author` is whose name the operation puts, when it sets the
    /// entry's author. `agreement` is asked only of my entries.
    Field { owner: Result<Owner, RuleBreak>, author: Option<Result<Who, RuleBreak>>, agreement: bool, top: bool },
    /// A check-in, or a field of one, under an entry's check-ins.
    CheckIn(CheckIn),
}

/// A check-in an operation touches, on whose entry, and whose it is.
struct CheckIn {
    entry: Result<Owner, RuleBreak>,
    /// Asked only of my entries.
    agreement: bool,
    /// What the operation does to the check-in; a check-in that can't be placed is
    /// refused once whose entry it is on has been judged.
    what: Result<OnCheckIn, RuleBreak>,
}

/// What an operation does to one check-in.
struct OnCheckIn {
    /// Whose name the operation puts as the check-in's maker, when it sets `by`.
    puts_by: Option<Result<Who, RuleBreak>>,
    /// Whose name the check-in's `by` held before the message and holds after it.
    by: Seen,
    /// Whether its key reads back as a check-in id.
    id_reads: bool,
    /// The check-in's map, when the operation makes it or sets one of its fields; `None`
    /// for any other operation on the check-ins.
    map: Option<Option<ObjId>>,
}

struct Checker<'a> {
    look: Lookups<'a>,
    partner_key: String,
    genesis: ActorId,
    touched: Touched,
}

impl<'a> Checker<'a> {
    fn new(doc: &'a Automerge, before: &'a [ChangeHash], me: PersonId, partner: PersonId) -> Self {
        Checker {
            look: Lookups::new(doc, before, me, partner),
            partner_key: partner.to_string(),
            genesis: genesis_actor(),
            touched: Touched::default(),
        }
    }

    fn check_op(&mut self, op: &Op, id: &OpId) -> Result<(), RuleBreak> {
        let position = self.look.position(&op.obj)?;
        let target = self.classify(op, id, &position)?;
        self.decide(op, target)?;
        // What it touched, for the index.
        match position.prop(0) {
            Some(PEOPLE) => self.touched.people = true,
            _ => {
                let key = if position.objs.len() == 1 { map_key(op).ok() } else { position.prop(1) };
                if let Some(entry) = key.and_then(|k| k.parse::<EntryId>().ok()) {
                    self.touched.entries.insert(entry);
                }
            }
        }
        // An object made here is placed from the operation that makes it.
        if let (OpType::Make(_), Key::Map(key)) = (&op.action, &op.key)
            && position.objs.len() < MAX_DEPTH
            && let Some(made) = made_obj(self.look.doc, id)
        {
            self.look.place_made(id, made, &position, key);
        }
        Ok(())
    }

    /// What `op` touches and whose it is. A change that can't be placed at all (a key
    /// that isn't an entry id, a list where the journal has a map, an entry that isn't a
    /// map) is refused here.
    fn classify(&mut self, op: &Op, id: &OpId, at: &Position) -> Result<Target, RuleBreak> {
        let genesis_made = matches!(at.objs.first(), Some(ObjId::Id(_, actor, _)) if *actor == self.genesis);
        let depth = at.objs.len();
        match at.prop(0) {
            Some(PEOPLE) if genesis_made => {
                let person = if depth == 1 { map_key(op)? } else { at.prop(1).ok_or(NOT_A_MAP)? };
                Ok(Target::Name { own: person == self.partner_key })
            }
            Some(ENTRIES) if genesis_made => self.classify_in_entries(op, id, at),
            _ => Ok(Target::Root),
        }
    }

    fn classify_in_entries(&mut self, op: &Op, id: &OpId, at: &Position) -> Result<Target, RuleBreak> {
        let depth = at.objs.len();
        let entries = &at.objs[0];
        let k = if depth == 1 { map_key(op)? } else { at.prop(1).ok_or(NOT_A_MAP)? };
        if !k.parse::<EntryId>().is_ok_and(|id| id.to_string() == k) {
            return Err(RuleBreak::Malformed("a key among the entries that isn't an entry id"));
        }
        if depth == 1 {
            // The entry itself: made, replaced or deleted.
            if !matches!(op.action, OpType::Make(ObjType::Map) | OpType::Delete) || op.insert {
                return Err(RuleBreak::Malformed("an entry that isn't a map"));
            }
            let seen = self.look.changed_at_key(entries, k, key::AUTHOR, op, id)?;
            return Ok(Target::Entry { owner: entry_owner(seen) });
        }
        let entry = &at.objs[1];
        let author = (depth == 2 && map_key(op)? == key::AUTHOR).then(|| self.look.put_person(op));
        let owner = entry_owner(self.look.at_key(entries, k, key::AUTHOR).or(self.look.in_obj(entry, key::AUTHOR)));
        let agreement = owner == Ok(Owner::Me) && self.look.is_agreement(entry);
        if !(depth >= 3 && at.prop(2) == Some(key::CHECK_INS)) {
            return Ok(Target::Field { owner, author, agreement, top: depth == 2 });
        }
        // A check-in, or a field of one.
        let what = self.on_check_in(op, id, at);
        Ok(Target::CheckIn(CheckIn { entry: owner, agreement, what }))
    }

    /// What `op` does to the check-in it is under, or that it makes.
    fn on_check_in(&mut self, op: &Op, id: &OpId, at: &Position) -> Result<OnCheckIn, RuleBreak> {
        let depth = at.objs.len();
        let check_ins = &at.objs[2];
        let cid = if depth == 3 { map_key(op)? } else { at.prop(3).ok_or(NOT_A_MAP)? };
        let puts_by = (depth == 4 && map_key(op)? == key::BY).then(|| self.look.put_person(op));
        let by = if depth == 3 {
            self.look.changed_at_key(check_ins, cid, key::BY, op, id)?
        } else {
            self.look.at_key(check_ins, cid, key::BY).or(self.look.in_obj(&at.objs[3], key::BY))
        };
        let map = match depth {
            3 if matches!(op.action, OpType::Make(ObjType::Map)) && !op.insert => Some(made_obj(self.look.doc, id)),
            4 if matches!(op.action, OpType::Put(_) | OpType::Delete) && !op.insert => Some(Some(at.objs[3].clone())),
            _ => None,
        };
        let id_reads = cid.parse::<CheckInId>().is_ok_and(|id| id.to_string() == cid);
        Ok(OnCheckIn { puts_by, by, id_reads, map })
    }

    /// Whether the partner may make `op`, which touches `target`: the rules, in one match.
    fn decide(&mut self, op: &Op, target: Target) -> Result<(), RuleBreak> {
        match target {
            Target::Root => Err(RuleBreak::Root),
            // In `people`, only the partner's own name.
            Target::Name { own: true } => Ok(()),
            Target::Name { own: false } => Err(RuleBreak::YourName),
            // An entry is made, replaced or deleted only by its author, the partner.
            Target::Entry { owner } => match owner? {
                Owner::Partner => Ok(()),
                Owner::Me => Err(RuleBreak::YourEntry),
            },
            // An entry's author is only ever the partner.
            Target::Field { author: Some(puts), .. } if !matches!(puts, Ok(Who { partner: true, .. })) => {
                Err(match puts? {
                    Who { me: true, .. } => RuleBreak::ClaimsYouWroteIt,
                    _ => RuleBreak::SomeoneElse,
                })
            }
            // The partner's entries are theirs; of mine, only an agreement's status.
            Target::Field { owner, agreement, top, .. } => match (owner?, agreement, top) {
                (Owner::Partner, _, _) => Ok(()),
                (Owner::Me, false, _) => Err(RuleBreak::YourEntry),
                (Owner::Me, true, true) => agreement_field(op),
                (Owner::Me, true, false) => Err(RuleBreak::YourAgreement),
            },
            Target::CheckIn(CheckIn { entry, agreement, what }) => match entry? {
                Owner::Partner => self.decide_check_in(what?, false),
                Owner::Me if !agreement => Err(RuleBreak::YourEntry),
                Owner::Me => self.decide_check_in(what?, true),
            },
        }
    }

    /// A check-in: on my agreement (`mine`) only the partner's own, readable check-ins
    /// may be added or changed; on the partner's entry, only the check-ins I made are
    /// out of bounds.
    fn decide_check_in(&mut self, c: OnCheckIn, mine: bool) -> Result<(), RuleBreak> {
        match (c.puts_by, mine) {
            (Some(Ok(Who { me: true, .. })), _) => return Err(RuleBreak::ClaimsYouCheckedIn),
            (Some(Ok(Who { partner: true, .. })), _) | (None, _) | (Some(_), false) => {}
            (Some(Err(e)), true) => return Err(e),
            (Some(Ok(_)), true) => return Err(RuleBreak::SomeoneElse),
        }
        if c.by.before.me {
            return Err(RuleBreak::YourCheckIn);
        }
        if c.by.after.me {
            return Err(RuleBreak::ClaimsYouCheckedIn);
        }
        if !mine {
            return Ok(());
        }
        if !c.by.all().only_partner() {
            return Err(if c.by.all().is_empty() {
                RuleBreak::Malformed("a check-in that doesn't say who made it")
            } else {
                RuleBreak::SomeoneElse
            });
        }
        if !c.id_reads {
            return Err(RuleBreak::Malformed("a check-in whose id can't be read"));
        }
        match c.map {
            None => Err(RuleBreak::YourAgreement),
            Some(None) => Err(RuleBreak::Malformed("a check-in that isn't a map")),
            Some(Some(map)) => match self.look.readable_check_in(map) {
                true => Ok(()),
                false => Err(RuleBreak::Malformed("a check-in that can't be read")),
            },
        }
    }
}

/// The fields of my agreement the partner may set: its status, and when it changed.
fn agreement_field(op: &Op) -> Result<(), RuleBreak> {
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
mod tests;
