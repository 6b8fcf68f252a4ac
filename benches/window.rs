//! An action in the window until the screen shows its effect, with 10,000 entries in the
//! journal: the tap goes into the app's VirtualDom as the webview sends it, the handler
//! runs the action on the journal, and the screen is rendered and its changes applied to
//! a tree, as the webview applies them. Prints p50 and p99 per action. Recorded in
//! BENCHMARKS.md.

#[path = "../tests/harness/mod.rs"]
mod harness;

mod fixture;

use std::time::{Duration, Instant};

use dioxus::prelude::*;
use steady::ui::{App, Journal, Preloaded};

const ROUNDS: usize = 60;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    for file in std::fs::read_dir(fixture::ten_thousand()).unwrap().flatten() {
        std::fs::copy(file.path(), tmp.path().join(file.file_name())).unwrap();
    }
    let key = steady::vault::open_without_passcode(tmp.path()).unwrap();
    let journal = Journal::open(tmp.path(), &key).unwrap();
    assert_eq!(journal.entries.len(), fixture::ENTRIES);
    let mut screen = harness::Screen::new(VirtualDom::new(App).with_root_context(Preloaded::new(journal)));
    screen.tap("data-tab", "agreements");

    let tap = |screen: &mut harness::Screen, attribute: &str, value: &str| {
        let id = screen.find(attribute, value).unwrap_or_else(|| panic!("no {value} button on screen"));
        let start = Instant::now();
        screen.click(id);
        start.elapsed()
    };
    let timed = |screen: &mut harness::Screen, action: &str| tap(screen, "data-action", action);
    let (mut share, mut undo, mut aside, mut kept) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        // A check-in on the first agreement, which holds one more each round.
        kept.push(tap(&mut screen, "data-outcome", "kept"));
        if round == 0 {
            assert!(screen.html().contains("Noted: kept."), "the check-in is said");
        }
        share.push(timed(&mut screen, "share"));
        // What was done shows (looked at once, untimed).
        if round == 0 {
            assert!(screen.html().contains("data-waiting=\"true\""), "the share shows as waiting");
        }
        undo.push(timed(&mut screen, "undo"));
        if round == 0 {
            assert!(screen.html().contains("It was not sent yet: it stays private"), "the undo is said");
        }
        let card = screen.attribute("class", "card", "data-entry").unwrap();
        aside.push(timed(&mut screen, "archive"));
        if round == 0 {
            assert!(!screen.html().contains(&card), "the card set aside left the list");
        }
    }
    for (what, mut times) in [("share", share), ("undo a share", undo), ("set aside", aside), ("check in", kept)] {
        times.sort();
        let at = |p: f64| ms(times[((times.len() - 1) as f64 * p).round() as usize]);
        println!(
            "{what}, 10,000 entries, tap until the screen shows it: p50 {:.2} ms, p99 {:.2} ms ({ROUNDS} taps)",
            at(0.5),
            at(0.99)
        );
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
