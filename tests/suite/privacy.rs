//! What must not be on a phone is nowhere in its files. Every test searches the raw bytes
//! of every file in the data directory (the SQLite file, its write-ahead log and shared
//! memory, the key file, anything else), and first finds the same bytes where they must
//! be, so that a search can never pass by accident: the text in a plain export written
//! elsewhere, or a sealed value's own bytes in the journal file before it is overwritten.

use crate::common;

use std::path::Path;

use common::{ok, ok_with, sync_stores};
use steady::model::{Draft, SafetySide};
use steady::store::Store;
use steady::vault::Vault;

/// Whether any file under `dir` holds `needle`, byte for byte.
fn on_disk(dir: &Path, needle: &[u8]) -> bool {
    std::fs::read_dir(dir).unwrap().flatten().any(|f| {
        let path = f.path();
        if path.is_dir() {
            return on_disk(&path, needle);
        }
        let bytes = std::fs::read(&path).unwrap_or_default();
        bytes.windows(needle.len()).any(|w| w == needle)
    })
}

/// The first 32 bytes of a sealed value as the journal file holds it (its random nonce
/// and the start of its ciphertext): bytes found nowhere else, to search for.
fn sealed_start(dir: &Path, sql: &str) -> Vec<u8> {
    let conn = rusqlite::Connection::open(dir.join(steady::store::DB_FILE)).unwrap();
    let sealed: Vec<u8> = conn.query_row(sql, [], |r| r.get(0)).unwrap();
    sealed[..32].to_vec()
}

fn phone(dir: &Path, name: &str) -> Store {
    let mut s = Store::open_dir_without_passcode(dir).unwrap();
    s.init(name).unwrap();
    s
}

fn helps(text: &str) -> Draft {
    Draft::SafetyNeed { side: SafetySide::Helps, text: text.into() }
}

#[test]
fn share_then_unshare_before_any_sync_leaves_nothing_in_the_shared_export() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init", "--name", "Alex", "--no-passcode"]);
    let id = ok(d, &["add", "safety-helps", "Unshared-5c1f: what I am not ready to say"]).trim().to_owned();
    ok(d, &["share", &id]);
    let said = ok(d, &["unshare", &id]);
    assert!(said.contains("not sent yet: it stays private"), "{said}");
    let elsewhere = tempfile::tempdir().unwrap();
    let plain = elsewhere.path().join("plain.json");
    ok(d, &["export", "--format", "json", "--plaintext", "--out", plain.to_str().unwrap()]);
    let out = elsewhere.path().join("shared.automerge");
    ok(d, &["export", "--format", "automerge", "--out", out.to_str().unwrap()]);
    let exported = std::fs::read(&out).unwrap();
    assert!(on_disk(elsewhere.path(), b"Unshared-5c1f"), "the entry is still on this phone, private");
    assert!(!exported.windows(13).any(|w| w == b"Unshared-5c1f"), "the shared document never held it");
    assert!(!on_disk(d, b"Unshared-5c1f"), "and the journal's files hold it only encrypted");
}

#[test]
fn a_waiting_edit_replaced_before_sending_is_overwritten_on_this_phone_too() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (mut a, mut b) = (phone(da.path(), "Alex"), phone(db.path(), "Blair"));
    a.start_couple("8c5a3c43e6a14f4f9b7e3b2d1c0a9f8e", "Blair").unwrap();
    b.start_couple("8c5a3c43e6a14f4f9b7e3b2d1c0a9f8e", "Alex").unwrap();
    let e = a.add(Draft::CheckIn { text: "Version-1-aa01".into() }).unwrap();
    a.share(e.id).unwrap();
    sync_stores(&mut a, &mut b);
    a.edit(e.id, Draft::CheckIn { text: "Version-2-bb02".into() }).unwrap();
    let version_2 = sealed_start(da.path(), "SELECT sealed FROM outbox");
    assert!(on_disk(da.path(), &version_2), "the waiting edit is on this phone, sealed");
    a.edit(e.id, Draft::CheckIn { text: "Version-3-cc03".into() }).unwrap();
    assert!(on_disk(da.path(), &sealed_start(da.path(), "SELECT sealed FROM outbox")));
    assert!(!on_disk(da.path(), &version_2), "the replaced edit lingers in a free page or the log");
    sync_stores(&mut a, &mut b);
    let received = b.document_bytes().unwrap();
    let has = |text: &[u8]| received.windows(text.len()).any(|w| w == text);
    assert!(has(b"Version-1-aa01") && has(b"Version-3-cc03"));
    assert!(!has(b"Version-2-bb02"), "the partner's phone got an edit that was never sent");
    for text in [&b"Version-1-aa01"[..], b"Version-2-bb02", b"Version-3-cc03"] {
        assert!(!on_disk(da.path(), text) && !on_disk(db.path(), text));
    }
}

/// A private entry reworded while the app stays open (for days, on a phone): the old
/// words, sealed, are in no file once the edit is saved. SQLite's write-ahead log keeps
/// earlier copies of a page until it is emptied, and the key opens them. A second
/// connection stays open as the window's network node keeps one.
#[test]
fn a_private_edit_leaves_the_old_words_in_no_file_while_the_journal_stays_open() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut a = phone(d, "Alex");
    let _node = Store::open_dir_without_passcode(d).unwrap();
    let e = a.add(helps("Private-v1-d41")).unwrap();
    let first = sealed_start(d, "SELECT sealed FROM private_entries");
    assert!(on_disk(d, &first), "the first words are on this phone, sealed");
    a.edit(e.id, helps("Private-v2-d42")).unwrap();
    let second = sealed_start(d, "SELECT sealed FROM private_entries");
    assert!(on_disk(d, &second), "the new words are on this phone, sealed");
    assert!(!on_disk(d, &first), "the old words linger in the write-ahead log or a free page");
    let agreement = a.add(Draft::Agreement { text: "Private-agreement-d43".into() }).unwrap();
    let before = sealed_start(
        d,
        &format!("SELECT sealed FROM private_entries WHERE id = x'{}'", agreement.id.as_uuid().simple()),
    );
    a.check_in(agreement.id, steady::model::Outcome::Kept, Some("Private-note-d44")).unwrap();
    assert!(!on_disk(d, &before), "the agreement before its check-in lingers");
    for text in [&b"Private-v1-d41"[..], b"Private-v2-d42", b"Private-note-d44"] {
        assert!(!on_disk(d, text), "nothing in the clear");
    }
}

#[test]
fn a_past_pairing_deleted_for_good_leaves_no_text_in_the_files() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (mut a, mut b) = (phone(da.path(), "Alex"), phone(db.path(), "Blair"));
    a.start_couple("1f0e2d3c4b5a69788796a5b4c3d2e1f0", "Blair").unwrap();
    b.start_couple("1f0e2d3c4b5a69788796a5b4c3d2e1f0", "Alex").unwrap();
    let theirs = b.add(helps("Blair-only-7d2e: a walk on Sundays")).unwrap();
    b.share(theirs.id).unwrap();
    sync_stores(&mut a, &mut b);
    a.end_couple("Blair").unwrap();
    let past = a.past_documents().unwrap();
    assert_eq!(past.len(), 1);
    let kept = a.past_document_bytes(past[0].id).unwrap();
    assert!(kept.windows(15).any(|w| w == b"Blair-only-7d2e"), "the past pairing is kept until deleted");
    let sealed = sealed_start(da.path(), "SELECT bytes FROM past_documents");
    assert!(on_disk(da.path(), &sealed), "sealed, in the journal file");
    a.delete_past_document(past[0].id).unwrap();
    assert!(!on_disk(da.path(), &sealed), "deleted for good, while the app is open");
    drop(a);
    assert!(!on_disk(da.path(), &sealed), "deleted for good, after the app closed");
    assert!(!on_disk(da.path(), b"Blair-only-7d2e"));
}

/// A day of use on two phones, one locked with a passcode: writing, sharing, syncing,
/// editing, unsharing, compacting, and the network's key made. After each step, no
/// private or shared text, no name and no part of the identity key is in any file of
/// either phone, while a plain export written elsewhere holds them all.
#[test]
fn nothing_personal_is_ever_in_the_files_in_the_clear() {
    let (da, db, plain) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let key = Vault::at(da.path()).set_up(Some("a long passphrase")).unwrap();
    let mut a = Store::open_dir(da.path(), &key).unwrap();
    a.init("Alexandrina-5e1d").unwrap();
    let mut b = phone(db.path(), "Bartholomew-9c2a");
    let net_key = steady::net::peers::keypair(&mut a).unwrap().to_protobuf_encoding().unwrap();
    // An Ed25519 key pair as libp2p encodes it ends in the secret key, then the public one.
    let secret: Vec<u8> = net_key[net_key.len() - 64..net_key.len() - 32].to_vec();
    let private = a.add(helps("Private-3a9f: the evening I felt invisible")).unwrap();
    let shared = a.add(Draft::Agreement { text: "Shared-8b2c: text when running late".into() }).unwrap();
    let theirs = b.add(helps("Theirs-6d1e: hearing plans early")).unwrap();
    let taken_back = a.add(helps("Taken-back-2f7a: not ready yet")).unwrap();

    let mut texts: Vec<Vec<u8>> = [
        "Private-3a9f",
        "Shared-8b2c",
        "Theirs-6d1e",
        "Taken-back-2f7a",
        "Checked-in-4c8d",
        "Alexandrina-5e1d",
        "Bartholomew-9c2a",
    ]
    .iter()
    .map(|t| t.as_bytes().to_vec())
    .collect();
    texts.push(secret.clone());
    texts.push(hex::encode(&secret).into_bytes());
    let nothing_in_the_clear = |step: &str| {
        for text in &texts {
            for dir in [da.path(), db.path()] {
                assert!(
                    !on_disk(dir, text),
                    "after {step}: {:?} is in {}",
                    String::from_utf8_lossy(text),
                    dir.display()
                );
            }
        }
    };

    nothing_in_the_clear("adding");
    a.share(shared.id).unwrap();
    a.share(taken_back.id).unwrap();
    b.share(theirs.id).unwrap();
    nothing_in_the_clear("sharing");
    a.start_couple("0a1b2c3d4e5f60718293a4b5c6d7e8f9", "Bartholomew-9c2a").unwrap();
    b.start_couple("0a1b2c3d4e5f60718293a4b5c6d7e8f9", "Alexandrina-5e1d").unwrap();
    sync_stores(&mut a, &mut b);
    nothing_in_the_clear("syncing");
    a.check_in(shared.id, steady::model::Outcome::Kept, Some("Checked-in-4c8d")).unwrap();
    a.edit(private.id, helps("Private-3a9f: the evening I felt invisible, and after")).unwrap();
    sync_stores(&mut a, &mut b);
    nothing_in_the_clear("editing");
    a.unshare(taken_back.id).unwrap();
    nothing_in_the_clear("unsharing");
    a.compact().unwrap();
    b.compact().unwrap();
    nothing_in_the_clear("compacting");
    drop((a, b));
    nothing_in_the_clear("closing");

    // The same search finds every text in what the journals hold once unlocked.
    let mut a = Store::open_dir(da.path(), &Vault::at(da.path()).unlock("a long passphrase").unwrap()).unwrap();
    let mut b = Store::open_dir_without_passcode(db.path()).unwrap();
    let mut everything = Vec::new();
    for s in [&mut a, &mut b] {
        everything.extend(format!("{:?}{:?}", s.entries().unwrap(), s.people().unwrap()).into_bytes());
    }
    std::fs::write(plain.path().join("unlocked.txt"), &everything).unwrap();
    std::fs::write(
        plain.path().join("key"),
        steady::net::peers::keypair(&mut a).unwrap().to_protobuf_encoding().unwrap(),
    )
    .unwrap();
    std::fs::write(plain.path().join("key.hex"), hex::encode(&secret)).unwrap();
    for text in &texts {
        assert!(on_disk(plain.path(), text), "{:?} is found where it is in the clear", String::from_utf8_lossy(text));
    }
}

#[test]
fn a_journal_locked_with_a_passcode_opens_for_nobody_without_it_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let code = [("STEADY_PASSCODE", "424242")];
    ok_with(d, &["init", "--name", "Alex"], &code);
    ok_with(d, &["add", "reflection", "Locked-away-1b3c"], &code);
    let before = common::snapshot_dir(d);
    let locked = common::fails(d, &["list"]);
    assert!(locked.contains("Steady is locked: give the passcode (STEADY_PASSCODE)"), "{locked}");
    let wrong = common::fails_with(d, &["list"], &[("STEADY_PASSCODE", "000000")]);
    assert!(wrong.contains("that passcode is not right"), "{wrong}");
    let after: Vec<_> = common::snapshot_dir(d).into_iter().filter(|(name, _)| name != "steady.tries").collect();
    assert_eq!(after, before, "neither changed the journal or its key");
    assert!(d.join("steady.tries").exists(), "the wrong try is counted, in a file of its own");
    assert!(!on_disk(d, b"Locked-away-1b3c"));
    let listed = ok_with(d, &["list"], &code);
    assert!(listed.contains("Locked-away-1b3c"), "{listed}");
}
