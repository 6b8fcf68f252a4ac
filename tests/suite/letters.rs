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
        serde_json::from_str(&sync_b.wait_for(r#""event":"letter_sent""#, Duration::from_secs(30))).unwrap();
    let got: Value =
        serde_json::from_str(&courier.wait_for(r#""event":"letter_received""#, Duration::from_secs(5))).unwrap();
    assert_eq!(sent["bytes"], got["bytes"]);
    // Alex's letter reached Blair's open phone, which took it in at once.
    sync_b.wait_for(r#""event":"letter_received""#, Duration::from_secs(10));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !list_json(db).iter().any(|e| e["text"] == from_alex) {
        assert!(std::time::Instant::now() < deadline, "Alex's letter was not opened on Blair's phone");
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(sync_b);
    drop(courier);
    assert!(
        holding(db, undone)
            .iter()
            .all(|p| p.ends_with(steady::store::DB_FILE) || p.to_string_lossy().contains("sqlite")),
        "only in Blair's own journal"
    );

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
    courier.wait_for(r#""event":"letter_received""#, Duration::from_secs(30));
    drop(sync_b.wait_for(r#""event":"letter_sent""#, Duration::from_secs(5)));
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
