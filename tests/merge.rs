//! Concurrent edits merge: a model-based property test. Three phones make random entries,
//! edits, agreement check-ins, set-asides and shares, and sync in random pairs and orders.
//! Once everyone has synced, every phone shows the same shared journal, that journal is
//! the one the model expects, and no check-in is lost.

use std::collections::{BTreeMap, BTreeSet};

use automerge::sync;
use proptest::prelude::*;
use steady::model::{Body, CheckInId, Draft, EntryId, Outcome, SafetySide};
use steady::store::Store;

const PHONES: usize = 3;

#[derive(Clone, Debug)]
enum Op {
    /// Phone `by` writes a new entry of kind `kind`.
    Add { by: usize, kind: u8 },
    /// Phone `by` rewrites its `pick`-th entry.
    Edit { by: usize, pick: usize },
    /// Phone `by` checks in on the `pick`-th agreement it can see.
    CheckIn { by: usize, pick: usize, outcome: u8 },
    /// Phone `by` sets its `pick`-th entry aside, or brings it back.
    ToggleArchive { by: usize, pick: usize },
    /// Phone `by` shares its `pick`-th entry.
    Share { by: usize, pick: usize },
    /// Phones `a` and `b` sync until they have nothing more to say.
    Sync { a: usize, b: usize },
}

fn op() -> impl Strategy<Value = Op> {
    let phone = 0..PHONES;
    prop_oneof![
        3 => (phone.clone(), 0..5u8).prop_map(|(by, kind)| Op::Add { by, kind }),
        1 => (phone.clone(), any::<usize>()).prop_map(|(by, pick)| Op::Edit { by, pick }),
        3 => (phone.clone(), any::<usize>(), 0..3u8).prop_map(|(by, pick, outcome)| Op::CheckIn { by, pick, outcome }),
        1 => (phone.clone(), any::<usize>()).prop_map(|(by, pick)| Op::ToggleArchive { by, pick }),
        2 => (phone.clone(), any::<usize>()).prop_map(|(by, pick)| Op::Share { by, pick }),
        2 => (phone.clone(), phone).prop_map(|(a, b)| Op::Sync { a, b }),
    ]
}

/// What the model expects of one entry.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Expected {
    author: usize,
    text: String,
    archived: bool,
    shared: bool,
    check_ins: BTreeSet<CheckInId>,
}

struct World {
    phones: Vec<Store>,
    model: BTreeMap<EntryId, Expected>,
    counter: u32,
}

impl World {
    fn new() -> World {
        let phones = (0..PHONES)
            .map(|i| {
                let mut s = Store::open_in_memory().unwrap();
                s.init(&format!("Person {i}")).unwrap();
                s
            })
            .collect();
        World { phones, model: BTreeMap::new(), counter: 0 }
    }

    fn own(&self, by: usize, pick: usize) -> Option<EntryId> {
        let mine: Vec<_> = self.model.iter().filter(|(_, e)| e.author == by).map(|(id, _)| *id).collect();
        (!mine.is_empty()).then(|| mine[pick % mine.len()])
    }

    fn apply(&mut self, op: &Op) {
        self.counter += 1;
        let text = format!("words {}", self.counter);
        match *op {
            Op::Add { by, kind } => {
                let draft = match kind {
                    0 => Draft::SafetyNeed { side: SafetySide::Helps, text: text.clone() },
                    1 => Draft::Reflection { feeling: text.clone(), needing: Some("time".into()), understanding: None },
                    2 => Draft::Agreement { text: text.clone() },
                    3 => Draft::Transparency { text: text.clone(), window: None },
                    _ => Draft::SafetyNeed { side: SafetySide::Harder, text: text.clone() },
                };
                let e = self.phones[by].add(draft).unwrap();
                let expected =
                    Expected { author: by, text, archived: false, shared: false, check_ins: BTreeSet::new() };
                self.model.insert(e.id, expected);
            }
            Op::Edit { by, pick } => {
                let Some(id) = self.own(by, pick) else { return };
                let entry = self.phones[by].get(id).unwrap();
                let draft = match entry.body {
                    Body::SafetyNeed { side, .. } => Draft::SafetyNeed { side, text: text.clone() },
                    Body::Reflection { needing, .. } => {
                        Draft::Reflection { feeling: text.clone(), needing, understanding: None }
                    }
                    Body::Agreement { .. } => Draft::Agreement { text: text.clone() },
                    Body::Transparency { window, .. } => Draft::Transparency { text: text.clone(), window },
                    other => panic!("unexpected {other:?}"),
                };
                self.phones[by].edit(id, draft).unwrap();
                self.model.get_mut(&id).unwrap().text = text;
            }
            Op::CheckIn { by, pick, outcome } => {
                let visible: Vec<EntryId> = self.phones[by]
                    .entries()
                    .unwrap()
                    .into_iter()
                    .filter(|e| matches!(e.body, Body::Agreement { .. }))
                    .map(|e| e.id)
                    .collect();
                if visible.is_empty() {
                    return;
                }
                let id = visible[pick % visible.len()];
                let outcome = [Outcome::Kept, Outcome::Missed, Outcome::Renegotiated][outcome as usize];
                let c = self.phones[by].check_in(id, outcome, Some(&text)).unwrap();
                self.model.get_mut(&id).unwrap().check_ins.insert(c.id);
            }
            Op::ToggleArchive { by, pick } => {
                let Some(id) = self.own(by, pick) else { return };
                let expected = self.model.get_mut(&id).unwrap();
                expected.archived = !expected.archived;
                if expected.archived {
                    self.phones[by].archive(id).unwrap();
                } else {
                    self.phones[by].restore(id).unwrap();
                }
            }
            Op::Share { by, pick } => {
                let Some(id) = self.own(by, pick) else { return };
                self.phones[by].share(id).unwrap();
                self.model.get_mut(&id).unwrap().shared = true;
            }
            Op::Sync { a, b } => {
                if a != b {
                    sync_pair(&mut self.phones, a, b);
                }
            }
        }
    }
}

fn sync_pair(phones: &mut [Store], a: usize, b: usize) {
    let (lo, hi) = (a.min(b), a.max(b));
    let (left, right) = phones.split_at_mut(hi);
    let (pa, pb) = (&mut left[lo], &mut right[0]);
    let (mut sa, mut sb) = (sync::State::new(), sync::State::new());
    for _ in 0..50 {
        let to_b = pa.sync_message(&mut sa).unwrap();
        let to_a = pb.sync_message(&mut sb).unwrap();
        if to_b.is_none() && to_a.is_none() {
            return;
        }
        if let Some(m) = to_b {
            pb.receive_sync_message(&mut sb, m).unwrap();
        }
        if let Some(m) = to_a {
            pa.receive_sync_message(&mut sa, m).unwrap();
        }
    }
    panic!("sync between {a} and {b} did not settle");
}

fn check(world: &mut World, final_order: &[(usize, usize)]) {
    for &(a, b) in final_order {
        if a != b {
            sync_pair(&mut world.phones, a, b);
        }
    }
    // A full round after the random order, so everyone has heard from everyone.
    for a in 0..PHONES {
        for b in 0..PHONES {
            if a < b {
                sync_pair(&mut world.phones, a, b);
            }
        }
    }
    sync_pair(&mut world.phones, 0, 1);
    for (i, p) in world.phones.iter_mut().enumerate() {
        if let Err(diff) = p.verify_index() {
            panic!("phone {i}'s index disagrees with its document:\n{diff}");
        }
    }
    let views: Vec<Vec<_>> = world.phones.iter_mut().map(|p| p.entries().unwrap()).collect();
    let shared = |v: &Vec<steady::model::Entry>| v.iter().filter(|e| e.shared).cloned().collect::<Vec<_>>();
    for v in &views[1..] {
        assert_eq!(shared(v), shared(&views[0]), "phones disagree on the shared journal");
    }
    for (id, expected) in &world.model {
        let holders: Vec<usize> = (0..PHONES).filter(|p| views[*p].iter().any(|e| e.id == *id)).collect();
        if expected.shared {
            assert_eq!(holders, (0..PHONES).collect::<Vec<_>>(), "shared entry {id} is missing somewhere");
        } else {
            assert_eq!(holders, vec![expected.author], "private entry {id} left its phone");
        }
        let e = views[expected.author].iter().find(|e| e.id == *id).unwrap();
        assert_eq!(e.body.main_text(), expected.text);
        assert_eq!(e.archived, expected.archived);
        if let Body::Agreement { check_ins, .. } = &e.body {
            let got: BTreeSet<CheckInId> = check_ins.iter().map(|c| c.id).collect();
            assert_eq!(got, expected.check_ins, "check-ins were lost on {id}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn three_phones_converge_and_lose_no_check_in(
        ops in prop::collection::vec(op(), 1..60),
        final_order in prop::collection::vec((0..PHONES, 0..PHONES), 0..6),
    ) {
        let mut world = World::new();
        for op in &ops {
            world.apply(op);
        }
        check(&mut world, &final_order);
    }
}

/// Two phones check in on the same shared agreement before either hears of the other's
/// check-in: both check-ins survive.
#[test]
fn regression_simultaneous_check_ins_on_one_agreement_both_survive() {
    let mut world = World::new();
    for op in [
        Op::Add { by: 0, kind: 2 },
        Op::Share { by: 0, pick: 0 },
        Op::Sync { a: 0, b: 1 },
        Op::CheckIn { by: 0, pick: 0, outcome: 0 },
        Op::CheckIn { by: 1, pick: 0, outcome: 1 },
    ] {
        world.apply(&op);
    }
    check(&mut world, &[(1, 0)]);
}
