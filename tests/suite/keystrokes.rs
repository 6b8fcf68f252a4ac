//! Per keystroke, nothing heavy: typing 100 keys into a field of the lock screen, the Us
//! screen or the partner panel reads nothing from the journal (no SQL statement on this
//! thread), nothing from the disk (no read system call on this thread), and redraws
//! nothing of the page. Each field keeps what was typed, and the form reads it when it
//! is saved.

use crate::harness;

use std::path::Path;

use dioxus::prelude::*;
use harness::Screen;
use steady::model::Draft;
use steady::store::{Store, statements_run_here};
use steady::ui::{App, DataDir};
use steady::vault::Vault;

const PASSCODE: &str = "a passcode of our own";
const KEYS: usize = 100;

/// A journal locked with a passcode, with a name, and a past pairing whose shared
/// document the Us screen decrypts to show it.
fn journal_with_a_past() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let key = Vault::at(dir.path()).set_up(Some(PASSCODE)).unwrap();
    let mut store = Store::open_dir(dir.path(), &key).unwrap();
    store.init("Alex").unwrap();
    store.start_couple("0123456789abcdef0123456789abcdef", "Sam").unwrap();
    let id = store.add(Draft::Agreement { text: "Phones away at dinner".into() }).unwrap().id;
    store.share(id).unwrap();
    assert_eq!(store.fold_outbox().unwrap().len(), 1);
    store.end_couple("Sam").unwrap();
    assert_eq!(store.past_documents().unwrap().len(), 1, "a past pairing to show");
    dir
}

fn app(dir: &Path) -> Screen {
    Screen::new(VirtualDom::new(App).with_root_context(DataDir(dir.to_owned())))
}

/// Read system calls this thread has made so far (`syscr` in its `io`).
fn reads_here() -> u64 {
    let io = std::fs::read_to_string("/proc/thread-self/io").expect("this thread's IO counts");
    io.lines().find_map(|l| l.strip_prefix("syscr: ")).and_then(|n| n.trim().parse().ok()).expect("syscr")
}

/// What reading the count itself costs, so that it is not counted as the screen's.
fn cost_of_counting() -> u64 {
    let before = reads_here();
    let after = reads_here();
    after - before
}

/// Types `KEYS` keys into a field, one by one, and says what it cost: SQL statements,
/// read system calls, and changes to the page.
fn cost_of_typing(s: &mut Screen, id: &str) -> (u64, u64, usize) {
    let counting = cost_of_counting();
    let keys: String = "steady and kind ".chars().cycle().take(KEYS).collect();
    let (statements, reads, changes) = (statements_run_here(), reads_here(), s.changes());
    s.press_keys("id", id, &keys);
    let cost = (statements_run_here() - statements, reads_here() - reads - counting, s.changes() - changes);
    assert!(s.field_value("id", id).is_some_and(|v| v.ends_with(&keys)), "{id} holds what was typed");
    cost
}

#[test]
fn typing_in_the_lock_screen_the_us_screen_and_the_partner_panel_reads_and_redraws_nothing() {
    let dir = journal_with_a_past();
    let mut s = app(dir.path());

    // The lock screen: the passcode, typed key by key.
    assert_eq!(cost_of_typing(&mut s, "passcode"), (0, 0, 0), "the lock screen's passcode");
    s.type_into("id", "passcode", "");
    s.press_keys("id", "passcode", PASSCODE);
    s.submit("data-form", "unlock");
    assert!(s.html().contains("data-screen=\"today\""), "the passcode typed key by key unlocks: {}", s.html());

    // The Us screen, with its past pairing (decrypted to be shown) and the lock's forms.
    s.tap("data-tab", "us");
    assert!(s.html().contains("From your time with Sam"));
    s.tap("data-action", "change-passcode");
    let fields = [
        "join-code",
        "join-address",
        "my-name",
        "export-path",
        "export-passphrase",
        "current-passcode",
        "next-passcode",
        "next-passcode-again",
    ];
    for id in fields {
        assert!(s.has("id", id), "{id} is on the Us screen: {}", s.html());
        assert_eq!(cost_of_typing(&mut s, id), (0, 0, 0), "typing in {id}: statements, reads, changes to the page");
    }

    // What is typed is what the form reads when it is saved, and saving does reach the
    // journal: the count counts.
    s.type_into("id", "my-name", "Alexandra");
    let statements = statements_run_here();
    s.submit("data-form", "my-name");
    assert!(statements_run_here() > statements, "saving runs statements on this thread");
    let me = Store::open_dir(dir.path(), &Vault::at(dir.path()).unlock(PASSCODE).unwrap()).unwrap().me().cloned();
    assert_eq!(me.map(|m| m.name).as_deref(), Some("Alexandra"), "the typed name is saved");
}
