//! Speed of the journal on disk: opening 10,000 entries, a durable add, a private edit, a
//! share, sending
//! a share (folding it into the shared document), and checking a change received from
//! the partner against the rules of who may change what. Figures are recorded in
//! BENCHMARKS.md.

mod fixture;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use steady::store::Store;

fn open_and_list(c: &mut Criterion) {
    let dir = fixture::ten_thousand();
    let mut group = c.benchmark_group("open");
    group.sample_size(20);
    group.bench_function("open 10k entries and list them", |b| {
        b.iter(|| {
            let (_store, entries) =
                Store::open_dir_with_entries(&dir, &steady::vault::open_without_passcode(&dir).unwrap()).unwrap();
            assert_eq!(entries.len(), fixture::ENTRIES);
            entries
        })
    });
    group.finish();
}

fn add_and_share(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = fixture::fill(tmp.path(), 1_000);
    let mut i = 0;
    c.bench_function("add one entry, durable", |b| {
        b.iter(|| {
            i += 1;
            store.add(fixture::draft(i * 6 + 1)).unwrap()
        })
    });
    let private = store.add(fixture::draft(1)).unwrap().id;
    c.bench_function("edit one private entry, durable, the old words out of the log", |b| {
        b.iter(|| {
            i += 1;
            store.edit(private, fixture::draft(i * 6 + 1)).unwrap()
        })
    });
    c.bench_function("share one entry, durable", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                i += 1;
                // The entry is written untimed, so the timing holds the share alone.
                let id = store.add(fixture::draft(i * 6)).unwrap().id;
                let start = Instant::now();
                black_box(store.share(id).unwrap());
                total += start.elapsed();
            }
            total
        })
    });
}

/// Sending a share at 10,000 entries: the sync session folds it into the shared document
/// (a durable write) just before it speaks to the partner.
/// A copy of the 10,000-entry fixture, open (the folder goes when the first is dropped).
fn ten_thousand_copy() -> (tempfile::TempDir, Store) {
    let tmp = tempfile::tempdir().unwrap();
    for file in std::fs::read_dir(fixture::ten_thousand()).unwrap().flatten() {
        std::fs::copy(file.path(), tmp.path().join(file.file_name())).unwrap();
    }
    let store = Store::open_dir_without_passcode(tmp.path()).unwrap();
    (tmp, store)
}

fn send_share(c: &mut Criterion) {
    let (_tmp, mut store) = ten_thousand_copy();
    let mut i = fixture::ENTRIES;
    c.bench_function("send one share: fold it into the document, durable, 10k entries", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                i += 1;
                let id = store.add(fixture::draft(i * 6)).unwrap().id;
                store.share(id).unwrap();
                let start = Instant::now();
                assert_eq!(store.fold_outbox().unwrap().len(), 1);
                total += start.elapsed();
            }
            total
        })
    });
}

/// Making a share's letter ahead at 10,000 entries, as every share in the app does: the
/// outbox folded on a copy of the document, its record written, durable (the sealing
/// itself, a few microseconds, is left out: the fixture has no pairing to seal for).
fn letter_ahead(c: &mut Criterion) {
    let (_tmp, mut store) = ten_thousand_copy();
    let mut i = fixture::ENTRIES * 2;
    let seal = |letter: &steady::store::Outgoing| Ok(letter.changes.concat());
    c.bench_function("make one share's letter ahead: fold on a copy, durable, 10k entries", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                i += 1;
                let id = store.add(fixture::draft(i * 6)).unwrap().id;
                store.share(id).unwrap();
                let start = Instant::now();
                assert!(store.post_letter(&seal).unwrap().is_some());
                total += start.elapsed();
                // Sent at once, untimed, so the next letter holds one share again.
                store.fold_outbox().unwrap();
            }
            total
        })
    });
}

/// The check of one received message at 10,000 entries: the partner checks in on one of
/// my agreements. Timed alone, then with the rest of the receive path around it.
fn received_change_check(c: &mut Criterion) {
    use automerge::ActorId;
    use steady::model::{Entry, Outcome, PersonId};
    use steady::store::{PartnerRules, doc, rules};

    let (me, partner) = (PersonId::new(), PersonId::new());
    let mut mine = doc::genesis().with_actor(ActorId::random());
    let now = chrono::Utc::now();
    let mut agreement = None;
    for i in 0..fixture::ENTRIES {
        let mut e = Entry::create(fixture::draft(i), me, now, now.date_naive()).unwrap();
        e.shared = true;
        let mut tx = mine.transaction();
        doc::write_entry(&mut tx, &e).unwrap();
        tx.commit();
        if matches!(e.body, steady::model::Body::Agreement { .. }) {
            agreement = Some(e);
        }
    }
    let mut agreement = agreement.unwrap();
    let rules = PartnerRules { person: partner, actors: vec![ActorId::random()], history: vec![] };
    let mut theirs = mine.fork().with_actor(rules.actors[0].clone());
    agreement.check_in(Outcome::Kept, Some("Lovely evening"), partner, now, now.date_naive()).unwrap();
    let mut tx = theirs.transaction();
    doc::write_entry(&mut tx, &agreement).unwrap();
    tx.commit();
    let before = mine.get_heads();
    let change = theirs.get_last_local_change().unwrap().clone();
    mine.apply_changes([change.clone()]).unwrap();
    c.bench_function("check one received check-in against the rules, 10k entries", |b| {
        b.iter(|| rules::check_received(black_box(&mine), &before, std::slice::from_ref(&change), me, &rules).unwrap())
    });
}

/// Receiving one share at 10,000 entries, durable: the partner's phone (B, holding the
/// same 10,000-entry document) takes A's sync message with one new share in it, checks
/// it against the rules, and commits it, as its sync session does.
fn receive_share(c: &mut Criterion) {
    let fixture::Couple { dir: _dir, mut a, mut b, a_sees_b, b_sees_a, a_state: mut sa, b_state: mut sb } =
        fixture::couple(&fixture::ten_thousand());
    let round = |a: &mut Store, b: &mut Store, sa: &mut automerge::sync::State, sb: &mut automerge::sync::State| {
        a.fold_outbox().unwrap();
        let to_b = a.sync_message(sa).unwrap();
        let to_a = b.sync_message(sb).unwrap();
        let mut took = Duration::ZERO;
        let busy = to_b.is_some() || to_a.is_some();
        if let Some(m) = to_b {
            let start = Instant::now();
            b.receive_sync_message(sb, m, &b_sees_a).unwrap();
            took = start.elapsed();
        }
        if let Some(m) = to_a {
            a.receive_sync_message(sa, m, &a_sees_b).unwrap();
        }
        (busy, took)
    };
    while round(&mut a, &mut b, &mut sa, &mut sb).0 {}
    let mut i = fixture::ENTRIES;
    c.bench_function("receive one share: apply, check, durable, 10k entries", |bench| {
        bench.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                i += 1;
                let id = a.add(fixture::draft(i * 6)).unwrap().id;
                a.share(id).unwrap();
                loop {
                    let (busy, took) = round(&mut a, &mut b, &mut sa, &mut sb);
                    total += took;
                    if !busy {
                        break;
                    }
                }
            }
            total
        })
    });
}

/// A check-in on a shared agreement that already holds 200 to 300 check-ins, at 10,000
/// entries, in its three parts on the way to the partner's screen: A folds it into the
/// document, B receives it, and B reads the agreement back as its window lists it.
fn check_in_on_a_long_agreement(c: &mut Criterion) {
    use steady::model::{Draft, Outcome};

    const FROM: usize = 200;
    const TO: usize = 300;
    #[derive(Clone, Copy, PartialEq)]
    enum Part {
        Fold,
        Receive,
        ReadBack,
    }
    let fixture::Couple { dir: _dir, mut a, mut b, a_sees_b, b_sees_a, a_state: mut sa, b_state: mut sb } =
        fixture::couple(&fixture::ten_thousand());
    // A sends and B receives until they have nothing more to say; returns the time of
    // the part asked for.
    let mut round = |a: &mut Store, b: &mut Store, part: Part, id| {
        let start = Instant::now();
        a.fold_outbox().unwrap();
        let mut took = if part == Part::Fold { start.elapsed() } else { Duration::ZERO };
        while let Some(m) = a.sync_message(&mut sa).unwrap() {
            let start = Instant::now();
            b.receive_sync_message(&mut sb, m, &b_sees_a).unwrap();
            if part == Part::Receive {
                took += start.elapsed();
            }
            if let Some(m) = b.sync_message(&mut sb).unwrap() {
                a.receive_sync_message(&mut sa, m, &a_sees_b).unwrap();
            }
        }
        let start = Instant::now();
        black_box(b.get(id).unwrap());
        if part == Part::ReadBack {
            took += start.elapsed();
        }
        took
    };
    let mut agreement = None;
    let mut count = 0;
    for (part, name) in
        [(Part::Fold, "A folds it"), (Part::Receive, "B receives it"), (Part::ReadBack, "B reads it back")]
    {
        c.bench_function(
            &format!("check-in on a shared agreement holding {FROM}-{TO} check-ins, 10k entries: {name}"),
            |bench| {
                bench.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        if agreement.is_none() || count >= TO {
                            let id = a.add(Draft::Agreement { text: "we call if we run late".into() }).unwrap().id;
                            a.share(id).unwrap();
                            round(&mut a, &mut b, part, id);
                            for i in 0..FROM {
                                a.check_in(id, Outcome::Kept, Some(&format!("kept it, evening {i}"))).unwrap();
                                round(&mut a, &mut b, part, id);
                            }
                            (agreement, count) = (Some(id), FROM);
                        }
                        let id = agreement.unwrap();
                        count += 1;
                        a.check_in(id, Outcome::Kept, Some(&format!("kept it, evening {count}"))).unwrap();
                        total += round(&mut a, &mut b, part, id);
                    }
                    total
                })
            },
        );
    }
}

criterion_group!(
    benches,
    open_and_list,
    add_and_share,
    send_share,
    letter_ahead,
    received_change_check,
    receive_share,
    check_in_on_a_long_agreement
);
criterion_main!(benches);
