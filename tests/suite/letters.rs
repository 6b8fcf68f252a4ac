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

/// Test 1 of delivery while apart: Blair shares, syncs while only Alex's courier is up,
/// and stops. The courier keeps the letter sealed (its text in no file of Alex's). Later,
/// with Blair's phone and the courier both gone, Alex opens the journal and reads the
/// entry, once; Blair's card says it left.
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

    let mut courier = Running::start(da, &["courier", "--json", "--no-discovery", "--for", "60"]);
    courier.wait_for(r#""event":"listening""#, Duration::from_secs(10));

    let text = "LETTER-WHILE-APART-5e2";
    let id = ok(db, &["add", "transparency", text]).trim().to_owned();
    ok(db, &["share", &id]);
    assert_eq!(holding(&db.join("letters"), text), Vec::<std::path::PathBuf>::new(), "the letter is sealed");
    assert_eq!(letters_in(db, "out"), 1, "one letter waits");

    let mut sync_b = Running::start(db, &["sync", "--json", "--no-discovery", "--for", "40"]);
    let sent: Value =
        serde_json::from_str(&sync_b.wait_for(r#""event":"letter_sent""#, Duration::from_secs(30))).unwrap();
    let got: Value =
        serde_json::from_str(&courier.wait_for(r#""event":"letter_received""#, Duration::from_secs(5))).unwrap();
    assert_eq!(sent["bytes"], got["bytes"]);
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
}
