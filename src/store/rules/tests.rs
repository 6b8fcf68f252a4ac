//! The rules at work on real documents: a phone and its partner's, in sync, and every
//! kind of change a partner's phone may or may not make.

use super::*;
use crate::model::{Draft, Entry, Outcome};
use crate::store::doc::{self, delete_entry, find_entry, genesis, read_entry, write_entry, write_person};
use automerge::transaction::Transactable;
use automerge::{ObjType, ReadDoc};
use chrono::NaiveDate;
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
    let rules = PartnerRules { person: you, actors: vec![theirs.get_actor().clone()], history: vec![] };
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

/// Takes every change `from` has that `to` lacks, and checks them as a sync would.
fn take_all(to: &mut Automerge, from: &Automerge, me: PersonId, rules: &PartnerRules) -> Result<(), RuleBreak> {
    let before = to.get_heads();
    let missing: Vec<Change> =
        from.get_changes(&[]).into_iter().filter(|c| to.get_change_by_hash(&c.hash()).is_none()).collect();
    to.apply_changes(missing).unwrap();
    let new = to.get_changes(&before);
    let touched = check_received(to, &before, &new, me, rules)?;
    assert_eq!(touched, Touched::by(to, &new), "what passed touched what the index reads");
    Ok(())
}

/// A phone restored from a backup continues the couple's document. The partner's copy,
/// made in part by my lost phone, is taken up to the heads named at pairing; nothing
/// after them comes under a device that isn't the partner's, alone or mixed in with the
/// history, and then none of that message is taken.
#[test]
fn a_continued_history_is_taken_up_to_its_heads_and_no_further() {
    let c = couple();
    let heads = c.theirs.get_heads();
    let restored = genesis().with_actor(ActorId::random());
    let with = PartnerRules { history: heads.clone(), ..c.rules.clone() };

    // Without the history, my lost phone's changes are a stranger's.
    assert_eq!(take_all(&mut restored.clone(), &c.theirs, c.me, &c.rules), Err(RuleBreak::NotPartnersDevice));

    // A change under my lost phone's device, made after the heads, mixed into the history.
    let mut forged = c.theirs.clone();
    forged.set_actor(c.mine.get_actor().clone());
    let planted = shared(Draft::Agreement { text: "PLANTED-UNDER-THE-LOST-PHONE".into() }, c.me);
    write(&mut forged, |tx| write_entry(tx, &planted).unwrap());
    assert_eq!(take_all(&mut restored.clone(), &forged, c.me, &with), Err(RuleBreak::NotPartnersDevice));

    // The history alone is taken whole, my lost phone's entries and the partner's.
    let mut taken = restored.clone();
    take_all(&mut taken, &c.theirs, c.me, &with).unwrap();
    assert_eq!(taken.get_heads(), heads);
    for e in [&c.my_agreement, &c.my_need, &c.your_reflection] {
        assert!(find_entry(&taken, e.id).unwrap().is_some(), "{} came back", e.id);
    }
    // And once it is whole, the same planted change is refused on its own.
    assert_eq!(take_all(&mut taken, &forged, c.me, &with), Err(RuleBreak::NotPartnersDevice));
    // The partner's own changes go on under the rules as before.
    let mut theirs = c.theirs.clone();
    let later = shared(Draft::CheckIn { text: "Calmer today".into() }, c.you);
    write(&mut theirs, |tx| write_entry(tx, &later).unwrap());
    take_all(&mut taken, &theirs, c.me, &with).unwrap();
}
