//! What must not be on a phone is nowhere in its files. Every test searches the raw bytes
//! of every file in the data directory (the SQLite file, its write-ahead log and shared
//! memory, anything else), and first finds the same text where it must be, so that a
//! search can never pass by accident.

mod common;

use std::path::Path;

use common::{ok, sync_stores};
use steady::model::{Draft, SafetySide};
use steady::store::Store;

/// Whether any file in `dir` holds `text`, byte for byte.
fn on_disk(dir: &Path, text: &str) -> bool {
    std::fs::read_dir(dir).unwrap().flatten().any(|f| {
        let bytes = std::fs::read(f.path()).unwrap_or_default();
        bytes.windows(text.len()).any(|w| w == text.as_bytes())
    })
}

fn phone(dir: &Path, name: &str) -> Store {
    let mut s = Store::open_dir(dir).unwrap();
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
    ok(d, &["init", "--name", "Alex"]);
    let id = ok(d, &["add", "safety-helps", "Unshared-5c1f: what I am not ready to say"]).trim().to_owned();
    ok(d, &["share", &id]);
    let said = ok(d, &["unshare", &id]);
    assert!(said.contains("not sent yet: it stays private"), "{said}");
    let out = d.join("shared.automerge");
    ok(d, &["export", "--format", "automerge", "--out", out.to_str().unwrap()]);
    let exported = std::fs::read(&out).unwrap();
    assert!(on_disk(d, "Unshared-5c1f"), "the entry is still on this phone, private");
    assert!(!exported.windows(13).any(|w| w == b"Unshared-5c1f"), "the shared document never held it");
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
    assert!(on_disk(da.path(), "Version-2-bb02"), "the waiting edit is on this phone");
    a.edit(e.id, Draft::CheckIn { text: "Version-3-cc03".into() }).unwrap();
    assert!(on_disk(da.path(), "Version-3-cc03"));
    assert!(!on_disk(da.path(), "Version-2-bb02"), "the replaced edit lingers in a free page or the log");
    sync_stores(&mut a, &mut b);
    assert!(on_disk(db.path(), "Version-1-aa01") && on_disk(db.path(), "Version-3-cc03"));
    assert!(!on_disk(db.path(), "Version-2-bb02"), "the partner's phone got an edit that was never sent");
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
    assert!(on_disk(da.path(), "Blair-only-7d2e"), "the past pairing is kept until deleted");
    let past = a.past_documents().unwrap();
    assert_eq!(past.len(), 1);
    a.delete_past_document(past[0].id).unwrap();
    assert!(!on_disk(da.path(), "Blair-only-7d2e"), "deleted for good, while the app is open");
    drop(a);
    assert!(!on_disk(da.path(), "Blair-only-7d2e"), "deleted for good, after the app closed");
}
