use super::*;
use crate::model::{Body, SafetySide};
use automerge::ReadDoc;
use chrono::TimeZone;

fn store(name: &str) -> Store {
    let mut s = Store::open_in_memory().unwrap();
    s.init(name).unwrap();
    s
}

fn helps(text: &str) -> Draft {
    Draft::SafetyNeed { side: SafetySide::Helps, text: text.into() }
}

#[test]
fn nothing_can_be_written_before_the_person_is_set_up() {
    let mut s = Store::open_in_memory().unwrap();
    assert!(matches!(s.add(helps("x")), Err(StoreError::NotSetUp)));
    assert!(s.entries().unwrap().is_empty());
}

#[test]
fn a_new_entry_is_private_and_listed() {
    let mut s = store("Alex");
    let e = s.add(helps("Hearing from you when plans change")).unwrap();
    let listed = s.entries().unwrap();
    assert_eq!(listed, vec![e.clone()]);
    assert!(!listed[0].shared);
    assert_eq!(doc::entry_ids(&s.doc).unwrap().len(), 0, "a private entry must not touch the shared document");
}

#[test]
fn share_moves_the_entry_into_the_document_and_is_idempotent() {
    let mut s = store("Alex");
    let e = s.add(helps("Plans said out loud")).unwrap();
    let shared = s.share(e.id).unwrap();
    assert!(shared.shared);
    assert!(s.private_entry(e.id).unwrap().is_none());
    let heads = s.heads();
    assert_eq!(s.share(e.id).unwrap(), shared);
    assert_eq!(s.heads(), heads, "sharing again must not change the document");
    let back = s.unshare(e.id).unwrap();
    assert!(!back.shared);
    assert!(doc::find_entry(&s.doc, e.id).unwrap().is_none());
    assert_eq!(s.entries().unwrap(), vec![back]);
}

#[test]
fn a_failure_at_any_step_of_share_leaves_the_entry_in_exactly_one_place() {
    for point in [FailPoint::AfterDocChange, FailPoint::AfterChunkWrite, FailPoint::AfterLocalWrite] {
        let mut s = store("Alex");
        let e = s.add(helps("A call when I'm late")).unwrap();
        s.inject_failure(Some(point));
        assert!(matches!(s.share(e.id), Err(StoreError::Injected(p)) if p == point));
        assert!(s.private_entry(e.id).unwrap().is_some(), "{point:?}: the entry left the private table");
        assert!(doc::find_entry(&s.doc, e.id).unwrap().is_none(), "{point:?}: memory holds what disk does not");
        assert!(s.share(e.id).unwrap().shared, "{point:?}: the retry failed");
        assert_eq!(s.entries().unwrap().len(), 1);
    }
}

#[test]
fn only_the_author_can_share_or_set_aside_but_either_can_check_in() {
    let mut a = store("Alex");
    let mut b = store("Blair");
    let agreement = a.add(Draft::Agreement { text: "Phones down at dinner".into() }).unwrap();
    a.share(agreement.id).unwrap();
    sync_pair(&mut a, &mut b);
    assert!(matches!(b.archive(agreement.id), Err(StoreError::Invalid(ModelError::NotYourEntry))));
    assert!(matches!(b.unshare(agreement.id), Err(StoreError::Invalid(ModelError::NotYourEntry))));
    b.check_in(agreement.id, Outcome::Kept, Some("Lovely evening")).unwrap();
    a.check_in(agreement.id, Outcome::Missed, None).unwrap();
    sync_pair(&mut a, &mut b);
    for s in [&mut a, &mut b] {
        let Body::Agreement { check_ins, .. } = s.get(agreement.id).unwrap().body else { panic!() };
        assert_eq!(check_ins.len(), 2);
    }
}

#[test]
fn writing_todays_check_in_again_edits_it() {
    let mut s = store("Alex");
    let first = s.add(Draft::CheckIn { text: "A walk".into() }).unwrap();
    let second = s.add(Draft::CheckIn { text: "A walk and dinner".into() }).unwrap();
    assert_eq!(first.id, second.id);
    s.share(first.id).unwrap();
    let third = s.add(Draft::CheckIn { text: "Dinner, shared".into() }).unwrap();
    assert_eq!(third.id, first.id);
    assert!(third.shared);
    assert_eq!(s.entries().unwrap().len(), 1);
}

#[test]
fn a_new_day_gets_a_new_check_in() {
    let mut s = store("Alex");
    s.set_clock(Box::new(|| Utc.with_ymd_and_hms(2026, 4, 1, 12, 0, 0).unwrap()));
    let first = s.add(Draft::CheckIn { text: "A walk".into() }).unwrap();
    s.set_clock(Box::new(|| Utc.with_ymd_and_hms(2026, 4, 3, 12, 0, 0).unwrap()));
    let second = s.add(Draft::CheckIn { text: "A call".into() }).unwrap();
    assert_ne!(first.id, second.id);
}

#[test]
fn archive_and_restore_keep_the_entry() {
    let mut s = store("Alex");
    let e = s.add(Draft::Transparency { text: "Seeing Sam tonight".into(), window: None }).unwrap();
    assert!(s.archive(e.id).unwrap().archived);
    assert_eq!(s.entries().unwrap().len(), 1);
    assert!(!s.restore(e.id).unwrap().archived);
}

#[test]
fn an_unknown_id_is_reported() {
    let mut s = store("Alex");
    let id = EntryId::new();
    assert!(matches!(s.share(id), Err(StoreError::NotFound(x)) if x == id));
}

#[test]
fn two_stores_merge_into_one_journal_from_the_common_genesis() {
    let mut a = store("Alex");
    let mut b = store("Blair");
    let ea = a.add(helps("Alex's words")).unwrap();
    let eb = b.add(helps("Blair's words")).unwrap();
    a.share(ea.id).unwrap();
    b.share(eb.id).unwrap();
    sync_pair(&mut a, &mut b);
    assert_eq!(a.entries().unwrap(), b.entries().unwrap());
    assert_eq!(a.entries().unwrap().len(), 2);
    a.verify_index().unwrap();
    b.verify_index().unwrap();
    let names: Vec<String> = a.people().unwrap().into_iter().map(|(_, n)| n).collect();
    assert_eq!(names, vec!["Alex".to_string(), "Blair".to_string()]);
}

#[test]
fn many_changes_are_compacted_into_a_snapshot_without_loss() {
    let mut s = store("Alex");
    let e = s.add(Draft::Agreement { text: "Check in at nine".into() }).unwrap();
    s.share(e.id).unwrap();
    for _ in 0..(chunks::COMPACT_AFTER + 5) {
        s.check_in(e.id, Outcome::Kept, None).unwrap();
    }
    let rows: i64 = s.conn.query_row("SELECT count(*) FROM doc_chunks", [], |r| r.get(0)).unwrap();
    assert!(rows < 20, "{rows} rows after compaction");
    let Body::Agreement { check_ins, .. } = s.get(e.id).unwrap().body else { panic!() };
    assert_eq!(check_ins.len(), chunks::COMPACT_AFTER + 5);
}

/// Runs the sync protocol between two stores until neither has anything to say.
pub(crate) fn sync_pair(a: &mut Store, b: &mut Store) {
    let (mut sa, mut sb) = (sync::State::new(), sync::State::new());
    for _ in 0..20 {
        let to_b = a.sync_message(&mut sa).unwrap();
        let to_a = b.sync_message(&mut sb).unwrap();
        if to_b.is_none() && to_a.is_none() {
            return;
        }
        if let Some(m) = to_b {
            b.receive_sync_message(&mut sb, m).unwrap();
        }
        if let Some(m) = to_a {
            a.receive_sync_message(&mut sa, m).unwrap();
        }
    }
    panic!("sync did not settle");
}

/// A sync round can leave a change queued when a Bloom filter false positive makes the
/// peer skip one of its ancestors; the next round fills the gap. The store used to check
/// the whole in-memory document for missing ancestors on every read and called this
/// damage (found by the merge property test, whose random ids made the case unrepeatable,
/// so it is rebuilt here by hand: a message carrying a change without its parent).
#[test]
fn regression_a_change_queued_by_a_sync_round_is_not_damage() {
    let mut a = store("Alex");
    let mut b = store("Blair");
    let e = a.add(Draft::Agreement { text: "Breakfast together".into() }).unwrap();
    a.share(e.id).unwrap();
    a.check_in(e.id, Outcome::Kept, None).unwrap();
    let child = a.doc.get_last_local_change().unwrap();
    let mut message = b.sync_message(&mut sync::State::new()).unwrap().unwrap();
    message.changes = vec![child.raw_bytes().to_vec()].into();
    b.receive_sync_message(&mut sync::State::new(), message).unwrap();
    assert!(!b.doc.get_missing_deps(&[]).is_empty(), "the child should wait for its parent");
    assert_eq!(b.entries().unwrap(), Vec::<Entry>::new());
    sync_pair(&mut a, &mut b);
    assert_eq!(b.entries().unwrap().len(), 1);
}
