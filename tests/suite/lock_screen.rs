//! The app lock on screen, in a headless VirtualDom: the first run, the lock screen with
//! wrong and right passcodes and the growing wait, "Lock now", and locking after the app
//! has been away longer than the grace period. While locked, nothing of the journal is in
//! the DOM.

use crate::harness;

use std::path::Path;
use std::time::Duration;

use dioxus::prelude::*;
use harness::Screen;
use steady::model::Draft;
use steady::store::Store;
use steady::ui::lock::{Gate, LockClock, ScreenWatch, use_auto_lock};
use steady::ui::{App, DataDir, Journal, JournalSignal, Preloaded};
use steady::vault::{Now, Vault};

const PASSCODE: &str = "a passcode of our own";
const SECRET: &str = "Locked-text-8e4b: what I felt on Tuesday";

/// A journal locked with a passcode, with a private entry and a name in it.
fn locked_journal() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let key = Vault::at(dir.path()).set_up(Some(PASSCODE)).unwrap();
    let mut store = Store::open_dir(dir.path(), &key).unwrap();
    store.init("Rosalind-2c7f").unwrap();
    store.add(Draft::CheckIn { text: SECRET.into() }).unwrap();
    dir
}

fn app(dir: &Path) -> Screen {
    Screen::new(VirtualDom::new(App).with_root_context(DataDir(dir.to_owned())))
}

fn shows_nothing_of_the_journal(html: &str) {
    assert!(!html.contains("Locked-text-8e4b") && !html.contains("Rosalind-2c7f"), "{html}");
    assert!(!html.contains("data-screen"), "no screen of the journal is mounted: {html}");
}

fn unlock(s: &mut Screen, passcode: &str) {
    s.type_into("id", "passcode", passcode);
    s.submit("data-form", "unlock");
}

#[test]
fn the_lock_screen_shows_nothing_until_the_right_passcode() {
    let dir = locked_journal();
    let mut s = app(dir.path());
    let html = s.html();
    assert!(html.contains("data-gate=\"locked\""), "{html}");
    shows_nothing_of_the_journal(&html);

    unlock(&mut s, "not the passcode");
    let html = s.html();
    assert!(html.contains("That passcode is not right. 4 more tries before Steady asks you to wait."), "{html}");
    shows_nothing_of_the_journal(&html);

    unlock(&mut s, PASSCODE);
    let html = s.html();
    assert!(html.contains("Locked-text-8e4b"), "open after the right passcode: {html}");
    assert!(!html.contains("data-gate"), "{html}");
}

#[test]
fn five_wrong_passcodes_earn_a_wait_that_a_restart_keeps() {
    let dir = locked_journal();
    let mut s = app(dir.path());
    for _ in 0..5 {
        unlock(&mut s, "wrong, again");
    }
    let html = s.html();
    assert!(html.contains("Wait 30 s before trying again."), "{html}");
    drop(s);

    // Closing and opening the app does not reset the wait.
    let mut s = app(dir.path());
    let html = s.html();
    assert!(html.contains("Too many wrong passcodes. Try again in"), "{html}");
    unlock(&mut s, PASSCODE);
    let html = s.html();
    assert!(html.contains("Too many wrong passcodes. Try again in"), "even the right one waits: {html}");
    shows_nothing_of_the_journal(&html);
    assert!(Vault::at(dir.path()).wrong_tries() == 5, "the wait's try was not counted as wrong");
}

#[test]
fn lock_now_takes_the_journal_off_the_screen() {
    let dir = locked_journal();
    let mut s = app(dir.path());
    unlock(&mut s, PASSCODE);
    s.tap("data-tab", "us");
    assert!(s.html().contains("Rosalind-2c7f"));
    s.tap("data-action", "lock-now");
    let html = s.html();
    assert!(html.contains("data-gate=\"locked\""), "{html}");
    shows_nothing_of_the_journal(&html);
    unlock(&mut s, PASSCODE);
    assert!(s.html().contains("Rosalind-2c7f"));
}

#[test]
fn the_first_run_offers_a_passcode_and_going_without_it_is_said_plainly() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = app(dir.path());
    let html = s.html();
    assert!(html.contains("data-gate=\"set-up\"") && html.contains("If you forget this passcode"), "{html}");
    s.type_into("id", "new-passcode", "12345");
    s.type_into("id", "new-passcode-again", "12345");
    s.submit("data-form", "set-up");
    assert!(s.html().contains("a PIN needs at least 6 digits"));
    assert!(!dir.path().join("steady.key").exists(), "nothing is set up yet");
    s.type_into("id", "new-passcode", "314159");
    s.type_into("id", "new-passcode-again", "314159");
    s.submit("data-form", "set-up");
    assert!(!s.html().contains("data-gate"), "the journal opens");
    assert_eq!(Vault::at(dir.path()).state().unwrap(), steady::vault::LockState::Passcode);

    let plain = tempfile::tempdir().unwrap();
    let mut s = app(plain.path());
    s.tap("data-set-up", "without");
    assert!(s.html().contains("Without a passcode, anyone who can open Steady"), "the warning comes first");
    assert!(!plain.path().join("steady.key").exists());
    s.tap("data-set-up", "no-passcode");
    assert!(!s.html().contains("data-gate"), "the journal opens");
    assert_eq!(Vault::at(plain.path()).state().unwrap(), steady::vault::LockState::NoPasscode);
}

/// A root with a foreground it can be told about, as a phone's lifecycle would.
#[component]
fn Away() -> Element {
    let preloaded = use_context::<Preloaded>();
    let journal: JournalSignal = use_signal(|| preloaded.0.borrow_mut().take().unwrap());
    let gate = use_signal(|| Gate::Open);
    let mut foreground = use_signal(|| true);
    use_auto_lock(journal, gate, foreground);
    let texts: Vec<String> = match journal.read().as_ref() {
        Ok(j) => j.entries.iter().map(|e| e.body.main_text().to_owned()).collect(),
        Err(e) => vec![e.clone()],
    };
    rsx! {
        button { "data-away": "leave", onclick: move |_| foreground.set(false) }
        button { "data-away": "return", onclick: move |_| foreground.set(true) }
        p { "data-gate-now": "{gate:?}" }
        for t in texts { p { "{t}" } }
    }
}

fn away_screen(dir: &Path, grace: Duration) -> Screen {
    away_screen_with(dir, grace, LockClock::default())
}

fn away_screen_with(dir: &Path, grace: Duration, clock: LockClock) -> Screen {
    let key = Vault::at(dir).unlock(PASSCODE).unwrap();
    let mut journal = Journal::open(dir, &key).unwrap();
    journal.set_lock_grace(grace).unwrap();
    Screen::new(VirtualDom::new(Away).with_root_context(Preloaded::new(journal)).with_root_context(clock))
}

/// A phone's clocks while it sleeps: the monotonic clock (and every timer) stands still,
/// and the boot-time clock runs. Two hours with the screen off lock the app, whatever
/// the grace period, as soon as it is back.
#[tokio::test]
async fn time_asleep_counts_toward_the_grace_period() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    let dir = locked_journal();
    let boot = Arc::new(AtomicU64::new(1_000));
    let read = boot.clone();
    let clock = LockClock(Arc::new(move || Now {
        wall: std::time::SystemTime::now(),
        boot: Duration::from_secs(read.load(Ordering::SeqCst)),
        boot_id: "this boot".into(),
    }));
    let mut s = away_screen_with(dir.path(), Duration::from_secs(60), clock);
    // A quick look away, on both clocks: still open.
    s.tap("data-away", "leave");
    boot.fetch_add(5, Ordering::SeqCst);
    s.tap("data-away", "return");
    assert!(s.html().contains("Locked-text-8e4b") && s.html().contains("data-gate-now=\"Open\""));
    // Away with the screen off: no timer ran, and two hours passed on the boot-time clock.
    s.tap("data-away", "leave");
    boot.fetch_add(2 * 3600, Ordering::SeqCst);
    s.tap("data-away", "return");
    let html = s.html();
    assert!(html.contains("data-gate-now=\"Locked\"") && !html.contains("Locked-text-8e4b"), "{html}");
}

/// The screen turning off (or the phone locking) while the app is away locks it at once,
/// well inside a long grace period; with the screen on, the same moment away does not.
#[tokio::test]
async fn the_screen_turning_off_while_away_locks_at_once() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = locked_journal();
    let off = Arc::new(AtomicBool::new(false));
    let read = off.clone();
    let key = Vault::at(dir.path()).unlock(PASSCODE).unwrap();
    let mut journal = Journal::open(dir.path(), &key).unwrap();
    journal.set_lock_grace(Duration::from_secs(300)).unwrap();
    let mut s = Screen::new(
        VirtualDom::new(Away)
            .with_root_context(Preloaded::new(journal))
            .with_root_context(ScreenWatch(Arc::new(move || read.load(Ordering::SeqCst)))),
    );
    s.tap("data-away", "leave");
    assert!(!s.wait_until(Duration::from_millis(1200), |h| h.contains("data-gate-now=\"Locked\"")).await);
    assert!(s.html().contains("Locked-text-8e4b"), "away with the screen on: still open");
    off.store(true, Ordering::SeqCst);
    assert!(s.wait_until(Duration::from_secs(2), |h| h.contains("data-gate-now=\"Locked\"")).await, "{}", s.html());
    s.tap("data-away", "return");
    let html = s.html();
    assert!(!html.contains("Locked-text-8e4b") && html.contains("Steady is locked."), "{html}");
}

#[tokio::test]
async fn away_longer_than_the_grace_period_locks_and_a_quick_glance_does_not() {
    let dir = locked_journal();
    let mut s = away_screen(dir.path(), Duration::from_millis(1500));
    assert!(s.html().contains("Locked-text-8e4b"));
    // Away for a moment: still open.
    s.tap("data-away", "leave");
    s.tap("data-away", "return");
    assert!(!s.wait_until(Duration::from_millis(1800), |h| h.contains("data-gate-now=\"Locked\"")).await);
    assert!(s.html().contains("Locked-text-8e4b"));
    // Away for longer than the grace period: locked, by the time the app is back or sooner.
    s.tap("data-away", "leave");
    assert!(s.wait_until(Duration::from_secs(5), |h| h.contains("data-gate-now=\"Locked\"")).await, "{}", s.html());
    s.tap("data-away", "return");
    let html = s.html();
    assert!(!html.contains("Locked-text-8e4b") && html.contains("Steady is locked."), "{html}");

    // "Immediately": locked as soon as the app leaves the foreground.
    let mut s = away_screen(dir.path(), Duration::ZERO);
    s.tap("data-away", "leave");
    assert!(s.wait_until(Duration::from_secs(2), |h| h.contains("data-gate-now=\"Locked\"")).await, "{}", s.html());
    assert!(!s.html().contains("Locked-text-8e4b"));
}
