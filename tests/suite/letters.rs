//! Delivery while the two phones are apart, on the command line: a share sealed in a
//! letter, carried by the partner phone's courier while its journal stays locked, and
//! read at the next unlock.

use std::time::Duration;

use serde_json::Value;

use crate::cli::{Running, pair_and_sync};
use crate::common::{list_json, ok};

fn files_under(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push((path.clone(), std::fs::read(&path).unwrap_or_default()));
            }
        }
    }
    out
}

fn holding(dir: &std::path::Path, text: &str) -> Vec<std::path::PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|(_, bytes)| memchr::memmem::find(bytes, text.as_bytes()).is_some())
        .map(|(p, _)| p)
        .collect()
}

/// The letters of the journal made here that have not left: files in `out` (the notes of
/// the couple's relays, for the partner's phone, have a folder of their own there).
fn waiting(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join("letters").join("out"))
        .map(|d| d.flatten().filter(|f| f.path().is_file()).count())
        .unwrap_or(0)
}

fn letters_in(dir: &std::path::Path, sub: &str) -> usize {
    std::fs::read_dir(dir.join("letters").join(sub)).map(|d| d.count()).unwrap_or(0)
}

/// Tests 1 and 3 of delivery while apart. Alex shares and locks: only the courier runs.
/// Blair shares one entry, shares another and takes it back at once, then syncs while
/// only Alex's courier is up, and stops. Blair's phone gets Alex's letter and shows it
/// at once; the courier keeps Blair's letter sealed (its text in no file of Alex's).
/// Later, with Blair's phone and the courier both gone, Alex opens the journal and reads
/// Blair's entry, once, and nothing of the one taken back; Blair's card says it left.
#[test]
fn a_share_reaches_a_locked_phone_through_its_courier_and_is_read_at_the_next_unlock() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (da, db) = (a.path(), b.path());
    ok(da, &["init", "--name", "Alex", "--no-passcode"]);
    ok(db, &["init", "--name", "Blair", "--no-passcode"]);
    let first = ok(db, &["add", "agreement", "FIRST-TOGETHER-1a0"]).trim().to_owned();
    ok(db, &["share", &first]);
    pair_and_sync(da, db, 1);
    // Both phones now know where the other was.
    ok(da, &["status"]);

    let from_alex = "FROM-ALEX-BEFORE-LOCK-0c4";
    let alex_id = ok(da, &["add", "checkin", from_alex]).trim().to_owned();
    ok(da, &["share", &alex_id]);
    let mut courier = Running::start(da, &["courier", "--json", "--no-discovery", "--for", "60"]);
    courier.wait_for(r#""event":"listening""#, Duration::from_secs(10));

    let text = "LETTER-WHILE-APART-5e2";
    let id = ok(db, &["add", "transparency", text]).trim().to_owned();
    ok(db, &["share", &id]);
    assert_eq!(holding(&db.join("letters"), text), Vec::<std::path::PathBuf>::new(), "the letter is sealed");
    let undone = "TAKEN-BACK-IN-TIME-77d";
    let undone_id = ok(db, &["add", "reflection", undone]).trim().to_owned();
    ok(db, &["share", &undone_id]);
    assert!(ok(db, &["unshare", &undone_id]).contains("not sent yet"));
    assert_eq!(letters_in(db, "out"), 1, "one letter waits, for the share still made");

    let mut sync_b = Running::start(db, &["sync", "--json", "--no-discovery", "--for", "40"]);
    let sent: Value =
        serde_json::from_str(&sync_b.saw_or_wait_for(r#""event":"letter_sent""#, Duration::from_secs(30))).unwrap();
    let got: Value =
        serde_json::from_str(&courier.saw_or_wait_for(r#""event":"letter_received""#, Duration::from_secs(5))).unwrap();
    assert_eq!(sent["bytes"], got["bytes"]);
    // Alex's letter reached Blair's open phone, which took it in at once.
    sync_b.saw_or_wait_for(r#""event":"letter_received""#, Duration::from_secs(10));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !list_json(db).iter().any(|e| e["text"] == from_alex) {
        assert!(std::time::Instant::now() < deadline, "Alex's letter was not opened on Blair's phone");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Blair's phone carried letters to and from Alex's courier, and said nothing of
    // Alex's phone being near: no "connected", no "synced".
    std::thread::sleep(Duration::from_millis(500));
    let said = sync_b.seen().to_vec();
    assert!(said.iter().any(|l| l.contains(r#""event":"letter_sent""#)), "{said:#?}");
    assert!(
        !said.iter().any(|l| l.contains(r#""event":"connected""#) || l.contains(r#""event":"synced""#)),
        "{said:#?}"
    );
    drop(sync_b);
    drop(courier);

    // Alex's phone holds it sealed: the text is in none of its files.
    assert_eq!(letters_in(da, "in"), 1);
    assert!(holding(da, text).is_empty(), "sealed at rest: {:?}", holding(da, text));
    // Blair's card: it left this phone.
    let blair = list_json(db);
    let mine = blair.iter().find(|e| e["id"] == id).expect("listed");
    assert_eq!((mine["shared"].as_bool(), mine["waiting"].as_bool()), (Some(true), Some(false)), "{mine}");

    // Alex unlocks (any command that opens the journal) and reads it, once.
    let alex = list_json(da);
    let theirs: Vec<&Value> = alex.iter().filter(|e| e["text"] == text).collect();
    assert_eq!(theirs.len(), 1, "{alex:#?}");
    assert_eq!(theirs[0]["author"], "Blair");
    assert_eq!(letters_in(da, "in"), 0, "opened and gone");
    assert_eq!(list_json(da).iter().filter(|e| e["text"] == text).count(), 1);
    assert!(!list_json(da).iter().any(|e| e["text"] == undone), "the share taken back never left");
    assert!(holding(da, undone).is_empty(), "nothing of it on Alex's phone");
    // Alex's own card: the letter left, so it is shared, not waiting.
    let alex = list_json(da);
    let card = alex.iter().find(|e| e["id"] == alex_id).unwrap();
    assert_eq!((card["shared"].as_bool(), card["waiting"].as_bool()), (Some(true), Some(false)), "{card}");
}

/// Test 5 of delivery while apart: a courier running for a journal locked with a
/// passcode holds none of the journal's text in its memory (a `gcore` dump of the whole
/// process), nor the text of the letter it carries; the same dump of the unlocked app
/// (`steady sync`) finds the journal's text, so the search can't pass by reading nothing.
#[cfg(target_os = "linux")]
#[test]
fn a_locked_courier_holds_nothing_of_the_journal_in_its_memory() {
    let (a, b, dumps) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (da, db) = (a.path(), b.path());
    let passcode = [("STEADY_PASSCODE", "Courier-test-passcode-41")];
    crate::common::ok_with(da, &["init", "--name", "Alex"], &passcode);
    ok(db, &["init", "--name", "Blair", "--no-passcode"]);
    let journal_text = "ALEX-JOURNAL-TEXT-IN-MEMORY-9b3";
    let id = crate::common::ok_with(da, &["add", "agreement", journal_text], &passcode).trim().to_owned();
    crate::common::ok_with(da, &["share", &id], &passcode);
    crate::cli::pair_and_sync_with(da, db, 1, &passcode);
    let letter_text = "BLAIR-LETTER-TEXT-IN-MEMORY-2f8";
    let theirs = ok(db, &["add", "transparency", letter_text]).trim().to_owned();
    ok(db, &["share", &theirs]);

    let mut courier = Running::start(da, &["courier", "--json", "--no-discovery", "--for", "60"]);
    courier.wait_for(r#""event":"listening""#, Duration::from_secs(10));
    let mut sync_b = Running::start(db, &["sync", "--json", "--no-discovery", "--for", "40"]);
    courier.saw_or_wait_for(r#""event":"letter_received""#, Duration::from_secs(30));
    drop(sync_b.saw_or_wait_for(r#""event":"letter_sent""#, Duration::from_secs(5)));
    drop(sync_b);
    let core = dump(courier.pid(), &dumps.path().join("courier"));
    let data_dir = da.to_string_lossy().into_owned();
    assert!(has(&core, &data_dir), "the dump holds the courier's own memory");
    assert!(!has(&core, journal_text), "no journal text in a locked courier");
    assert!(!has(&core, letter_text), "nor the letter's");
    drop(courier);

    let mut app = Running::start_with(da, &["sync", "--json", "--no-discovery", "--for", "60"], &passcode);
    app.wait_for(r#""event":"listening""#, Duration::from_secs(20));
    let core = dump(app.pid(), &dumps.path().join("app"));
    assert!(has(&core, journal_text), "the same dump of the unlocked app finds the journal's text");
    assert!(has(&core, letter_text), "and the letter, opened");
}

fn has(bytes: &[u8], text: &str) -> bool {
    memchr::memmem::find(bytes, text.as_bytes()).is_some()
}

/// The whole memory of process `pid`, as `gcore` writes it.
#[cfg(target_os = "linux")]
fn dump(pid: u32, prefix: &std::path::Path) -> Vec<u8> {
    let out = std::process::Command::new("gcore")
        .arg("-o")
        .arg(prefix)
        .arg(pid.to_string())
        .output()
        .expect("gcore runs (scripts/setup.sh installs gdb)");
    assert!(out.status.success(), "gcore: {}", String::from_utf8_lossy(&out.stderr));
    std::fs::read(format!("{}.{pid}", prefix.display())).expect("the dump")
}

/// Waits until `check` holds, or fails saying `what`.
fn eventually(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !check() {
        assert!(std::time::Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Test 2 of delivery while apart: phones A and B and a home relay R, on loopback. A adds
/// R with its code; B learns of it at their next exchange. Then each shares while the
/// other is away and only R is up, and the other, started later with only R up, lists
/// the entry. R's files hold none of the texts; a stranger's phone gets nothing from R;
/// and when A unpairs, R holds nothing of the couple.
#[test]
fn a_home_relay_carries_letters_both_ways_and_holds_nothing_readable() {
    let (a, b, r) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (da, db, dr) = (a.path(), b.path(), r.path());
    ok(da, &["init", "--name", "Alex", "--no-passcode"]);
    ok(db, &["init", "--name", "Blair", "--no-passcode"]);
    let first = ok(db, &["add", "agreement", "FIRST-TOGETHER-2b1"]).trim().to_owned();
    ok(db, &["share", &first]);
    pair_and_sync(da, db, 1);

    let mut relay =
        Running::start(dr, &["relay", "serve", "--invite", "--json", "--listen", "127.0.0.1:0", "--for", "120"]);
    let code = relay.wait_for("code: ", Duration::from_secs(10)).trim_start_matches("code: ").to_owned();
    let said = ok(da, &["relay", "add", &code]);
    assert!(said.contains("Added the home relay"), "{said}");
    let relays = crate::cli::status_json(da)["relays"].clone();
    assert_eq!(relays[0]["added_by"], "me", "{relays}");
    let relay_id = relays[0]["id"].as_str().unwrap().to_owned();
    // A code is good once.
    assert!(crate::common::fails(db, &["relay", "add", &code]).contains("refused"));

    // Together once more: B learns of the relay.
    {
        let mut sync_a = Running::start(da, &["sync", "--json", "--no-discovery", "--listen", "127.0.0.1:0"]);
        let listening: Value =
            serde_json::from_str(&sync_a.wait_for(r#""event":"listening""#, Duration::from_secs(10))).unwrap();
        let address = listening["address"].as_str().unwrap().to_owned();
        let _sync_b = Running::start(db, &["sync", "--json", "--no-discovery", "--dial", &address]);
        eventually("B learns of the relay", Duration::from_secs(20), || {
            crate::cli::status_json(db)["relays"].as_array().is_some_and(|r| r.len() == 1)
        });
    }
    let theirs = crate::cli::status_json(db)["relays"].clone();
    assert_eq!((theirs[0]["id"].as_str(), theirs[0]["added_by"].as_str()), (Some(relay_id.as_str()), Some("partner")));

    // A shares while B is away: only R is up.
    let from_a = "VIA-RELAY-FROM-ALEX-61a";
    let id_a = ok(da, &["add", "transparency", from_a]).trim().to_owned();
    ok(da, &["share", &id_a]);
    let undone = "VIA-RELAY-TAKEN-BACK-0f3";
    let undone_id = ok(da, &["add", "transparency", undone]).trim().to_owned();
    ok(da, &["share", &undone_id]);
    ok(da, &["unshare", &undone_id]);
    {
        let mut sync_a = Running::start(da, &["sync", "--json", "--no-discovery", "--for", "30"]);
        sync_a.saw_or_wait_for(r#""event":"letter_sent""#, Duration::from_secs(20));
        relay.saw_or_wait_for(r#""event":"letter_stored""#, Duration::from_secs(5));
    }
    // B starts later, with only R up, and lists A's entry.
    {
        let _sync_b = Running::start(db, &["sync", "--json", "--no-discovery", "--for", "30"]);
        eventually("B lists A's entry from the relay", Duration::from_secs(20), || {
            list_json(db).iter().any(|e| e["text"] == from_a)
        });
    }
    relay.saw_or_wait_for(r#""event":"letter_fetched""#, Duration::from_secs(5));
    // And the other way.
    let from_b = "VIA-RELAY-FROM-BLAIR-93c";
    let id_b = ok(db, &["add", "checkin", from_b]).trim().to_owned();
    ok(db, &["share", &id_b]);
    {
        let mut sync_b = Running::start(db, &["sync", "--json", "--no-discovery", "--for", "30"]);
        sync_b.saw_or_wait_for(r#""event":"letter_sent""#, Duration::from_secs(20));
    }
    {
        let _sync_a = Running::start(da, &["sync", "--json", "--no-discovery", "--for", "30"]);
        eventually("A lists B's entry from the relay", Duration::from_secs(20), || {
            list_json(da).iter().any(|e| e["text"] == from_b)
        });
    }
    assert!(!list_json(db).iter().any(|e| e["text"] == undone), "the share taken back never left");
    // Each text is where it should be, and in none of R's files.
    for text in [from_a, from_b] {
        assert!(list_json(da).iter().any(|e| e["text"] == text) && list_json(db).iter().any(|e| e["text"] == text));
        assert!(holding(dr, text).is_empty(), "{text} in the relay's files: {:?}", holding(dr, text));
    }
    assert!(holding(dr, undone).is_empty() && holding(db, undone).is_empty());

    // A stranger's phone, of another couple, gets nothing from R.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let stranger = steady::net::daily::DailySecret::from_bytes([42; 32]);
    let entry: steady::net::relay::RelayEntry =
        serde_json::from_value(crate::cli::status_json(da)["relays"][0].clone()).unwrap_or_else(|_| {
            let view = &crate::cli::status_json(da)["relays"][0];
            steady::net::relay::RelayEntry {
                id: view["id"].as_str().unwrap().to_owned(),
                addresses: view["addresses"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a.as_str().unwrap().to_owned())
                    .collect(),
                added_by: "me".into(),
                added_at: chrono::Utc::now(),
            }
        });
    let c_dir = tempfile::tempdir().unwrap();
    let c_mailbox = steady::store::Mailbox::in_dir(c_dir.path());
    let (events, _) = tokio::sync::broadcast::channel(8);
    let stranger = steady::net::relay::relay_key(&stranger, steady::net::pairing::Role::Inviter).unwrap();
    let tried = runtime.block_on(steady::net::relay::exchange(&stranger, &entry, &c_mailbox, &events));
    let refused = tried.expect_err("a stranger is refused").to_string();
    assert!(refused.contains("does not serve this phone"), "{refused}");
    assert_eq!(letters_in(c_dir.path(), "in"), 0);

    // A unpairs: R holds nothing of the couple, without waiting for B.
    let said = ok(da, &["unpair"]);
    assert!(said.contains("holds nothing of yours now"), "{said}");
    let couples: Value = serde_json::from_slice(&std::fs::read(dr.join("couples.json")).unwrap()).unwrap();
    assert_eq!(couples["couples"], serde_json::json!([]), "the relay serves the couple no more");
    let held: usize = std::fs::read_dir(dr.join("letters"))
        .map(|d| d.flatten().map(|f| std::fs::read_dir(f.path()).map(|x| x.count()).unwrap_or(0)).sum())
        .unwrap_or(0);
    assert_eq!(held, 0, "no letters of the couple left on the relay");
    drop(relay);
}

/// The time a phone has as Steady leaves the screen (iOS's `beginBackgroundTask`), on the
/// command line: `courier --until-sent` holds on while a letter waits, even past its undo
/// window, when nobody is there to take it; leaves it with the home relay once there is
/// one, and stops as soon as it has left; and with nothing waiting it stops at once.
#[test]
fn a_courier_run_until_sent_stops_once_every_letter_has_left() {
    let (a, b, r) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (da, db, dr) = (a.path(), b.path(), r.path());
    ok(da, &["init", "--name", "Alex", "--no-passcode"]);
    ok(db, &["init", "--name", "Blair", "--no-passcode"]);
    // A first sync, so that each phone knows the other confirmed the words: letters go
    // only to a partner who did.
    let first = ok(db, &["add", "agreement", "FIRST-TOGETHER-3c7"]).trim().to_owned();
    ok(db, &["share", &first]);
    pair_and_sync(da, db, 1);

    let text = "LEAVING-THE-SCREEN-4d9";
    let id = ok(da, &["add", "transparency", text]).trim().to_owned();
    ok(da, &["share", &id]);
    assert_eq!(waiting(da), 1, "the share made a letter");
    let until_sent = ["courier", "--until-sent", "--json", "--no-discovery", "--listen", "127.0.0.1:0"];

    // Blair's phone is away and there is no relay: the letter stays, and the run says so.
    let (done, said) = Running::start(da, &[&until_sent[..], &["--for", "12"]].concat()).finish();
    assert!(done, "{said:#?}");
    let ended: Value = serde_json::from_str(said.last().expect("it printed")).unwrap();
    assert_eq!((ended["event"].as_str(), ended["reason"].as_str()), (Some("courier_ended"), Some("its time was up")));
    assert!(!said.iter().any(|l| l.contains(r#""event":"letter_sent""#)), "{said:#?}");
    assert_eq!(waiting(da), 1, "the letter still waits");

    // With a home relay, the letter leaves, and the run stops at once after.
    let mut relay =
        Running::start(dr, &["relay", "serve", "--invite", "--json", "--listen", "127.0.0.1:0", "--for", "120"]);
    let code = relay.wait_for("code: ", Duration::from_secs(10)).trim_start_matches("code: ").to_owned();
    ok(da, &["relay", "add", &code]);
    let (done, said) = Running::start(da, &[&until_sent[..], &["--for", "60"]].concat()).finish();
    assert!(done, "{said:#?}");
    let sent = said.iter().position(|l| l.contains(r#""event":"letter_sent""#)).expect("the letter left");
    let ended: Value = serde_json::from_str(said.last().unwrap()).unwrap();
    assert_eq!(ended["reason"], "every letter has left", "{said:#?}");
    assert!(sent < said.len() - 1);
    relay.saw_or_wait_for(r#""event":"letter_stored""#, Duration::from_secs(5));
    assert_eq!(waiting(da), 0);
    assert!(list_json(da).iter().any(|e| e["text"] == text), "the text is readable where it should be");
    assert!(holding(dr, text).is_empty(), "sealed on the relay");

    // Nothing waits now: it stops at once, and sends nothing.
    let (done, said) = Running::start(da, &[&until_sent[..], &["--for", "60"]].concat()).finish();
    assert!(done);
    assert_eq!(said.iter().filter(|l| l.contains(r#""event":"letter_sent""#)).count(), 0, "{said:#?}");
    assert!(said.last().unwrap().contains("every letter has left"), "{said:#?}");
    // The author's card: it left this phone.
    let card = list_json(da).into_iter().find(|e| e["id"] == id).expect("listed");
    assert_eq!((card["shared"].as_bool(), card["waiting"].as_bool()), (Some(true), Some(false)), "{card}");
}
