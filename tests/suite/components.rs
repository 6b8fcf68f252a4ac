//! The app's screens in a headless VirtualDom: taps and typing dispatched the way the
//! webview sends them, and what a person would see read back with dioxus-ssr.

use crate::harness;

use chrono::{Days, Local, Utc};
use dioxus::prelude::*;
use harness::Screen;
use steady::model::{Body, Draft, Outcome, steadiness};
use steady::store::Store;
use steady::ui::{App, Journal, Preloaded};

fn screen(setup: impl FnOnce(&mut Store)) -> Screen {
    let mut store = Store::open_in_memory().unwrap();
    store.init("Alex").unwrap();
    setup(&mut store);
    let entries = store.entries().unwrap();
    let journal = Journal::from_store(store, entries).unwrap();
    Screen::new(VirtualDom::new(App).with_root_context(Preloaded::new(journal)))
}

#[test]
fn one_tap_shares_an_entry_and_sharing_is_explained_once() {
    let mut s = screen(|s| {
        s.add(Draft::CheckIn { text: "Coffee together".into() }).unwrap();
    });
    let html = s.html();
    assert!(html.contains("data-shared=\"false\""), "{html}");
    assert!(html.contains("Sharing gives your partner a copy"));
    s.tap("data-action", "share");
    let html = s.html();
    assert!(html.contains("data-shared=\"true\""), "{html}");
    assert!(html.contains("data-waiting=\"true\""), "it waits on this phone: {html}");
    assert!(html.contains(">Not sent yet<"));
    assert!(html.contains("Undo sharing &#39;Coffee together&#39;"), "Undo is offered right after sharing: {html}");
    assert!(!html.contains("Sharing gives your partner a copy"), "the explanation shows only once");
}

#[test]
fn undo_right_after_sharing_keeps_the_entry_private_and_says_so() {
    let mut s = screen(|s| {
        s.add(Draft::CheckIn { text: "Coffee together".into() }).unwrap();
    });
    s.tap("data-action", "share");
    s.tap("data-action", "undo");
    let html = s.html();
    assert!(html.contains("data-shared=\"false\""), "{html}");
    assert!(html.contains("It was not sent yet: it stays private"), "{html}");
    assert!(!html.contains("already has a copy"));
}

#[test]
fn unsharing_a_sent_entry_asks_with_honest_words_first() {
    let mut s = screen(|s| {
        let e = s.add(Draft::CheckIn { text: "Coffee together".into() }).unwrap();
        s.share(e.id).unwrap();
        // Paired, and the partner's phone was about to receive it: it is in the history.
        s.start_couple("0123456789abcdef0123456789abcdef", "Sam").unwrap();
        assert_eq!(s.fold_outbox().unwrap().len(), 1);
    });
    let html = s.html();
    assert!(html.contains("data-waiting=\"false\""), "{html}");
    s.tap("aria-label", "Unshare 'Coffee together'");
    let html = s.html();
    assert!(html.contains("already has a copy, or will have one, and keeps it. Make it private again"), "{html}");
    assert!(html.contains("data-shared=\"true\""), "nothing changes before the second tap");
    s.tap("data-action", "confirm-unshare");
    let html = s.html();
    assert!(html.contains("data-shared=\"false\""), "{html}");
    assert!(html.contains("It is private again on this phone, but your partner"), "{html}");
}

#[test]
fn a_blaming_reflection_gets_a_gentle_nudge_and_still_saves() {
    let mut s = screen(|_| {});
    s.tap("data-tab", "reflections");
    assert!(!s.html().contains("data-nudge"));
    s.type_into("id", "reflection-feeling", "You never listen to me");
    let html = s.html();
    assert!(html.contains("data-nudge=\"blame\""), "{html}");
    assert!(html.contains("I felt") && html.contains("I needed"));
    s.type_into("id", "reflection-needing", "To be heard");
    s.submit("data-form", "reflection");
    let html = s.html();
    assert!(html.contains("data-entry="), "the reflection was saved: {html}");
    assert!(html.contains("You never listen to me"));
    assert!(!html.contains("data-nudge"), "the form is cleared after saving");
}

#[test]
fn a_failed_save_shows_why_and_keeps_what_was_typed() {
    let mut s = screen(|_| {});
    s.tap("data-tab", "agreements");
    s.type_into("id", "agreement-text", &"a".repeat(600));
    s.submit("data-form", "agreement");
    let html = s.html();
    assert!(html.contains("role=\"alert\""), "{html}");
    assert!(html.contains("the most is 500"));
    assert_eq!(
        s.field_value("id", "agreement-text").as_deref(),
        Some("a".repeat(600).as_str()),
        "the typed text is still in the field"
    );
}

#[test]
fn agreement_check_ins_take_one_tap_each() {
    let mut s = screen(|s| {
        s.add(Draft::Agreement { text: "Phones away at dinner".into() }).unwrap();
    });
    s.tap("data-tab", "agreements");
    s.tap("data-outcome", "kept");
    assert!(s.html().contains("Kept 1 of 1 check-ins"));
    s.type_into("placeholder", "A note, if you like", "Rain, we'll try Tuesday");
    s.tap("data-outcome", "renegotiated");
    let html = s.html();
    assert!(html.contains("Kept 1 of 2 check-ins"), "{html}");
    assert!(html.contains("Noted: renegotiated"));
    assert!(html.contains("1 kept, 0 missed, 1 renegotiated"), "the steadiness picture counts them");
    assert!(!html.to_lowercase().contains("streak") && !html.to_lowercase().contains("broken"));
}

#[test]
fn the_steadiness_picture_counts_each_week_of_the_last_twelve() {
    let mut store = Store::open_in_memory().unwrap();
    store.init("Alex").unwrap();
    let id = store.add(Draft::Agreement { text: "Walk after dinner".into() }).unwrap().id;
    let today = Local::now().date_naive();
    // Check in on three days: today, a week ago, and fifteen weeks ago (out of the picture).
    for days_ago in [0u64, 7, 105] {
        let at = (today - Days::new(days_ago)).and_hms_opt(12, 0, 0).unwrap().and_local_timezone(Local).unwrap();
        let at = at.with_timezone(&Utc);
        store.set_clock(Box::new(move || at));
        store.check_in(id, Outcome::Kept, None).unwrap();
    }
    let weeks = steadiness::weekly(&store.entries().unwrap(), today);
    assert_eq!(weeks.len(), steadiness::WEEKS);
    assert_eq!(weeks[11].kept, 1);
    assert_eq!(weeks[10].kept, 1);
    assert_eq!(weeks.iter().map(|w| w.kept).sum::<u32>(), 2);
    let Body::Agreement { check_ins, .. } = store.get(id).unwrap().body else { panic!() };
    assert_eq!(check_ins.len(), 3);
}

#[test]
fn set_aside_and_restore_move_an_entry_between_screens() {
    let mut s = screen(|s| {
        s.add(Draft::Transparency { text: "Dinner with Sam until ten".into(), window: None }).unwrap();
    });
    s.tap("data-tab", "transparency");
    s.tap("data-action", "archive");
    assert!(!s.html().contains("Dinner with Sam until ten"));
    s.tap("data-tab", "us");
    s.tap("class", "link");
    let html = s.html();
    assert!(html.contains("data-screen=\"set-aside\"") && html.contains("Dinner with Sam until ten"), "{html}");
    s.tap("data-action", "restore");
    s.tap("data-tab", "transparency");
    assert!(s.html().contains("Dinner with Sam until ten"));
}

#[test]
fn every_screen_has_the_sync_badge_and_labelled_controls() {
    let mut s = screen(|s| {
        s.add(Draft::Agreement { text: "Say goodnight".into() }).unwrap();
    });
    for tab in ["today", "safety", "agreements", "reflections", "transparency", "us"] {
        s.tap("data-tab", tab);
        let html = s.html();
        assert!(html.contains(&format!("data-screen=\"{tab}\"")), "{tab}: {html}");
        assert!(html.contains("Not paired"), "{tab}: the sync badge is missing");
        for field in html.match_indices("<textarea id=\"").chain(html.match_indices("<input id=\"")) {
            let rest = &html[field.0..];
            let id: String = rest.split('"').nth(1).unwrap().to_owned();
            assert!(html.contains(&format!("for=\"{id}\"")), "{tab}: the field {id} has no label");
        }
        for button in html.split("<button").skip(1) {
            let label = button[..button.find("</button>").unwrap_or(button.len())].to_lowercase();
            assert!(
                !label.contains("request") && !label.contains("ask "),
                "{tab}: a control asks the partner for something: {label}"
            );
        }
    }
}

#[test]
fn a_new_phone_asks_for_a_name_first() {
    let store = Store::open_in_memory().unwrap();
    let journal = Journal::from_store(store, Vec::new()).unwrap();
    let mut s = Screen::new(VirtualDom::new(App).with_root_context(Preloaded::new(journal)));
    assert!(s.html().contains("The name your partner knows you by"));
    s.type_into("id", "name", "Blair");
    s.submit("data-form", "welcome");
    let html = s.html();
    assert!(html.contains("data-screen=\"today\""), "{html}");
}

#[test]
fn long_lists_show_a_page_at_a_time() {
    let mut s = screen(|s| {
        for i in 0..40 {
            s.add(Draft::Reflection { feeling: format!("Feeling number {i}"), needing: None, understanding: None })
                .unwrap();
        }
    });
    s.tap("data-tab", "reflections");
    let html = s.html();
    assert_eq!(html.matches("data-entry=").count(), 30);
    assert!(html.contains("Show 10 more of 10"), "{html}");
    s.tap("data-action", "more");
    let html = s.html();
    assert_eq!(html.matches("data-entry=").count(), 40);
    assert!(!html.contains("data-action=\"more\""));
}

#[test]
fn an_agreement_can_be_renegotiated_and_keeps_its_check_ins() {
    let mut s = screen(|s| {
        let e = s.add(Draft::Agreement { text: "Call at lunch".into() }).unwrap();
        s.check_in(e.id, Outcome::Kept, None).unwrap();
    });
    s.tap("data-tab", "agreements");
    s.tap("data-action", "reword");
    let field = s.html().split("id=\"reword-").nth(1).unwrap().split('"').next().unwrap().to_owned();
    s.type_into("id", &format!("reword-{field}"), "Text at lunch instead");
    s.submit("data-form", "reword");
    let html = s.html();
    assert!(html.contains("Text at lunch instead</p>"), "{html}");
    assert!(html.contains("Kept 1 of 1 check-ins"));
    assert!(!html.contains("data-form=\"reword\""), "the form closes after saving");
}

/// With no check-ins yet, the steadiness picture says in words what will fill it, instead
/// of an empty box over a bare axis.
#[test]
fn with_no_check_ins_the_steadiness_picture_says_what_will_fill_it() {
    let mut s = screen(|s| {
        s.add(Draft::Agreement { text: "Phones away at dinner".into() }).unwrap();
    });
    s.tap("data-tab", "agreements");
    let html = s.html();
    assert!(html.contains("data-steadiness=\"empty\""), "{html}");
    assert!(html.contains("No check-ins yet") && html.contains("a bar grows here for that week"), "{html}");
    assert!(!html.contains("<svg"), "no empty picture: {html}");
    s.tap("data-outcome", "kept");
    let html = s.html();
    assert!(html.contains("<svg") && html.contains("1 kept, 0 missed, 0 renegotiated"), "{html}");
}

/// The window's Share keeps the entry on this phone for the undo window: whatever syncs
/// meanwhile, it may not leave before then.
#[test]
fn the_share_button_holds_the_entry_on_this_phone_for_the_undo_window() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_dir_without_passcode(dir.path()).unwrap();
    store.init("Alex").unwrap();
    store.add(Draft::CheckIn { text: "Coffee together".into() }).unwrap();
    let entries = store.entries().unwrap();
    let journal = Journal::from_store(store, entries).unwrap();
    let mut s = Screen::new(VirtualDom::new(App).with_root_context(Preloaded::new(journal)));
    s.html();
    let tapped = Utc::now();
    s.tap("data-action", "share");
    let ready = Store::open_dir_without_passcode(dir.path()).unwrap().next_ready().unwrap();
    let held = ready.expect("the share waits in the outbox") - tapped;
    let window = chrono::Duration::from_std(steady::store::UNDO_WINDOW).unwrap();
    let slack = chrono::Duration::seconds(1);
    assert!(held > window - slack && held < window + slack, "held for {held}, the undo window is {window}");
}
