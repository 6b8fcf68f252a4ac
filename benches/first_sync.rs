//! Where a first sync's time goes, on one machine without the network: A, newly paired,
//! holds 10,000 shares waiting in its outbox (about 8,300 entries once each day's
//! check-ins are one); B holds nothing of A's. First each stages the fold of its outbox
//! (A's shares; B's name), as its node does while the two people compare their words; then each round of the sync
//! protocol is timed step by step: A folding its outbox into the shared document (the
//! staged fold counting, durable), A making its message, B taking it (checked against the
//! rules, durable). Recorded in BENCHMARKS.md.
//!
//! `cargo bench --bench first_sync`

mod fixture;

use std::time::{Duration, Instant};

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let fixture::Couple { dir: _dir, mut a, mut b, a_sees_b, b_sees_a, a_state: mut sa, b_state: mut sb } =
        fixture::couple(&fixture::waiting_to_share());
    let t = Instant::now();
    let staged = a.stage_outbox().unwrap();
    let stage = t.elapsed();
    // B's node does the same: B has nothing waiting, so only its name.
    b.stage_outbox().unwrap();
    let (mut fold, mut make, mut take) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let mut bytes = 0;
    let start = Instant::now();
    loop {
        let t = Instant::now();
        a.fold_outbox().unwrap();
        fold += t.elapsed();
        let t = Instant::now();
        let to_b = a.sync_message(&mut sa).unwrap();
        make += t.elapsed();
        let to_a = b.sync_message(&mut sb).unwrap();
        if to_b.is_none() && to_a.is_none() {
            break;
        }
        if let Some(m) = to_b {
            bytes += m.clone().encode().len();
            let t = Instant::now();
            b.receive_sync_message(&mut sb, m, &b_sees_a).unwrap();
            take += t.elapsed();
        }
        if let Some(m) = to_a {
            a.receive_sync_message(&mut sa, m, &a_sees_b).unwrap();
        }
    }
    let total = start.elapsed();
    let held = b.entries().unwrap().len();
    assert_eq!(held, a.entries().unwrap().len(), "B holds every entry A shared");
    println!(
        "A stages {staged} shares while the words are compared: {:.0} ms\n\
         first sync of {held} entries once both confirm, in one process: {:.0} ms in all; A folds its outbox {:.0} \
         ms, A makes its messages {:.0} ms ({bytes} B), B takes them {:.0} ms",
        ms(stage),
        ms(total),
        ms(fold),
        ms(make),
        ms(take)
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
