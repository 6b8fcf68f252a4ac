//! A data directory with a realistic journal, shared by the benchmarks: 10,000 entries of
//! all five kinds, half of them shared one at a time (one document change each, as a
//! person would), agreements with check-ins. Built once and kept under `target/`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use steady::model::{Draft, Outcome, SafetySide};
use steady::store::Store;

pub const ENTRIES: usize = 10_000;

const WORDS: &[&str] = &[
    "today", "I", "felt", "calm", "when", "you", "called", "before", "dinner", "and", "we", "walked", "home",
    "together", "it", "helped", "to", "hear", "the", "plan", "early", "was", "tired", "but", "showed", "up", "on",
    "time", "small", "steady", "kind", "honest", "quiet", "evening", "morning", "message", "listened", "without",
    "rushing", "safe", "close", "trust", "grows", "slowly", "again", "weekend", "coffee", "laughed",
];

/// About twelve words of varied text, so compression sees something like real writing.
fn words(i: usize) -> String {
    words_of(i, 12)
}

/// `count` words of varied text, the same for the same `i`.
pub fn words_of(i: usize, count: usize) -> String {
    let mut x = (i as u64).wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let mut out = Vec::new();
    for _ in 0..count {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        out.push(WORDS[(x >> 33) as usize % WORDS.len()]);
    }
    out.join(" ")
}

pub fn draft(i: usize) -> Draft {
    let text = words(i);
    match i % 6 {
        0 => Draft::SafetyNeed { side: SafetySide::Helps, text },
        1 => Draft::SafetyNeed { side: SafetySide::Harder, text },
        2 => Draft::Reflection { feeling: text, needing: Some("Some quiet time together".into()), understanding: None },
        3 => Draft::Agreement { text },
        4 => Draft::CheckIn { text },
        _ => Draft::Transparency { text, window: None },
    }
}

/// The couple the fixture's phone is paired in.
pub const COUPLE: &str = "5be5c0a1d2e3f405162738495a6b7c8d";

/// Fills `dir` with `count` entries, sharing every other one. The phone is paired, and
/// each share (and check-in) is sent on its own, as a person's would be at the next sync.
pub fn fill(dir: &Path, count: usize) -> Store {
    let mut store = Store::open_dir_without_passcode(dir).unwrap();
    store.init("Alex").unwrap();
    store.start_couple(COUPLE, "Blair").unwrap();
    let start = chrono::Utc::now() - chrono::Duration::hours(4 * count as i64);
    for i in 0..count {
        // Six entries a day, so each day has one check-in, as it would for a person.
        let at = start + chrono::Duration::hours(4 * i as i64);
        store.set_clock(Box::new(move || at));
        let e = store.add(draft(i)).unwrap();
        if i % 3 == 0 && matches!(draft(i), Draft::Agreement { .. }) {
            store.check_in(e.id, Outcome::Kept, None).unwrap();
        }
        if i % 2 == 0 {
            store.share(e.id).unwrap();
        }
        store.fold_outbox().unwrap();
    }
    store.compact().unwrap();
    store.set_clock(Box::new(chrono::Utc::now));
    store
}

/// The 10,000-entry data directory, built on first use.
pub fn ten_thousand() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-10k-sealed");
    let done = dir.join("complete");
    if !done.exists() {
        let _ = std::fs::remove_dir_all(&dir);
        eprintln!("building the 10,000-entry journal once, in {}", dir.display());
        drop(fill(&dir, ENTRIES));
        std::fs::write(&done, b"").unwrap();
    }
    dir
}

/// A phone not yet paired whose person shared 10,000 entries, one share each: they wait
/// in the outbox, and go to the partner's phone at the first sync. Built once under
/// `target/`.
pub fn waiting_to_share() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-fixtures/sync-10k");
    if dir.join("done").exists() {
        return dir;
    }
    let _ = std::fs::remove_dir_all(&dir);
    let mut store = Store::open_dir_without_passcode(&dir).unwrap();
    store.init("Alex").unwrap();
    for i in 0..ENTRIES {
        let id = store.add(draft(i)).unwrap().id;
        store.share(id).unwrap();
    }
    store.compact().unwrap();
    std::fs::write(dir.join("done"), b"").unwrap();
    dir
}

/// Two phones paired in [`COUPLE`]: A, a copy of the journal in `from` (paired, or paired
/// now), and B, Blair's, new. What each knows of the other, and a sync state each.
pub struct Couple {
    /// Where both journals live, removed when dropped: keep it while the stores are open.
    pub dir: tempfile::TempDir,
    pub a: Store,
    pub b: Store,
    pub a_sees_b: steady::store::PartnerRules,
    pub b_sees_a: steady::store::PartnerRules,
    pub a_state: automerge::sync::State,
    pub b_state: automerge::sync::State,
}

pub fn couple(from: &Path) -> Couple {
    let dir = tempfile::tempdir().unwrap();
    let (dir_a, dir_b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&dir_a).unwrap();
    for file in std::fs::read_dir(from).unwrap().flatten() {
        std::fs::copy(file.path(), dir_a.join(file.file_name())).unwrap();
    }
    let mut a = Store::open_dir_without_passcode(&dir_a).unwrap();
    let mut b = Store::open_dir_without_passcode(&dir_b).unwrap();
    b.init("Blair").unwrap();
    if a.couple().unwrap().is_none() {
        a.start_couple(COUPLE, "Blair").unwrap();
    }
    b.start_couple(COUPLE, "Alex").unwrap();
    let rules = |s: &Store| steady::store::PartnerRules {
        person: s.me().unwrap().id,
        actors: vec![s.actor()],
        history: vec![],
    };
    Couple {
        a_sees_b: rules(&b),
        b_sees_a: rules(&a),
        a,
        b,
        dir,
        a_state: automerge::sync::State::new(),
        b_state: automerge::sync::State::new(),
    }
}
