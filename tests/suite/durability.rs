//! The journal survives what phones go through: a share cut off at any step, a process
//! killed at random moments, and damaged files, which are reported and never overwritten.

use crate::common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{fails, ok};
use steady::model::{Draft, EntryId, SafetySide};
use steady::store::{DB_FILE, FailPoint, Store, StoreError};

fn set_up(dir: &Path) -> Store {
    let mut s = Store::open_dir_without_passcode(dir).unwrap();
    s.init("Alex").unwrap();
    s
}

/// How many times an entry is listed, whether it is shared, and whether it waits to be sent.
fn places(store: &mut Store, id: EntryId) -> (usize, bool, bool) {
    let found: Vec<_> = store.entries().unwrap().into_iter().filter(|e| e.id == id).collect();
    (found.len(), found.first().is_some_and(|e| e.shared), found.first().is_some_and(|e| e.waiting))
}

#[test]
fn sending_cut_off_at_any_step_is_found_in_exactly_one_place_after_reopening() {
    for point in [FailPoint::AfterDocChange, FailPoint::AfterChunkWrite, FailPoint::AfterLocalWrite] {
        let dir = tempfile::tempdir().unwrap();
        let id = {
            let mut s = set_up(dir.path());
            s.start_couple("00112233445566778899aabbccddeeff", "Sam").unwrap();
            let e = s.add(Draft::SafetyNeed { side: SafetySide::Helps, text: "Hearing the plan".into() }).unwrap();
            s.share(e.id).unwrap();
            s.inject_failure(Some(point));
            assert!(matches!(s.fold_outbox(), Err(StoreError::Injected(_))));
            e.id
        };
        let mut s = Store::open_dir_without_passcode(dir.path()).unwrap();
        assert_eq!(places(&mut s, id), (1, true, true), "after a failure {point:?}, it still waits");
        assert_eq!(s.fold_outbox().unwrap().len(), 1);
        assert_eq!(s.fold_outbox().unwrap().len(), 0);
        drop(s);
        let mut s = Store::open_dir_without_passcode(dir.path()).unwrap();
        assert_eq!(places(&mut s, id), (1, true, false), "after retrying past {point:?}");
        s.unshare(id).unwrap();
        drop(s);
        let mut s = Store::open_dir_without_passcode(dir.path()).unwrap();
        assert_eq!(places(&mut s, id), (1, false, false));
    }
}

/// A small, seeded random source, so a failing run can be repeated.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn kill_9_at_random_moments_loses_no_entry_whose_add_returned() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init", "--name", "Alex", "--no-passcode"]);
    let seed = 0x5eed_u64 ^ std::process::id() as u64;
    eprintln!("seed {seed}");
    let mut rng = Rng(seed | 1);
    // Kills land at random moments across one command's whole run, before, during and
    // after its write, however fast or loaded this machine is: time a few first.
    let mut timings: Vec<u128> = (0..3)
        .map(|i| {
            let start = std::time::Instant::now();
            ok(d, &["add", "transparency", &format!("Timing run {i}")]);
            start.elapsed().as_micros()
        })
        .collect();
    timings.sort();
    let span = (timings[1] * 2).max(1) as u64;
    eprintln!("one add takes about {} ms here; kills land within {} ms", timings[1] / 1000, span / 1000);
    let mut returned: Vec<String> = Vec::new();
    for round in 0..100 {
        // Every third round shares an entry that was added earlier, so kills land inside
        // shares and compactions too.
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_steady"));
        cmd.arg("--data-dir").arg(d);
        let sharing = round % 3 == 2 && !returned.is_empty();
        if sharing {
            let id = &returned[rng.next() as usize % returned.len()];
            cmd.args(["share", id]);
        } else {
            cmd.args(["add", "transparency", &format!("Plan number {round}")]);
        }
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
        std::thread::sleep(Duration::from_micros(rng.next() % span));
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        let printed = String::from_utf8_lossy(&out.stdout).into_owned();
        if !sharing && printed.ends_with('\n') {
            returned.push(printed.trim().to_owned());
        }
        let mut store = Store::open_dir_without_passcode(d)
            .unwrap_or_else(|e| panic!("round {round}: the file does not open: {e}"));
        store.verify_index().unwrap_or_else(|diff| panic!("round {round}: {diff}"));
        let entries = store.entries().unwrap();
        for id in &returned {
            let n = entries.iter().filter(|e| e.id.to_string() == *id).count();
            assert_eq!(n, 1, "round {round}: entry {id} is in {n} places");
        }
    }
    eprintln!("{} of 100 adds returned before the kill", returned.len());
    assert!(!returned.is_empty(), "no add ever finished; the kill timing is off");
}

fn damaged_file_is_refused_and_left_unchanged(damage: impl Fn(&mut Vec<u8>), expect: &str) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init", "--name", "Alex", "--no-passcode"]);
    for i in 0..30 {
        let id = ok(d, &["add", "agreement", &format!("Agreement number {i} to keep")]).trim().to_owned();
        ok(d, &["share", &id]);
    }
    ok(d, &["add", "checkin", "A private check-in"]);
    let file = d.join(DB_FILE);
    let mut bytes = std::fs::read(&file).unwrap();
    damage(&mut bytes);
    std::fs::write(&file, &bytes).unwrap();

    for args in [&["list"][..], &["add", "checkin", "more"], &["export", "--format", "json"]] {
        let err = fails(d, args);
        assert!(err.contains("damaged") && err.contains(expect), "steady {args:?} said: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert_eq!(std::fs::read(&file).unwrap(), bytes, "steady {args:?} changed the damaged file");
    }
    match Store::open(&file, &steady::vault::open_without_passcode(d).unwrap()) {
        Err(StoreError::Corrupt { path, .. }) => assert_eq!(path, file),
        Err(other) => panic!("expected a damage report, got {other}"),
        Ok(_) => panic!("a damaged file opened"),
    }
}

/// Finds where the stored bytes of the newest document chunk sit in the file.
fn chunk_offset(bytes: &[u8], dir: &Path) -> usize {
    let conn = rusqlite::Connection::open(dir.join(DB_FILE)).unwrap();
    let chunk: Vec<u8> =
        conn.query_row("SELECT bytes FROM doc_chunks ORDER BY seq DESC LIMIT 1", [], |r| r.get(0)).unwrap();
    drop(conn);
    bytes.windows(chunk.len()).position(|w| w == chunk.as_slice()).expect("the chunk is in the file")
}

#[test]
fn a_flipped_byte_in_a_document_chunk_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init", "--name", "Alex", "--no-passcode"]);
    for i in 0..5 {
        let id = ok(d, &["add", "agreement", &format!("Agreement {i}")]).trim().to_owned();
        ok(d, &["share", &id]);
    }
    let file = d.join(DB_FILE);
    let mut bytes = std::fs::read(&file).unwrap();
    let at = chunk_offset(&bytes, d) + 20;
    bytes[at] ^= 0x55;
    std::fs::write(&file, &bytes).unwrap();
    let err = fails(d, &["list"]);
    assert!(err.contains("damaged") && err.contains("does not open with the journal's key"), "{err}");
    assert_eq!(std::fs::read(&file).unwrap(), bytes);
}

#[test]
fn a_truncated_file_is_named() {
    damaged_file_is_refused_and_left_unchanged(|b| b.truncate(b.len() / 2), "cut short");
}

#[test]
fn an_overwritten_header_is_named() {
    damaged_file_is_refused_and_left_unchanged(|b| b[..16].copy_from_slice(b"not a database!!"), "no SQLite header");
}

#[test]
fn random_garbage_in_the_pages_is_named() {
    damaged_file_is_refused_and_left_unchanged(
        |b| {
            let mut rng = Rng(7);
            for byte in b.iter_mut().skip(100) {
                *byte = rng.next() as u8;
            }
        },
        "",
    );
}

#[test]
fn a_foreign_sqlite_file_is_not_touched() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(DB_FILE);
    let conn = rusqlite::Connection::open(&file).unwrap();
    conn.execute_batch("CREATE TABLE recipes (name TEXT); INSERT INTO recipes VALUES ('soup');").unwrap();
    drop(conn);
    let before = std::fs::read(&file).unwrap();
    let err = fails(dir.path(), &["list"]);
    assert!(err.contains("not one of Steady's"), "{err}");
    assert_eq!(std::fs::read(&file).unwrap(), before);
}

#[test]
fn a_chunk_that_automerge_cannot_parse_is_named_even_when_it_opens() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init", "--name", "Alex", "--no-passcode"]);
    let conn = rusqlite::Connection::open(d.join(DB_FILE)).unwrap();
    let junk = b"this is not an automerge change";
    // Sealed with the journal's own key, in its own row: it opens, and only then fails.
    let seq: i64 = conn.query_row("SELECT max(seq) + 1 FROM doc_chunks", [], |r| r.get(0)).unwrap();
    let mut aad = b"doc_chunks\0".to_vec();
    aad.extend_from_slice(&seq.to_be_bytes());
    let sealed = steady::vault::open_without_passcode(d).unwrap().seal(&aad, junk);
    conn.execute("INSERT INTO doc_chunks (seq, kind, bytes) VALUES (?1, 'change', ?2)", rusqlite::params![seq, sealed])
        .unwrap();
    drop(conn);
    let err = fails(d, &["list"]);
    assert!(err.contains("damaged") && err.contains("can't be read"), "{err}");
}

#[test]
fn a_stale_index_of_shared_entries_is_rebuilt_from_the_document_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init", "--name", "Alex", "--no-passcode"]);
    let id = ok(d, &["add", "agreement", "Walk on Sundays"]).trim().to_owned();
    ok(d, &["share", &id]);
    let before = common::list_json(d);
    let conn = rusqlite::Connection::open(d.join(DB_FILE)).unwrap();
    conn.execute_batch("DELETE FROM shared_index; DELETE FROM meta WHERE key = 'index_seq';").unwrap();
    drop(conn);
    let (mut store, entries) =
        Store::open_dir_with_entries(d, &steady::vault::open_without_passcode(d).unwrap()).unwrap();
    assert_eq!(entries.len(), 1);
    store.verify_index().unwrap();
    assert_eq!(common::list_json(d), before);
}

/// Copies the journal an earlier version wrote (schema 2, nothing encrypted: a paired
/// phone with private, set-aside, shared and waiting entries) into `dir`.
fn earlier_version_journal(dir: &Path) {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/journal-v2");
    std::fs::copy(fixture.join(DB_FILE), dir.join(DB_FILE)).unwrap();
}

/// Turns an earlier version's journal back into the first version's shape, as a phone
/// that has not updated since would hold it: no outbox, no set-aside, no past documents,
/// no couple, schema 1.
fn as_first_version(dir: &Path) {
    let conn = rusqlite::Connection::open(dir.join(DB_FILE)).unwrap();
    conn.execute_batch(
        "DROP TABLE outbox; DROP TABLE set_aside; DROP TABLE past_documents;
         ALTER TABLE private_entries DROP COLUMN shared_before;
         DELETE FROM meta WHERE key IN ('couple', 'document_generation');
         PRAGMA user_version = 1;",
    )
    .unwrap();
}

#[test]
fn a_first_version_journal_that_was_paired_keeps_its_document_apart_after_upgrading() {
    let dir = tempfile::tempdir().unwrap();
    earlier_version_journal(dir.path());
    as_first_version(dir.path());
    let key = steady::vault::open_without_passcode(dir.path()).unwrap();
    let (s, entries) = Store::open_dir_with_entries(dir.path(), &key).unwrap();
    let mine = entries.iter().find(|e| e.body.main_text().contains("FIXTURE-SHARED-AGREEMENT")).unwrap();
    assert!(!mine.shared && mine.shared_before, "{mine:?}");
    assert!(
        !entries.iter().any(|e| e.body.main_text().contains("FIXTURE-PARTNER-AGREEMENT")),
        "the partner's entry is kept apart, not in my lists"
    );
    assert_eq!(s.past_documents().unwrap().len(), 1, "the old shared document is kept apart");
    assert_eq!(s.couple().unwrap(), None, "the pairing is made again");
    drop(s);
    // Opening again changes nothing more.
    let mut s = Store::open_dir(dir.path(), &key).unwrap();
    assert_eq!(s.entries().unwrap(), entries);
}

#[test]
fn a_first_version_journal_never_paired_gets_its_shares_back_as_waiting_after_upgrading() {
    let dir = tempfile::tempdir().unwrap();
    earlier_version_journal(dir.path());
    as_first_version(dir.path());
    // The first version wrote a share straight into the shared document: a phone that
    // never paired holds a document with only its own shared entry, and no partner.
    let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    let me: String = conn.query_row("SELECT value FROM meta WHERE key = 'person_id'", [], |r| r.get(0)).unwrap();
    let mut entry = steady::model::Entry::create(
        Draft::SafetyNeed { side: SafetySide::Helps, text: "Shared, never sent".into() },
        me.parse().unwrap(),
        chrono::Utc::now(),
        chrono::Local::now().date_naive(),
    )
    .unwrap();
    entry.shared = true;
    let mut doc = steady::store::doc::genesis().with_actor(automerge::ActorId::random());
    let mut tx = doc.transaction();
    steady::store::doc::write_entry(&mut tx, &entry).unwrap();
    tx.commit();
    conn.execute_batch(
        "DELETE FROM doc_chunks; DELETE FROM shared_index; DELETE FROM shared_people;
         DELETE FROM meta WHERE key = 'index_seq' OR key LIKE 'setting.net.%';",
    )
    .unwrap();
    for change in doc.get_changes(&[]) {
        let bytes = change.raw_bytes();
        let sha = {
            use sha2::Digest;
            sha2::Sha256::digest(bytes).to_vec()
        };
        conn.execute(
            "INSERT INTO doc_chunks (kind, bytes, sha256) VALUES ('change', ?1, ?2)",
            rusqlite::params![bytes, sha],
        )
        .unwrap();
    }
    drop(conn);

    let key = steady::vault::open_without_passcode(dir.path()).unwrap();
    let (mut s, entries) = Store::open_dir_with_entries(dir.path(), &key).unwrap();
    let upgraded = entries.iter().find(|e| e.id == entry.id).unwrap();
    assert!(upgraded.shared && upgraded.waiting, "{upgraded:?}");
    assert!(s.past_documents().unwrap().is_empty());
    let bytes = s.document_bytes().unwrap();
    assert!(!bytes.windows(18).any(|w| w == b"Shared, never sent"), "nobody received it, so the history is empty");
}

/// The window holds the journal open and opens it a second time (the network's own
/// connection), while the command line, another process, opens and closes it. Closing
/// any descriptor of a file drops every lock this process holds on it, SQLite's too: had
/// the second open read the file's header through a descriptor it then closed, the
/// command line would take the journal as unused when it closed, and delete its log and
/// shared memory under the window's live connection. Everything written stays, and the
/// journal opens again.
#[test]
fn opening_the_journal_twice_in_one_process_keeps_it_safe_from_another_process() {
    let dir = tempfile::tempdir().unwrap();
    let mut window = set_up(dir.path());
    let first = window.add(Draft::Agreement { text: "Written by the window".into() }).unwrap().id;
    let second_connection = Store::open_dir_without_passcode(dir.path()).unwrap();
    let listed = ok(dir.path(), &["list", "--json"]);
    assert!(listed.contains("Written by the window"), "{listed}");
    let log = |suffix: &str| dir.path().join(format!("{DB_FILE}{suffix}"));
    assert!(log("-wal").exists() && log("-shm").exists(), "the window's log is still there");
    let later = window.add(Draft::Agreement { text: "Written after the command line".into() }).unwrap().id;
    drop(second_connection);
    drop(window);
    let mut again = Store::open_dir_without_passcode(dir.path()).unwrap();
    let ids: Vec<EntryId> = again.entries().unwrap().iter().map(|e| e.id).collect();
    assert!(ids.contains(&first) && ids.contains(&later), "{ids:?}");
}
