//! A move to a new phone, on the command line, on loopback: the old phone A, the new
//! phone A2 and the partner B.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cli::{Running, pair_and_sync, status_json};
use crate::common::{fails, list_json, ok, ok_with};
use automerge::ReadDoc;

const NEW_PASSCODE: (&str, &str) = ("STEADY_PASSCODE", "a-new-phone-passcode-4471");

/// What a move's two commands said, and whether each succeeded.
struct Moved {
    old: (bool, Vec<String>),
    new: (bool, Vec<String>),
}

/// Starts `move out` on `from` and `move in` on `to` (with `env_to`, and `extra`
/// arguments), checks that both show the same words, then gives each phone's answer.
fn move_phone(from: &Path, to: &Path, env_to: &[(&str, &str)], extra: &[&str], answers: [bool; 2]) -> Moved {
    let mut old = Running::start(from, &["move", "out", "--listen", "127.0.0.1:0"]);
    let code = old.wait_for("code: ", Duration::from_secs(10)).trim_start_matches("code: ").to_owned();
    let mut args = vec!["move", "in", code.as_str()];
    args.extend_from_slice(extra);
    let mut new = Running::start_with(to, &args, env_to);
    let words_new = new.wait_for("words: ", Duration::from_secs(15));
    let words_old = old.wait_for("words: ", Duration::from_secs(5));
    assert_eq!(words_old, words_new, "both phones show the same words");
    assert_eq!(words_new.split_whitespace().count(), 5, "{words_new}");
    for (i, (dir, yes)) in [(from, answers[0]), (to, answers[1])].into_iter().enumerate() {
        let said = crate::common::steady(dir, &["move", if yes { "confirm" } else { "reject" }]);
        // After a no, the other phone's move may have ended before its person answers.
        let ended = i == 1 && !answers[0] && String::from_utf8_lossy(&said.stderr).contains("no move is waiting");
        assert!(said.status.success() || ended, "{said:?}");
    }
    Moved { old: old.finish(), new: new.finish() }
}

/// Syncs `da` (with `env_a`) and `db` on loopback until `done` holds.
fn sync_until(da: &Path, env_a: &[(&str, &str)], db: &Path, what: &str, mut done: impl FnMut() -> bool) {
    let mut sync_a = Running::start_with(da, &["sync", "--json", "--no-discovery", "--listen", "127.0.0.1:0"], env_a);
    let listening: Value =
        serde_json::from_str(&sync_a.wait_for(r#""event":"listening""#, Duration::from_secs(10))).unwrap();
    let address = listening["address"].as_str().unwrap().to_owned();
    let _sync_b = Running::start(db, &["sync", "--json", "--no-discovery", "--dial", &address]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The app's window on `dir`, headless, with discovery off and listening on loopback.
fn window_on(dir: &Path) -> crate::harness::Screen {
    let dom = dioxus::prelude::VirtualDom::new(steady::ui::App)
        .with_root_context(steady::ui::DataDir(dir.to_path_buf()))
        .with_root_context(steady::ui::service::NetOptions {
            discovery_allowed: false,
            listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
        });
    crate::harness::Screen::new(dom)
}

fn listed(dir: &Path, env: &[(&str, &str)]) -> Vec<Value> {
    serde_json::from_str(&ok_with(dir, &["list", "--json"], env)).expect("a JSON list")
}

/// The move of the issue: A and B paired, both with shared entries, A with private ones
/// and a past pairing. A moves to A2, which lists exactly what A listed; A is gone, its
/// key and journal with it; B syncs on with A2 in the same pairing, both ways.
#[test]
fn a_journal_moves_to_a_new_phone_whole_and_the_partner_syncs_on_without_pairing_again() {
    let (a, b, c, n) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let (da, db, dc) = (a.path(), b.path(), c.path());
    let dn = n.path().join("new-phone");
    ok(da, &["init", "--name", "Alex", "--no-passcode"]);
    ok(db, &["init", "--name", "Blair", "--no-passcode"]);
    ok(dc, &["init", "--name", "Casey", "--no-passcode"]);
    // A past pairing, with C, who shared an entry.
    let from_c = ok(dc, &["add", "checkin", "FROM-A-PAST-PAIRING-1e2"]).trim().to_owned();
    ok(dc, &["share", &from_c]);
    pair_and_sync(da, dc, 1);
    ok(da, &["unpair"]);

    let shared_a = ok(da, &["add", "agreement", "MOVED-SHARED-BY-ALEX-31c"]).trim().to_owned();
    ok(da, &["share", &shared_a]);
    ok(da, &["add", "reflection", "MOVED-PRIVATE-OF-ALEX-7e0"]);
    ok(da, &["add", "checkin", "MOVED-PRIVATE-CHECKIN-a9b"]);
    let shared_b = ok(db, &["add", "transparency", "SHARED-BY-BLAIR-5f1"]).trim().to_owned();
    ok(db, &["share", &shared_b]);
    pair_and_sync(da, db, 4);
    let past = status_json(da)["past_pairings"].clone();
    assert_eq!(past.as_array().map(Vec::len), Some(1), "{past}");
    assert_eq!(past[0]["partner"], "Casey");
    let before = list_json(da);
    assert_eq!(before.len(), 4, "{before:#?}");
    let past_b = status_json(db)["past_pairings"].clone();
    assert_eq!(status_json(db)["partner"]["moved_at"], Value::Null, "Alex has not moved yet");

    let moved = move_phone(da, &dn, &[NEW_PASSCODE], &[], [true, true]);
    assert!(moved.old.0 && moved.new.0, "{:#?}", (&moved.old, &moved.new));
    assert!(moved.old.1.iter().any(|l| l.contains("erased its copy")), "{:#?}", moved.old.1);
    assert!(moved.new.1.iter().any(|l| l.contains("arrived on this phone: 4 entries")), "{:#?}", moved.new.1);

    // A opens nothing any more: its key and journal are gone, the folder with them.
    assert!(!da.join("steady.key").exists() && !da.join("steady.sqlite3").exists());
    assert!(!da.exists(), "the old phone's data folder is gone");
    assert!(fails(da, &["list"]).contains("nobody is set up"), "nothing opens on the old phone");

    // A2 lists exactly what A listed, private entries included, under its own passcode.
    assert_eq!(listed(&dn, &[NEW_PASSCODE]), before);
    assert!(fails(&dn, &["list"]).contains("passcode"), "A2's journal is locked with its passcode");
    let status_a2: Value = serde_json::from_str(&ok_with(&dn, &["status", "--json"], &[NEW_PASSCODE])).unwrap();
    assert_eq!(status_a2["past_pairings"], past, "the past pairing moved too");
    assert_eq!(status_a2["partner"]["name"], "Blair");

    // B syncs on with A2, with no new pairing, both ways.
    let from_a2 = "FROM-THE-NEW-PHONE-0b8";
    let id = ok_with(&dn, &["add", "checkin", from_a2], &[NEW_PASSCODE]).trim().to_owned();
    ok_with(&dn, &["share", &id], &[NEW_PASSCODE]);
    let from_b = "FROM-BLAIR-AFTER-THE-MOVE-6c3";
    let id_b = ok(db, &["add", "checkin", from_b]).trim().to_owned();
    ok(db, &["share", &id_b]);
    sync_until(&dn, &[NEW_PASSCODE], db, "B and A2 sync", || {
        list_json(db).iter().any(|e| e["text"] == from_a2)
            && listed(&dn, &[NEW_PASSCODE]).iter().any(|e| e["text"] == from_b)
    });
    assert_eq!(status_json(db)["past_pairings"], past_b, "B's past pairings are unchanged");
    assert_eq!(status_json(db)["partner"]["name"], "Alex");
    // B's phone says, honestly and only that, that Alex moved.
    let moved_at = status_json(db)["partner"]["moved_at"].as_str().map(str::to_owned).expect("partner.moved_at");
    let moved_on = chrono::DateTime::parse_from_rfc3339(&moved_at).unwrap().with_timezone(&chrono::Local);
    let line = format!("Alex moved Steady to a new phone on {}.", moved_on.format("%-d %B"));
    assert!(ok(db, &["status"]).contains(&line), "{}", ok(db, &["status"]));
    assert_eq!(status_a2["partner"]["moved_at"], Value::Null, "Blair did not move");
    the_window_says_it_once(db, &line);
}

/// Blair's window shows the line about Alex's new phone until Blair dismisses it, and not
/// again after, in this window or the next.
fn the_window_says_it_once(db: &Path, line: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let _inside = runtime.enter();
    let window = || window_on(db);
    let mut screen = window();
    let html = screen.html();
    assert_eq!(html.matches(line).count(), 1, "{html}");
    for tab in ["today", "us"] {
        screen.tap("data-tab", tab);
        assert!(screen.html().contains(line), "the line stays until it is dismissed");
    }
    screen.tap("aria-label", "Dismiss the line about the new phone");
    assert!(!screen.html().contains(line), "dismissed");
    drop(screen);
    assert!(!window().html().contains(line), "not again in the next window");
}

/// A move turned down on either phone moves nothing: the old phone keeps everything,
/// the new one keeps nothing, not even its folder.
#[test]
fn a_move_turned_down_on_either_phone_moves_nothing() {
    let a = tempfile::tempdir().unwrap();
    let da = a.path();
    ok(da, &["init", "--name", "Alex", "--no-passcode"]);
    ok(da, &["add", "checkin", "STAYS-ON-THE-OLD-PHONE-4aa"]);
    let before = list_json(da);
    for answers in [[true, false], [false, true]] {
        let n = tempfile::tempdir().unwrap();
        let dn = n.path().join("new-phone");
        let moved = move_phone(da, &dn, &[], &["--no-passcode"], answers);
        assert!(!moved.old.0 && !moved.new.0, "{:#?}", (&moved.old, &moved.new));
        assert!(!moved.old.1.iter().any(|l| l.contains("Moving")), "{:#?}", moved.old.1);
        assert_eq!(list_json(da), before, "the old phone keeps everything");
        assert!(!dn.exists(), "the new phone keeps nothing");
        assert!(!da.join("move.waiting").exists() && !da.join("move.answer").exists());
    }
}

/// Bad input writes nothing: a move into a folder that holds a journal, a code that is
/// not a move's, an answer with no move waiting, a new phone that can't prove the code.
#[test]
fn a_move_refuses_bad_input_and_writes_nothing() {
    let (a, n) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (da, dn) = (a.path(), n.path().join("new-phone"));
    ok(da, &["init", "--name", "Alex", "--no-passcode"]);
    let said = fails(da, &["move", "in", "steady-move:x:y:z", "--no-passcode"]);
    assert!(said.contains("already holds a journal"), "{said}");
    let said = fails(&dn, &["move", "in", "steady-relay:abc", "--no-passcode"]);
    assert!(said.contains("not the code of a move"), "{said}");
    let said = fails(&dn, &["move", "in", "steady-move:abc", "--no-passcode"]);
    assert!(said.contains("not the code of a move"), "{said}");
    let said = fails(da, &["move", "confirm"]);
    assert!(said.contains("no move is waiting"), "{said}");
    let said = crate::common::fails_with(&dn, &["move", "in", "steady-move:abc"], &[]);
    assert!(said.contains("not the code of a move"), "{said}");
    assert!(!dn.exists(), "nothing was written");

    // The right phone, the wrong secret: refused, and the old phone waits on.
    let mut old = Running::start(da, &["move", "out", "--listen", "127.0.0.1:0"]);
    let code = old.wait_for("code: ", Duration::from_secs(10)).trim_start_matches("code: ").to_owned();
    let mut parts: Vec<&str> = code.splitn(4, ':').collect();
    let wrong = "0".repeat(32);
    parts[2] = &wrong;
    let said = fails(&dn, &["move", "in", &parts.join(":"), "--no-passcode"]);
    assert!(said.contains("not the code this phone shows"), "{said}");
    assert!(!dn.exists(), "nothing was kept");
    let (done, moved) = {
        let mut new = Running::start(&dn, &["move", "in", &code, "--no-passcode"]);
        new.wait_for("words: ", Duration::from_secs(15));
        old.wait_for("words: ", Duration::from_secs(5));
        ok(da, &["move", "reject"]);
        new.finish()
    };
    assert!(!done, "{moved:#?}");
    assert!(old.finish().1.iter().any(|l| l.contains("code: ")));
    assert!(list_json(da).is_empty(), "the old phone still opens");
}

/// Moves broken off at random points, 50 times, by killing either phone's command:
/// every time the old phone still opens with everything, or, when the move had already
/// ended, the new phone holds everything; and the new phone holds everything or nothing.
#[test]
fn a_move_broken_off_anywhere_leaves_the_old_phone_whole_and_the_new_one_whole_or_empty() {
    let template = tempfile::tempdir().unwrap();
    let dt = template.path();
    ok(dt, &["init", "--name", "Alex", "--no-passcode"]);
    for i in 0..40 {
        ok(dt, &["add", "checkin", &format!("BROKEN-MOVE-ENTRY-{i:03}-{}", "x".repeat(200))]);
    }
    let before = list_json(dt);
    let mut rng = 0x5eed_u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let (mut broken, mut whole) = (0, 0);
    for round in 0..50 {
        let (a, n) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (da, dn) = (a.path().join("old"), n.path().join("new-phone"));
        copy_dir(dt, &da);
        let mut old = Running::start(&da, &["move", "out", "--listen", "127.0.0.1:0"]);
        let code = old.wait_for("code: ", Duration::from_secs(10)).trim_start_matches("code: ").to_owned();
        let mut new = Running::start(&dn, &["move", "in", &code, "--no-passcode"]);
        new.wait_for("words: ", Duration::from_secs(15));
        ok(&da, &["move", "confirm"]);
        ok(&dn, &["move", "confirm"]);
        std::thread::sleep(Duration::from_micros(next() % 60_000));
        let killed_old = next() % 2 == 0;
        if killed_old {
            drop(old);
            let _ = new.finish();
        } else {
            drop(new);
            let _ = old.finish();
        }
        let old_opens = da.join("steady.key").exists();
        let new_has = dn.join("steady.key").exists();
        if old_opens {
            assert_eq!(list_json(&da), before, "round {round}: the old phone opens with everything");
        } else {
            assert!(new_has, "round {round}: the old phone erased its copy before the new one had it");
            // An erase broken off is finished by the next command, which finds nobody.
            assert!(fails(&da, &["list"]).contains("nobody is set up"), "round {round}");
            assert!(!a.path().join(".old.erasing").exists(), "round {round}: the erase was finished");
            assert!(std::fs::read_dir(a.path()).unwrap().next().is_none(), "round {round}: nothing is left");
        }
        if new_has {
            assert_eq!(list_json(&dn), before, "round {round}: the new phone has everything");
        } else {
            let left: Vec<_> =
                std::fs::read_dir(&dn).map(|d| d.flatten().map(|e| e.file_name()).collect()).unwrap_or_default();
            assert!(
                left.iter().all(|name| name == "move.waiting" || name == "move.answer"),
                "round {round}: the new phone keeps nothing half-done: {left:?}"
            );
            assert!(fails(&dn, &["list"]).contains("nobody is set up"), "round {round}");
        }
        if old_opens && !new_has {
            broken += 1;
        } else {
            whole += 1;
        }
    }
    // The random points fell both inside the move and after it.
    assert!(broken > 0, "no move was broken off ({whole} ended first)");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            copy_dir(&path, &to.join(entry.file_name()));
        } else {
            std::fs::copy(&path, to.join(entry.file_name())).unwrap();
        }
    }
}

/// Someone who forgot their passcode has no backup they can open: they set Steady up
/// again, under a new identity, and pair again. What the passcode screens say is what
/// happens: what they shared stays readable on the partner's phone, as a past pairing,
/// and does not come back to the new journal, whose shared history starts afresh.
#[test]
fn after_a_forgotten_passcode_what_was_shared_stays_on_the_partners_phone_as_the_screens_say() {
    let (a, a_again, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (da, da_again, db) = (a.path(), a_again.path(), b.path());
    let said =
        crate::common::steady_with(da, &["init", "--name", "Alex"], &[("STEADY_PASSCODE", "forgotten-soon-8812")]);
    assert!(said.status.success());
    let warned = String::from_utf8_lossy(&said.stderr).into_owned();
    assert!(warned.contains("stays readable on your partner's phone, as a past pairing"), "{warned}");
    assert!(warned.contains("does not come back to this one"), "{warned}");
    ok(db, &["init", "--name", "Blair", "--no-passcode"]);
    let env = [("STEADY_PASSCODE", "forgotten-soon-8812")];
    let shared = "SHARED-BEFORE-FORGETTING-90d";
    let id = ok_with(da, &["add", "agreement", shared], &env).trim().to_owned();
    ok_with(da, &["share", &id], &env);
    crate::cli::pair_and_sync_with(da, db, 1, &env);
    assert!(list_json(db).iter().any(|e| e["text"] == shared));

    // The passcode is forgotten: Steady is set up again, and Blair, who unpairs the old
    // phone, pairs with it again.
    ok(db, &["unpair"]);
    ok(da_again, &["init", "--name", "Alex", "--no-passcode"]);
    let fresh = ok(da_again, &["add", "checkin", "AFTER-STARTING-OVER-3a1"]).trim().to_owned();
    ok(da_again, &["share", &fresh]);
    pair_and_sync(da_again, db, 0);
    sync_until(da_again, &[], db, "the new pairing syncs", || {
        list_json(db).iter().any(|e| e["text"] == "AFTER-STARTING-OVER-3a1")
    });
    assert!(!list_json(da_again).iter().any(|e| e["text"] == shared), "it does not come back");
    assert!(!list_json(db).iter().any(|e| e["text"] == shared), "the new shared history starts afresh");
    // On Blair's phone it is a past pairing, readable there.
    let past = status_json(db)["past_pairings"].clone();
    assert_eq!(past.as_array().map(Vec::len), Some(1), "{past}");
    let store = steady::store::Store::open_dir_without_passcode(db).unwrap();
    let id = past[0]["id"].as_i64().unwrap();
    let kept: Vec<String> = store.past_entries(id).unwrap().iter().map(|e| e.body.main_text().to_owned()).collect();
    assert!(kept.iter().any(|t| t == shared), "{kept:?}");
}

/// A clone: A's folder copied before the move, started after it. Once Blair's phone has
/// the handover from the new phone, it refuses the copy and says why, whether the copy
/// only listens or writes as the old phone; the copy gets nothing written since; and the
/// new phone syncs on.
#[test]
fn a_copy_of_the_old_phone_made_before_the_move_is_refused_and_told_why() {
    let (a, b, c, n) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let (da, db, dn) = (a.path().join("old-phone"), b.path(), n.path().join("new-phone"));
    let copy = c.path().join("copy-of-the-old-phone");
    ok(&da, &["init", "--name", "Alex", "--no-passcode"]);
    ok(db, &["init", "--name", "Blair", "--no-passcode"]);
    let first = ok(db, &["add", "agreement", "BEFORE-THE-MOVE-5c2"]).trim().to_owned();
    ok(db, &["share", &first]);
    pair_and_sync(&da, db, 1);
    copy_dir(&da, &copy);

    let moved = move_phone(&da, &dn, &[], &["--no-passcode"], [true, true]);
    assert!(moved.old.0 && moved.new.0, "{:#?}", (&moved.old, &moved.new));
    let from_a2 = "FROM-THE-NEW-PHONE-AFTER-THE-COPY-1b7";
    let id = ok(&dn, &["add", "checkin", from_a2]).trim().to_owned();
    ok(&dn, &["share", &id]);
    sync_until(&dn, &[], db, "B has the new phone's handover and share", || {
        list_json(db).iter().any(|e| e["text"] == from_a2)
    });
    // Written on B after the move: the copy must never get it.
    let after = "AFTER-THE-MOVE-FROM-BLAIR-8d4";
    let id_b = ok(db, &["add", "transparency", after]).trim().to_owned();
    ok(db, &["share", &id_b]);

    let refused = |copy_writes: bool| {
        let mut sync_b =
            Running::start(db, &["sync", "--json", "--no-discovery", "--listen", "127.0.0.1:0", "--for", "30"]);
        let listening: Value =
            serde_json::from_str(&sync_b.wait_for(r#""event":"listening""#, Duration::from_secs(10))).unwrap();
        let address = listening["address"].as_str().unwrap().to_owned();
        let _copy = Running::start(&copy, &["sync", "--json", "--no-discovery", "--dial", &address, "--for", "30"]);
        let line = sync_b.wait_for(r#""event":"refused""#, Duration::from_secs(20));
        assert!(line.contains("a copy of your partner's phone from before they moved"), "{copy_writes}: {line}");
        assert!(!sync_b.seen().iter().any(|l| l.contains(r#""event":"synced""#)), "{:#?}", sync_b.seen());
    };
    // The copy only listens: its document lacks the handover.
    refused(false);
    // The copy writes as the old phone: its change is refused.
    let from_copy = "WRITTEN-ON-THE-COPY-4e9";
    let id_c = ok(&copy, &["add", "checkin", from_copy]).trim().to_owned();
    ok(&copy, &["share", &id_c]);
    refused(true);
    assert!(!list_json(db).iter().any(|e| e["text"] == from_copy), "nothing of the copy's reached B");
    assert!(!list_json(&copy).iter().any(|e| e["text"] == after), "the copy got nothing written since the move");
    assert!(!list_json(&copy).iter().any(|e| e["text"] == from_a2));
    // The new phone syncs on.
    let later = "LATER-FROM-THE-NEW-PHONE-2f0";
    let id = ok(&dn, &["add", "checkin", later]).trim().to_owned();
    ok(&dn, &["share", &id]);
    sync_until(&dn, &[], db, "B and the new phone sync on", || {
        list_json(db).iter().any(|e| e["text"] == later) && list_json(&dn).iter().any(|e| e["text"] == after)
    });
}

/// The move in the window, two windows on one computer as two phones: the old phone's Us ›
/// Move to a new phone shows a code; the new phone's first run takes "I have Steady on
/// another phone", the code, and no passcode; both show the same words and both people
/// say they match. The new window opens on the same journal, private entries included,
/// and the old one says its copy is erased, which it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_moves_between_two_windows() {
    use crate::harness::Screen;
    let (a, n) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (da, dn) = (a.path().join("old-phone"), n.path().join("new-phone"));
    ok(&da, &["init", "--name", "Alex", "--no-passcode"]);
    let private = "MOVED-BETWEEN-WINDOWS-PRIVATE-6a1";
    ok(&da, &["add", "checkin", private]);
    let before = list_json(&da);
    let window = window_on;
    let mut old = window(&da);
    old.tap("data-tab", "us");
    let html = old.html();
    assert!(html.contains("Move to a new phone") && html.contains("this phone erases its copy"), "{html}");
    old.tap("data-action", "move-out");
    let wait = std::time::Duration::from_secs(20);
    assert!(old.wait_until(wait, |h| h.contains("data-move-code")).await, "{}", old.html());
    let html = old.html();
    let code = html.split("data-move-code=\"").nth(1).and_then(|r| r.split('"').next()).unwrap().to_owned();
    assert!(code.starts_with("steady-move:"), "{code}");
    assert!(html.contains("The code as a QR code"), "{html}");

    let mut new = window(&dn);
    assert!(new.html().contains("I have Steady on another phone"));
    new.tap("data-set-up", "other-phone");
    new.tap("data-move", "passcode-choice");
    new.type_into("name", "move-code", &code);
    new.submit("data-form", "move-in");
    assert!(new.wait_until(wait, |h| h.contains("data-move-words")).await, "{}", new.html());
    assert!(old.wait_until(wait, |h| h.contains("data-move-words")).await, "{}", old.html());
    let words = |s: &Screen| s.attribute("class", "safety-words", "data-move-words").unwrap();
    assert_eq!(words(&old), words(&new), "both windows show the same words");
    assert!(old.html().contains("erases its copy"));
    old.tap("data-move", "confirm");
    new.tap("data-move", "confirm");
    let moved = |h: &str| h.contains("data-tab");
    for _ in 0..40 {
        if new.wait_until(std::time::Duration::from_millis(250), moved).await
            && old.wait_until(std::time::Duration::from_millis(250), |h| h.contains("data-moved-away")).await
        {
            break;
        }
    }
    assert!(old.html().contains("copy is erased"), "{}", old.html());
    assert!(new.html().contains(private), "the new window opens on the journal: {}", new.html());
    assert!(!da.exists(), "the old phone's folder is gone");
    drop((old, new));
    assert_eq!(list_json(&dn), before, "everything arrived, private entries included");
}

/// The first run's "Restore from a backup": an encrypted export kept earlier comes back
/// into a new phone's window. A wrong passphrase is said and writes nothing; the right one
/// brings every entry back, and the window opens on them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_is_restored_from_the_first_run_of_a_new_phone() {
    let (a, n) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (da, dn) = (a.path(), n.path().join("new-phone"));
    ok(da, &["init", "--name", "Alex", "--no-passcode"]);
    let kept = "KEPT-IN-A-BACKUP-2e5";
    ok(da, &["add", "checkin", kept]);
    ok(da, &["add", "safety-helps", "HELPS-FROM-THE-BACKUP-77c"]);
    let file = a.path().join("backup.json.age");
    let passphrase = ("STEADY_EXPORT_PASSPHRASE", "a long backup passphrase");
    ok_with(da, &["export", "--format", "json", "--out", file.to_str().unwrap()], &[passphrase]);
    assert!(std::fs::read(&file).unwrap().starts_with(b"age-encryption.org/v1"));
    let before = list_json(da);

    let mut window = window_on(&dn);
    window.tap("data-set-up", "restore");
    assert!(window.html().contains("comes back private, marked as shared before"));
    window.tap("data-restore", "passcode-choice");
    window.type_into("name", "backup-path", file.to_str().unwrap());
    window.type_into("name", "backup-passphrase", "not the passphrase");
    window.submit("data-form", "restore");
    assert!(window.html().contains("that passphrase does not open this export"), "{}", window.html());
    assert!(!dn.join("steady.key").exists() && !dn.join("steady.sqlite3").exists(), "nothing was written");

    window.type_into("name", "backup-passphrase", passphrase.1);
    window.submit("data-form", "restore");
    assert!(
        window.wait_until(std::time::Duration::from_secs(10), |h| h.contains("data-screen=\"today\"")).await,
        "{}",
        window.html()
    );
    assert!(window.html().contains(kept), "the window opens on the restored journal");
    drop(window);
    assert_eq!(list_json(&dn), before, "every entry came back");
}

/// Pairs `joiner` (restored from a backup, with `--continue`) with `inviter` on loopback,
/// and says what each command printed and whether it succeeded.
/// A refused try leaves the invite open: the inviting command is then stopped.
fn pair_continuing(inviter: &Path, joiner: &Path) -> ((bool, Vec<String>), (bool, Vec<String>)) {
    let mut invite = Running::start(inviter, &["pair", "invite", "--no-discovery", "--listen", "127.0.0.1:0"]);
    let link = invite.wait_for("link: ", Duration::from_secs(10)).trim_start_matches("link: ").to_owned();
    let said = crate::common::steady(joiner, &["pair", "join", &link, "--continue", "--no-discovery"]);
    let text = [said.stdout, said.stderr].map(|b| String::from_utf8_lossy(&b).into_owned()).join("\n");
    let joined = (said.status.success(), text.lines().map(str::to_owned).collect::<Vec<_>>());
    if joined.0 {
        return (invite.finish(), joined);
    }
    invite.wait_for("A try failed", Duration::from_secs(10));
    ((false, invite.seen().to_vec()), joined)
}

/// The shared document a phone holds, read by Automerge itself.
fn shared_document(dir: &Path, env: &[(&str, &str)]) -> automerge::Automerge {
    let file = dir.join("shared.automerge");
    ok_with(dir, &["export", "--format", "automerge", "--out", file.to_str().unwrap()], env);
    automerge::Automerge::load(&std::fs::read(&file).unwrap()).expect("a document Automerge reads")
}

/// The restore of the issue: Alex's phone is lost; a new one is restored from its
/// encrypted export, and pairs with Blair with `pair join --continue`. It holds the same
/// shared document, history and all, with each entry as it was (shared, waiting, or
/// private); Blair's phone has nothing twice, and says once that Alex restored Steady from
/// a backup. A phone that holds no history with Alex refuses to continue, and nothing
/// changes on either phone.
#[test]
fn a_phone_restored_from_a_backup_continues_the_couples_document_with_pair_join_continue() {
    let dirs: Vec<tempfile::TempDir> = (0..5).map(|_| tempfile::tempdir().unwrap()).collect();
    let (da, da2, db, dc, files) = (dirs[0].path(), dirs[1].path(), dirs[2].path(), dirs[3].path(), dirs[4].path());
    let env_a = [("STEADY_PASSCODE", "the-old-phone-passcode-5512")];
    ok_with(da, &["init", "--name", "Alex"], &env_a);
    ok(db, &["init", "--name", "Blair", "--no-passcode"]);
    let agreement = ok_with(da, &["add", "agreement", "RESTORE-ALEX-SHARED-71c"], &env_a).trim().to_owned();
    ok_with(da, &["share", &agreement], &env_a);
    ok_with(da, &["add", "safety-helps", "RESTORE-ALEX-PRIVATE-71c"], &env_a);
    let hers = ok(db, &["add", "checkin", "RESTORE-BLAIR-SHARED-71c"]).trim().to_owned();
    ok(db, &["share", &hers]);
    crate::cli::pair_and_sync_with(da, db, 3, &env_a);
    // Blair checks in on Alex's agreement: history made by Blair's phone on Alex's entry.
    ok(db, &["checkin-agreement", &agreement, "kept", "--note", "RESTORE-BLAIR-NOTE-71c"]);
    sync_until(da, &env_a, db, "the check-in reaches Alex", || {
        ok_with(da, &["list", "--json"], &env_a).contains("RESTORE-BLAIR-NOTE-71c")
            && list_json(db).iter().any(|e| e["id"] == agreement.as_str())
    });
    // One more share, made while apart: it waits when the backup is made.
    let waiting = ok_with(da, &["add", "checkin", "RESTORE-ALEX-WAITING-71c"], &env_a).trim().to_owned();
    ok_with(da, &["share", &waiting], &env_a);
    let pass = [("STEADY_EXPORT_PASSPHRASE", "a passphrase for the backup 30e"), env_a[0]];
    let backup = files.join("backup.json");
    ok_with(da, &["export", "--format", "json", "--out", backup.to_str().unwrap()], &pass);
    let backup = files.join("backup.json.age");
    let on_a = listed(da, &env_a);
    assert_eq!(on_a.iter().filter(|e| e["waiting"] == true).count(), 1, "{on_a:#?}");
    let on_b = list_json(db);
    let history = shared_document(db, &[]);
    assert!(history.get_changes(&[]).len() > 3, "the couple's document has a history");

    // Alex's phone is lost. The new one is restored from the backup.
    ok_with(da2, &["import", backup.to_str().unwrap(), "--no-passcode"], &pass);

    // A phone with no history with Alex refuses to continue, and neither phone pairs.
    ok(dc, &["init", "--name", "Casey", "--no-passcode"]);
    let ((_, invited), (joined, said)) = pair_continuing(dc, da2);
    assert!(!joined, "{said:#?}");
    let said = said.join("\n");
    assert!(said.contains("holds no shared history with you to continue"), "{said}");
    assert!(invited.iter().any(|l| l.contains("holds no shared history")), "{invited:#?}");
    assert!(!invited.iter().any(|l| l.starts_with("paired with")), "{invited:#?}");
    assert_eq!(status_json(dc)["pairing"], "none");
    assert_eq!(status_json(da2)["pairing"], "none");

    // Blair forgets the lost phone and invites; the restored phone continues.
    ok(db, &["unpair"]);
    let ((invited_ok, invited), (joined, said)) = pair_continuing(db, da2);
    assert!(invited_ok && joined, "{invited:#?} {said:#?}");
    assert!(said.iter().any(|l| l.contains("continues your shared history")), "{said:#?}");
    assert!(invited.iter().any(|l| l.contains("Alex restored Steady from a backup")), "{invited:#?}");
    ok(da2, &["pair", "confirm"]);
    ok(db, &["pair", "confirm"]);
    sync_until(da2, &[], db, "the couple's document comes back", || {
        let mine = list_json(da2);
        let back = mine.iter().any(|e| e["id"] == agreement.as_str() && e["shared"] == true);
        back && list_json(db).iter().any(|e| e["id"] == waiting.as_str())
    });

    // The restored phone lists what the lost one did, each entry as it was, once.
    let on_a2 = list_json(da2);
    let key = |e: &Value| (e["id"].as_str().unwrap().to_owned(), e["text"].clone(), e["shared"].clone());
    let mut was: Vec<_> = on_a.iter().map(key).collect();
    let mut now: Vec<_> = on_a2.iter().map(key).collect();
    was.sort_by(|a, b| a.0.cmp(&b.0));
    now.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(now, was, "{on_a2:#?}");
    assert!(on_a2.iter().all(|e| e["waiting"] == false), "the waiting share left: {on_a2:#?}");
    let private = on_a2.iter().find(|e| e["text"] == "RESTORE-ALEX-PRIVATE-71c").unwrap();
    assert_eq!((private["shared"].clone(), private["shared_before"].clone()), (false.into(), false.into()));
    assert!(ok(da2, &["list", "--json"]).contains("RESTORE-BLAIR-NOTE-71c"), "Blair's check-in came back");

    // Blair's phone holds each entry once: what it had, and the share that waited.
    let now_b = list_json(db);
    let mut ids: Vec<&str> = now_b.iter().map(|e| e["id"].as_str().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), now_b.len(), "nothing twice: {now_b:#?}");
    assert_eq!(now_b.len(), on_b.len() + 1, "{now_b:#?}");
    assert!(now_b.iter().all(|e| e["shared_before"] != true), "nothing came back as a copy: {now_b:#?}");

    // The same document: every change of its history, and the two phones agree on it.
    let on_b_doc = shared_document(db, &[]);
    let on_a2_doc = shared_document(da2, &[]);
    for change in history.get_changes(&[]) {
        assert!(on_b_doc.get_change_by_hash(&change.hash()).is_some(), "Blair's phone kept its history");
        assert!(on_a2_doc.get_change_by_hash(&change.hash()).is_some(), "the restored phone holds the history");
    }
    assert_eq!(on_a2_doc.get_heads(), on_b_doc.get_heads(), "one document on both phones");
    // The private entry stayed on the restored phone: not in the document either holds.
    for doc in [&on_b_doc, &on_a2_doc] {
        let bytes = doc.clone().save_nocompress();
        let holds = |text: &str| bytes.windows(text.len()).any(|w| w == text.as_bytes());
        assert!(holds("RESTORE-ALEX-SHARED-71c"), "the search finds what is shared");
        assert!(!holds("RESTORE-ALEX-PRIVATE-71c"), "a private entry in the shared document");
    }
    let past_b = status_json(db)["past_pairings"].clone();
    assert_eq!(past_b.as_array().map(Vec::len), Some(0), "the pairing continued, not set apart: {past_b}");
    let past_a2 = status_json(da2)["past_pairings"].clone();
    assert_eq!(past_a2.as_array().map(Vec::len), Some(0), "nothing kept twice: {past_a2}");

    // Blair's phone says once that Alex restored from a backup.
    let partner = status_json(db)["partner"].clone();
    assert!(partner["moved_at"].is_string() && partner["restored"] == true, "{partner}");
    assert!(ok(db, &["status"]).contains("Alex restored Steady from a backup on"));
    the_window_says_it_once(db, "Alex restored Steady from a backup on");

    // Both ways, from here on.
    let new_a = ok(da2, &["add", "checkin", "RESTORE-AFTER-FROM-ALEX-71c"]).trim().to_owned();
    ok(da2, &["share", &new_a]);
    let new_b = ok(db, &["add", "checkin", "RESTORE-AFTER-FROM-BLAIR-71c"]).trim().to_owned();
    ok(db, &["share", &new_b]);
    sync_until(da2, &[], db, "new shares go both ways", || {
        list_json(db).iter().any(|e| e["id"] == new_a.as_str())
            && list_json(da2).iter().any(|e| e["id"] == new_b.as_str())
    });
}

/// The same choice in the window: a phone restored from a backup joins with "continue our
/// shared history" ticked, and the partner's phone continues the couple's document.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_window_joins_continuing_the_couples_document() {
    let dirs: Vec<tempfile::TempDir> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let (da, da2, db, files) = (dirs[0].path(), dirs[1].path(), dirs[2].path(), dirs[3].path());
    ok(da, &["init", "--name", "Alex", "--no-passcode"]);
    ok(db, &["init", "--name", "Blair", "--no-passcode"]);
    let shared = ok(da, &["add", "agreement", "WINDOW-CONTINUES-ALEX-4e2"]).trim().to_owned();
    ok(da, &["share", &shared]);
    pair_and_sync(da, db, 0);
    sync_until(da, &[], db, "the share reaches Blair", || list_json(db).iter().any(|e| e["id"] == shared.as_str()));
    let pass = [("STEADY_EXPORT_PASSPHRASE", "a passphrase for the window's backup")];
    let backup = files.join("backup.json");
    ok_with(da, &["export", "--format", "json", "--out", backup.to_str().unwrap()], &pass);
    ok_with(da2, &["import", files.join("backup.json.age").to_str().unwrap(), "--no-passcode"], &pass);
    ok(db, &["unpair"]);

    let mut invite = Running::start(db, &["pair", "invite", "--no-discovery", "--listen", "127.0.0.1:0"]);
    let link = invite.wait_for("link: ", Duration::from_secs(10)).trim_start_matches("link: ").to_owned();
    let mut window = window_on(da2);
    window.tap("data-tab", "us");
    assert!(window.html().contains("continue our shared history"));
    window.type_into("data-join-continue", "false", "true");
    assert!(window.html().contains("Your partner unpairs your old phone, then invites."), "{}", window.html());
    window.type_into("name", "code", &link);
    window.submit("data-form", "join");
    let wait = Duration::from_secs(20);
    assert!(window.wait_until(wait, |h| h.contains("data-safety-words")).await, "{}", window.html());
    let (invited, said) = invite.finish();
    assert!(invited && said.iter().any(|l| l.contains("Alex restored Steady from a backup")), "{said:#?}");
    window.tap("data-action", "words-match");
    assert!(window.wait_until(wait, |h| !h.contains("data-safety-words")).await, "{}", window.html());
    drop(window);
    ok(db, &["pair", "confirm"]);
    sync_until(da2, &[], db, "the couple's document comes back", || {
        list_json(da2).iter().any(|e| e["id"] == shared.as_str() && e["shared"] == true)
    });
    assert_eq!(list_json(da2).len(), 1, "the entry once: {:#?}", list_json(da2));
    assert_eq!(status_json(db)["past_pairings"].as_array().map(Vec::len), Some(0));
}
