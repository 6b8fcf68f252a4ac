use super::entries::is_set_aside;
use super::incoming::is_whole_document;
use super::*;
use crate::model::{Body, SafetySide};
use automerge::ReadDoc;
use chrono::TimeZone;

fn store(name: &str) -> Store {
    let mut s = Store::open_in_memory().unwrap();
    s.init(name).unwrap();
    s
}

/// A journal in a data directory of its own, set up for `name`, as the phone keeps it: a
/// second connection (the window's, the node's) can open the same directory.
fn on_disk(name: &str) -> (tempfile::TempDir, Store) {
    let dir = tempfile::TempDir::new().unwrap();
    let mut s = Store::open_dir_without_passcode(dir.path()).unwrap();
    s.init(name).unwrap();
    (dir, s)
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

/// Every change the shared document holds: the same set is the same document, however it
/// is laid out in memory.
fn history(s: &Store) -> std::collections::BTreeSet<automerge::ChangeHash> {
    s.doc.get_changes(&[]).iter().map(|c| c.hash()).collect()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Starts a pairing on one phone, as pairing does once the words are confirmed.
fn paired(s: &mut Store) {
    s.start_couple("00112233445566778899aabbccddeeff", "Sam").unwrap();
}

#[test]
fn share_waits_in_the_outbox_and_undoing_it_leaves_no_trace() {
    let mut s = store("Alex");
    let e = s.add(helps("Plans said out loud")).unwrap();
    let shared = s.share(e.id).unwrap();
    assert!(shared.shared && shared.waiting);
    assert!(rows::get(&s.conn, Table::Private, e.id).unwrap().is_none());
    assert_eq!(s.waiting_count().unwrap(), 1);
    let heads = s.heads();
    assert_eq!(s.share(e.id).unwrap(), shared);
    assert_eq!(s.heads(), heads, "sharing must not change the document");
    assert!(!contains(&s.document_bytes().unwrap(), "Plans said out loud"));
    let back = s.unshare(e.id).unwrap();
    assert!(!back.partner_has_copy);
    assert!(!back.entry.shared && !back.entry.waiting);
    assert_eq!(s.waiting_count().unwrap(), 0);
    assert_eq!(s.entries().unwrap(), vec![back.entry]);
    assert_eq!(s.heads(), heads);
}

#[test]
fn the_history_holds_a_share_only_once_it_is_about_to_be_sent() {
    // The same search first finds the text where it must be, so it can't pass by accident.
    let mut s = store("Alex");
    let sent = s.add(helps("Sent-7f3a: a hug after work")).unwrap();
    let kept = s.add(helps("Kept-91c2: not yet ready to say")).unwrap();
    s.share(sent.id).unwrap();
    s.share(kept.id).unwrap();
    assert_eq!(s.fold_outbox().unwrap().len(), 0, "nothing folds before a pairing");
    s.unshare(kept.id).unwrap();
    paired(&mut s);
    assert_eq!(s.fold_outbox().unwrap().len(), 1);
    let bytes = s.document_bytes().unwrap();
    assert!(contains(&bytes, "Sent-7f3a"), "the folded share is in the history");
    assert!(!contains(&bytes, "Kept-91c2"), "the share undone before sending left no trace");
    assert!(!s.get(sent.id).unwrap().waiting);
    let unshared = s.unshare(sent.id).unwrap();
    assert!(unshared.partner_has_copy, "a sent entry is honestly called a copy the partner has");
}

#[test]
fn the_undo_window_keeps_a_share_on_the_phone_even_when_paired() {
    let mut s = store("Alex");
    let now = Utc.with_ymd_and_hms(2026, 4, 1, 12, 0, 0).unwrap();
    s.set_clock(Box::new(move || now));
    paired(&mut s);
    let e = s.add(helps("A note after lunch")).unwrap();
    s.share_after(e.id, UNDO_WINDOW).unwrap();
    assert_eq!(s.fold_outbox().unwrap().len(), 0, "not before the undo has run out");
    assert_eq!(s.next_ready().unwrap(), Some(now + chrono::Duration::seconds(10)));
    // Another, shared a little later with a shorter undo, is the next to be ready.
    s.set_clock(Box::new(move || now + chrono::Duration::seconds(2)));
    let sooner = s.add(helps("A note before dinner")).unwrap();
    s.share_after(sooner.id, std::time::Duration::from_secs(3)).unwrap();
    assert_eq!(s.next_ready().unwrap(), Some(now + chrono::Duration::seconds(5)));
    s.set_clock(Box::new(move || now + chrono::Duration::seconds(5)));
    assert_eq!(s.fold_outbox().unwrap().len(), 1);
    assert_eq!(s.next_ready().unwrap(), Some(now + chrono::Duration::seconds(10)));
    s.set_clock(Box::new(move || now + chrono::Duration::seconds(10)));
    assert_eq!(s.fold_outbox().unwrap().len(), 1);
    assert_eq!(s.next_ready().unwrap(), None);
}

#[test]
fn two_edits_before_sending_send_only_the_last() {
    let mut a = store("Alex");
    let mut b = store("Blair");
    let e = a.add(Draft::CheckIn { text: "First-d41c".into() }).unwrap();
    a.share(e.id).unwrap();
    sync_pair(&mut a, &mut b);
    a.edit(e.id, Draft::CheckIn { text: "Second-83be".into() }).unwrap();
    let waiting = a.get(e.id).unwrap();
    assert!(waiting.waiting, "the edit waits");
    assert_eq!(waiting.body.main_text(), "Second-83be");
    a.edit(e.id, Draft::CheckIn { text: "Third-5a90".into() }).unwrap();
    sync_pair(&mut a, &mut b);
    for s in [&mut a, &mut b] {
        let bytes = s.document_bytes().unwrap();
        assert!(contains(&bytes, "First-d41c") && contains(&bytes, "Third-5a90"));
        assert!(!contains(&bytes, "Second-83be"), "an edit replaced before sending never enters the history");
        assert_eq!(s.get(e.id).unwrap().body.main_text(), "Third-5a90");
    }
}

#[test]
fn a_waiting_edit_keeps_the_partners_check_in_made_meanwhile() {
    let mut a = store("Alex");
    let mut b = store("Blair");
    let e = a.add(Draft::Agreement { text: "Phones down at dinner".into() }).unwrap();
    a.share(e.id).unwrap();
    sync_pair(&mut a, &mut b);
    a.edit(e.id, Draft::Agreement { text: "Phones away at dinner".into() }).unwrap();
    b.check_in(e.id, Outcome::Kept, None).unwrap();
    sync_pair(&mut a, &mut b);
    for s in [&mut a, &mut b] {
        let Body::Agreement { text, check_ins, .. } = s.get(e.id).unwrap().body else { panic!() };
        assert_eq!(text, "Phones away at dinner");
        assert_eq!(check_ins.len(), 1);
    }
}

/// The plaintext of the one waiting outbox row, as it is sealed on disk.
fn waiting_row(s: &Store) -> Vec<u8> {
    s.conn.query_row("SELECT unseal('outbox', id, sealed) FROM outbox", [], |r| r.get(0)).unwrap()
}

#[test]
fn a_check_in_on_a_long_agreement_waits_as_that_one_check_in() {
    let mut a = store("Alex");
    let mut b = store("Blair");
    let e = a.add(Draft::Agreement { text: "Phones down at dinner".into() }).unwrap();
    a.share(e.id).unwrap();
    for day in 0..60 {
        a.check_in(e.id, Outcome::Kept, Some(&format!("evening {day}, no phones"))).unwrap();
    }
    // Before its first send, the share waits whole, every check-in in it.
    assert!(contains(&waiting_row(&a), "evening 41, no phones"));
    sync_pair(&mut a, &mut b);
    a.check_in(e.id, Outcome::Kept, Some("tonight-5c1e")).unwrap();
    let row = waiting_row(&a);
    assert!(contains(&row, "tonight-5c1e"), "the new check-in waits");
    assert!(!contains(&row, "evening 41, no phones"), "the ones the partner has do not wait again");
    assert!(row.len() < 400, "a waiting check-in is {} bytes", row.len());
    // More changes before it leaves wait in the same row, and the partner's check-in made
    // meanwhile stays.
    a.edit(e.id, Draft::Agreement { text: "Phones away at dinner".into() }).unwrap();
    a.check_in(e.id, Outcome::Missed, Some("late-91d0")).unwrap();
    b.check_in(e.id, Outcome::Kept, Some("theirs-2b7a")).unwrap();
    assert_eq!(a.waiting_count().unwrap(), 1);
    let shown = a.get(e.id).unwrap();
    assert!(shown.waiting);
    sync_pair(&mut a, &mut b);
    for s in [&mut a, &mut b] {
        let Body::Agreement { text, check_ins, .. } = s.get(e.id).unwrap().body else { panic!("not an agreement") };
        assert_eq!(text, "Phones away at dinner");
        assert_eq!(check_ins.len(), 63);
        for note in ["tonight-5c1e", "late-91d0", "theirs-2b7a", "evening 0, no phones"] {
            assert!(check_ins.iter().any(|c| c.note.as_deref() == Some(note)), "{note}");
        }
    }
    assert_eq!(a.waiting_count().unwrap(), 0);
}

#[test]
fn a_change_waiting_as_an_earlier_version_kept_it_is_sent_as_that_change() {
    let mut a = store("Alex");
    let mut b = store("Blair");
    let e = a.add(Draft::Agreement { text: "Phones down at dinner".into() }).unwrap();
    a.share(e.id).unwrap();
    sync_pair(&mut a, &mut b);
    // An earlier version kept the whole entry as changed and the entry it was changed
    // from.
    let base = a.get(e.id).unwrap();
    let mut changed = base.clone();
    let me = a.me().unwrap().id;
    let (now, today) = a.now();
    changed.edit(Draft::Agreement { text: "Phones away at dinner".into() }, me, now).unwrap();
    changed.check_in(Outcome::Kept, Some("mine-4e02"), me, now, today).unwrap();
    rows::put_outbox_as_before(&a.conn, &changed, now, &base.to_fields()).unwrap();
    b.check_in(e.id, Outcome::Kept, Some("theirs-77a1")).unwrap();
    assert_eq!(a.get(e.id).unwrap().body, changed.body, "the change shows as it waits");
    sync_pair(&mut a, &mut b);
    for s in [&mut a, &mut b] {
        let Body::Agreement { text, check_ins, .. } = s.get(e.id).unwrap().body else { panic!("not an agreement") };
        assert_eq!(text, "Phones away at dinner");
        let notes: Vec<_> = check_ins.iter().filter_map(|c| c.note.as_deref()).collect();
        assert_eq!(notes.len(), 2);
        assert!(notes.contains(&"mine-4e02") && notes.contains(&"theirs-77a1"), "{notes:?}");
    }
}

#[test]
fn setting_aside_a_shared_entry_stays_on_this_phone() {
    let mut a = store("Alex");
    let mut b = store("Blair");
    let e = a.add(helps("Time to talk after work")).unwrap();
    a.share(e.id).unwrap();
    sync_pair(&mut a, &mut b);
    let heads = a.heads();
    assert!(a.archive(e.id).unwrap().archived);
    assert_eq!(a.heads(), heads, "setting aside changes nothing the partner sees");
    assert!(a.get(e.id).unwrap().archived);
    sync_pair(&mut a, &mut b);
    assert!(!b.get(e.id).unwrap().archived);
    assert!(!a.restore(e.id).unwrap().archived);
}

#[test]
fn a_failure_at_any_step_of_sending_leaves_the_share_waiting() {
    for point in [FailPoint::AfterDocChange, FailPoint::AfterChunkWrite, FailPoint::AfterLocalWrite] {
        let mut s = store("Alex");
        paired(&mut s);
        let e = s.add(helps("A call when I'm late")).unwrap();
        s.share(e.id).unwrap();
        s.inject_failure(Some(point));
        assert!(matches!(s.fold_outbox(), Err(StoreError::Injected(p)) if p == point));
        assert!(s.get(e.id).unwrap().waiting, "{point:?}: the share left the outbox");
        assert!(doc::find_entry(&s.doc, e.id).unwrap().is_none(), "{point:?}: memory holds what disk does not");
        assert_eq!(s.fold_outbox().unwrap().len(), 1, "{point:?}: the retry failed");
        assert!(!s.get(e.id).unwrap().waiting);
        assert_eq!(s.entries().unwrap().len(), 1);
    }
}

#[test]
fn ending_a_pairing_sets_its_document_apart_and_the_next_starts_empty() {
    let mut a = store("Alex");
    let mut b = store("Blair");
    let mine = a.add(helps("Alex-2b7e: a call at lunch")).unwrap();
    let theirs = b.add(helps("Blair-c0d5: a walk on Sundays")).unwrap();
    let unsent = a.add(helps("Unsent-9e11: said only to myself")).unwrap();
    a.share(mine.id).unwrap();
    b.share(theirs.id).unwrap();
    sync_pair(&mut a, &mut b);
    a.share(unsent.id).unwrap();
    a.archive(mine.id).unwrap();
    assert!(contains(&a.document_bytes().unwrap(), "Blair-c0d5"));

    a.end_couple("Blair").unwrap();
    let listed = a.entries().unwrap();
    assert_eq!(listed.len(), 2, "the partner's entry left my lists: {listed:#?}");
    let back = listed.iter().find(|e| e.id == mine.id).unwrap();
    assert!(!back.shared && back.shared_before && back.archived);
    let unsent_back = listed.iter().find(|e| e.id == unsent.id).unwrap();
    assert!(!unsent_back.shared && !unsent_back.shared_before, "a share that never left is simply private");
    let bytes = a.document_bytes().unwrap();
    assert!(!contains(&bytes, "Blair-c0d5") && !contains(&bytes, "Alex-2b7e"), "the new document is empty");
    assert_eq!(a.couple().unwrap(), None);

    let past = a.past_documents().unwrap();
    assert_eq!(past.len(), 1);
    assert_eq!(past[0].partner, "Blair");
    let old = a.past_entries(past[0].id).unwrap();
    assert_eq!(old.len(), 1);
    assert_eq!(old[0].body.main_text(), "Blair-c0d5: a walk on Sundays");

    // A third phone pairs with this one: it receives nothing of the old pairing.
    let mut c = store("Casey");
    a.share(mine.id).unwrap();
    sync_pair(&mut a, &mut c);
    let to_c = c.document_bytes().unwrap();
    assert!(contains(&to_c, "Alex-2b7e"), "sharing is chosen afresh, and works");
    assert!(!contains(&to_c, "Blair-c0d5"));
    assert_eq!(c.entries().unwrap().len(), 1);

    a.delete_past_document(past[0].id).unwrap();
    assert!(a.past_documents().unwrap().is_empty());
    assert!(matches!(a.past_entries(past[0].id), Err(StoreError::NoPastDocument(_))));
}

#[test]
fn a_journal_from_before_unpaired_gets_its_shares_back_as_waiting() {
    // An old journal: shared entries written straight into the document, never paired.
    let mut s = store("Alex");
    let e = s.add(helps("Old-share-4411")).unwrap();
    let written = Entry { shared: true, ..s.get(e.id).unwrap() };
    s.write_shared(|tx, _| doc::write_entry(tx, &written), |sql, ()| rows::delete(sql, Table::Private, e.id)).unwrap();
    assert!(contains(&s.document_bytes().unwrap(), "Old-share-4411"));
    s.upgrade_shared_document().unwrap();
    assert!(!contains(&s.document_bytes().unwrap(), "Old-share-4411"));
    let back = s.get(e.id).unwrap();
    assert!(back.shared && back.waiting, "{back:?}");
    assert!(s.past_documents().unwrap().is_empty());
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
    paired(&mut s);
    let e = s.add(Draft::Agreement { text: "Check in at nine".into() }).unwrap();
    s.share(e.id).unwrap();
    let rows = |s: &Store| -> usize {
        let n: i64 = s.conn.query_row("SELECT count(*) FROM doc_chunks", [], |r| r.get(0)).unwrap();
        n as usize
    };
    // Each edit a change of its own, folded as the session folds it.
    let mut made = 0;
    let mut edit = |s: &mut Store, times: usize| {
        for _ in 0..times {
            made += 1;
            s.edit(e.id, Draft::Agreement { text: format!("Check in at nine, {made}") }).unwrap();
            s.fold_outbox().unwrap();
        }
    };
    // Folds leave it to the session, which compacts once it said "synced"...
    edit(&mut s, chunks::COMPACT_AFTER + 5);
    assert!(rows(&s) > chunks::COMPACT_AFTER, "{} rows before the session compacts", rows(&s));
    assert!(s.compact_if_due().unwrap());
    assert!(rows(&s) < 5, "{} rows after compaction", rows(&s));
    assert!(!s.compact_if_due().unwrap(), "nothing is due right after");
    // ...and, with no session to do it, compact themselves at the latest bound.
    edit(&mut s, chunks::COMPACT_AT_THE_LATEST + 5);
    assert!(rows(&s) < 20, "{} rows after compaction", rows(&s));
    let last = chunks::COMPACT_AFTER + chunks::COMPACT_AT_THE_LATEST + 10;
    assert_eq!(s.get(e.id).unwrap().body.main_text(), format!("Check in at nine, {last}"));
    // Nothing was lost on the way, read back from the file: the genesis, then one change
    // per fold (the first carries the share, which waited until then, with its first edit).
    s.reload().unwrap();
    assert_eq!(s.doc.get_changes(&[]).len(), 1 + last);
}

/// How `s`'s partner knows it: its person and its device.
fn rules_for(s: &Store) -> PartnerRules {
    PartnerRules { person: s.me().unwrap().id, actors: vec![s.doc.get_actor().clone()] }
}

/// Pairs two stores if they are not yet, then runs the sync protocol, folding each
/// outbox first as the session does, until neither has anything to say.
pub(crate) fn sync_pair(a: &mut Store, b: &mut Store) {
    if a.couple().unwrap().is_none() || a.couple().unwrap() != b.couple().unwrap() {
        let couple = uuid::Uuid::new_v4().simple().to_string();
        a.start_couple(&couple, "them").unwrap();
        b.start_couple(&couple, "them").unwrap();
    }
    let (a_sees_b, b_sees_a) = (rules_for(b), rules_for(a));
    let (mut sa, mut sb) = (sync::State::new(), sync::State::new());
    for _ in 0..20 {
        a.fold_outbox().unwrap();
        b.fold_outbox().unwrap();
        let to_b = a.sync_message(&mut sa).unwrap();
        let to_a = b.sync_message(&mut sb).unwrap();
        if to_b.is_none() && to_a.is_none() {
            return;
        }
        if let Some(m) = to_b {
            b.receive_sync_message(&mut sb, m, &b_sees_a).unwrap();
        }
        if let Some(m) = to_a {
            a.receive_sync_message(&mut sa, m, &a_sees_b).unwrap();
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
    sync_pair(&mut a, &mut b);
    let e = a.add(Draft::Agreement { text: "Breakfast together".into() }).unwrap();
    a.share(e.id).unwrap();
    a.fold_outbox().unwrap();
    a.check_in(e.id, Outcome::Kept, None).unwrap();
    a.fold_outbox().unwrap();
    let child = a.doc.get_last_local_change().unwrap();
    let mut message = b.sync_message(&mut sync::State::new()).unwrap().unwrap();
    message.changes = vec![child.raw_bytes().to_vec()].into();
    b.receive_sync_message(&mut sync::State::new(), message, &rules_for(&a)).unwrap();
    assert!(!b.doc.get_missing_deps(&[]).is_empty(), "the child should wait for its parent");
    assert_eq!(b.entries().unwrap(), Vec::<Entry>::new());
    sync_pair(&mut a, &mut b);
    assert_eq!(b.entries().unwrap().len(), 1);
}

/// A modified app on the partner's phone, holding the partner's keys, sends changes that
/// break the rules, through the real receive path. Each message is refused whole, and
/// the journal reads exactly as before, document and index alike.
#[test]
fn a_hostile_partner_phone_can_not_rewrite_hide_or_forge_my_entries() {
    use automerge::transaction::Transactable;
    type Hostile = fn(&mut automerge::transaction::Transaction<'_>, &Entry, PersonId);
    let cases: [(&str, Hostile); 5] = [
        ("edits one of my entries", |tx, mine, _| {
            let obj = doc::find_entry(tx, mine.id).unwrap().unwrap();
            tx.put(&obj, "text", "Rewritten by someone else").unwrap();
        }),
        ("deletes one of my entries", |tx, mine, _| doc::delete_entry(tx, mine.id).unwrap()),
        ("forges an entry with my author id", |tx, _, me| {
            let now = Utc.with_ymd_and_hms(2026, 4, 1, 12, 0, 0).unwrap();
            let mut forged = Entry::create(helps("Words I never wrote"), me, now, now.date_naive()).unwrap();
            forged.shared = true;
            doc::write_entry(tx, &forged).unwrap();
        }),
        ("sends a change under my actor", |tx, _, _| {
            let people = doc::root_map(tx, doc::PEOPLE).unwrap();
            tx.put(&people, "note", "made to look like mine").unwrap();
        }),
        ("replaces the entries map", |tx, _, _| {
            tx.put_object(automerge::ROOT, doc::ENTRIES, automerge::ObjType::Map).unwrap();
        }),
    ];
    for (what, hostile) in cases {
        let mut a = store("Alex");
        let mut b = store("Blair");
        let mine = a.add(helps("A call when I'm late")).unwrap();
        a.share(mine.id).unwrap();
        sync_pair(&mut a, &mut b);
        let (entries, before) = (a.entries().unwrap(), history(&a));

        let mut forked = b.doc.fork();
        if what == "sends a change under my actor" {
            forked.set_actor(a.actor());
        }
        let me = a.me().unwrap().id;
        let mut tx = forked.transaction();
        hostile(&mut tx, &mine, me);
        tx.commit();
        let change = forked.get_last_local_change().unwrap().raw_bytes().to_vec();
        let mut message = b.sync_message(&mut sync::State::new()).unwrap().unwrap();
        message.changes = vec![change].into();

        let refused = a.receive_sync_message(&mut sync::State::new(), message, &rules_for(&b));
        assert!(matches!(refused, Err(StoreError::Refused(_))), "{what}: {refused:?}");
        assert_eq!(a.entries().unwrap(), entries, "{what}: the entries changed");
        assert_eq!(history(&a), before, "{what}: the document changed");
        a.verify_index().unwrap();
        drop(a);
    }
}

#[test]
fn a_partners_check_in_on_an_agreement_taken_back_meanwhile_goes_nowhere() {
    let mut a = store("Alex");
    let mut b = store("Blair");
    let e = a.add(Draft::Agreement { text: "Walk on Sundays".into() }).unwrap();
    a.share(e.id).unwrap();
    sync_pair(&mut a, &mut b);
    a.unshare(e.id).unwrap();
    b.check_in(e.id, Outcome::Kept, Some("Lovely walk")).unwrap();
    sync_pair(&mut a, &mut b);
    assert!(!a.get(e.id).unwrap().shared);
    assert!(matches!(b.get(e.id), Err(StoreError::NotFound(_))), "the agreement left the partner's lists");
    assert_eq!(b.waiting_count().unwrap(), 0);
}

#[test]
fn a_partners_name_is_shown_without_overrides_controls_or_length() {
    let mut a = store("Alex");
    let mut b = store("Blair");
    sync_pair(&mut a, &mut b);
    // A modified app on Blair's phone renames Blair with a right-to-left override, a
    // terminal escape, zero-width characters and a page of text.
    let mut forked = b.doc.fork();
    forked.set_actor(b.actor());
    let mut tx = forked.transaction();
    let hostile = format!("Bl\u{200B}air\u{202E}sdrawkcab\u{1b}[2J{}", " and more".repeat(100));
    doc::write_person(&mut tx, b.me().unwrap().id, &hostile).unwrap();
    tx.commit();
    let change = forked.get_last_local_change().unwrap().raw_bytes().to_vec();
    let mut message = b.sync_message(&mut sync::State::new()).unwrap().unwrap();
    message.changes = vec![change].into();
    a.receive_sync_message(&mut sync::State::new(), message, &rules_for(&b)).unwrap();

    let shown: Vec<String> = a.people().unwrap().into_iter().map(|(_, n)| n).collect();
    let blair = shown.iter().find(|n| n.starts_with("Blair")).expect("Blair's name is listed");
    assert!(blair.starts_with("Blairsdrawkcab[2J and more"), "{blair}");
    assert!(blair.chars().count() <= 60, "{}", blair.chars().count());
    assert!(!blair.chars().any(|c| c.is_control() || matches!(c, '\u{200B}' | '\u{202E}')), "{blair:?}");
    // What the document holds is left as it is: only what is shown is cleaned.
    let people = doc::root_map(&a.doc, doc::PEOPLE).unwrap();
    let person = a.doc.get(&people, b.me().unwrap().id.to_string()).unwrap().unwrap().1;
    let raw = a.doc.get(&person, "name").unwrap().unwrap().0.as_str().map(str::to_owned);
    assert_eq!(raw.as_deref(), Some(hostile.as_str()));
}

#[test]
fn changes_that_wait_for_missing_ones_are_kept_only_up_to_a_bound() {
    use automerge::transaction::Transactable;
    let mut a = store("Alex");
    let mut b = store("Blair");
    sync_pair(&mut a, &mut b);
    let (entries, before) = (a.entries().unwrap(), history(&a));
    // A modified app on Blair's phone sends changes that build on one it never sends:
    // they can't apply, and would wait in memory for ever.
    let mut forked = b.doc.fork();
    forked.set_actor(b.actor());
    let mut tx = forked.transaction();
    doc::write_person(&mut tx, b.me().unwrap().id, "Blair, never sent").unwrap();
    tx.commit();
    let missing = forked.get_last_local_change().unwrap().raw_bytes().to_vec();
    // Each waiting change is a little over a third of the bound, and can't be compressed.
    let mut noise = 0x2545_f491_u64;
    let mut waiting = Vec::new();
    for _ in 0..3 {
        let text: String = (0..MAX_HELD_BACK / 3)
            .map(|_| {
                noise ^= noise << 13;
                noise ^= noise >> 7;
                noise ^= noise << 17;
                char::from(b'a' + (noise % 26) as u8)
            })
            .collect();
        let mut tx = forked.transaction();
        let people = doc::root_map(&tx, doc::PEOPLE).unwrap();
        let me = tx.get(&people, b.me().unwrap().id.to_string()).unwrap().unwrap().1;
        tx.put(&me, "note", text).unwrap();
        tx.commit();
        waiting.push(forked.get_last_local_change().unwrap().raw_bytes().to_vec());
    }
    let mut send = |a: &mut Store, changes: Vec<Vec<u8>>| {
        let mut message = b.sync_message(&mut sync::State::new()).unwrap().unwrap();
        message.changes = changes.into();
        a.receive_sync_message(&mut sync::State::new(), message, &rules_for(&b))
    };
    // Two of them wait (about two thirds of the bound); the third goes over it.
    send(&mut a, vec![waiting[0].clone()]).unwrap();
    send(&mut a, vec![waiting[1].clone()]).unwrap();
    let refused = send(&mut a, vec![waiting[2].clone()]);
    assert!(matches!(refused, Err(StoreError::HeldBack { bytes }) if bytes > MAX_HELD_BACK), "{refused:?}");
    assert_eq!(a.entries().unwrap(), entries);
    assert_eq!(history(&a), before, "nothing of it was kept");
    // Sent whole, with the change they build on, the same changes apply.
    send(&mut a, vec![missing, waiting[0].clone(), waiting[1].clone(), waiting[2].clone()]).unwrap();
    assert!(a.people().unwrap().iter().any(|(_, n)| n == "Blair, never sent"));
}

#[test]
fn a_value_nested_past_the_bound_is_refused_however_deep() {
    use automerge::transaction::Transactable;
    // Maps nested inside one of Blair's own entries, with a value in the deepest: an
    // entry's map has two objects above it, so six levels reach the bound of eight.
    for (levels, kept) in [(6, true), (7, false), (20_000, false)] {
        let mut a = store("Alex");
        let mut b = store("Blair");
        let theirs = b.add(helps("Blair's words")).unwrap();
        b.share(theirs.id).unwrap();
        sync_pair(&mut a, &mut b);
        let (entries, before) = (a.entries().unwrap(), history(&a));
        let mut forked = b.doc.fork();
        forked.set_actor(b.actor());
        let mut tx = forked.transaction();
        let mut obj = doc::find_entry(&tx, theirs.id).unwrap().unwrap();
        for _ in 0..levels {
            obj = tx.put_object(&obj, "deeper", automerge::ObjType::Map).unwrap();
        }
        tx.put(&obj, "value", "at the bottom").unwrap();
        tx.commit();
        let change = forked.get_last_local_change().unwrap().raw_bytes().to_vec();
        let mut message = b.sync_message(&mut sync::State::new()).unwrap().unwrap();
        message.changes = vec![change].into();
        let got = a.receive_sync_message(&mut sync::State::new(), message, &rules_for(&b));
        if kept {
            got.unwrap();
            assert_eq!(a.entries().unwrap().len(), 1, "{levels} levels: the entry is still read");
        } else {
            assert!(
                matches!(&got, Err(StoreError::Refused(RuleBreak::Malformed(m))) if m.contains("nested too deep")),
                "{levels} levels: {got:?}"
            );
            assert_eq!(a.entries().unwrap(), entries, "{levels} levels");
            assert_eq!(history(&a), before, "{levels} levels: nothing was kept");
        }
    }
}

#[test]
fn a_message_that_would_inflate_past_the_bound_is_refused_before_it_is_inflated() {
    use std::io::Write;
    let mut a = store("Alex");
    let mut b = store("Blair");
    sync_pair(&mut a, &mut b);
    let (entries, before) = (a.entries().unwrap(), history(&a));
    // A compressed change chunk whose DEFLATE data inflates to one byte more than the
    // bound: about 130 KiB on the wire.
    let mut deflater = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    let mut left = MAX_INFLATED + 1;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        deflater.write_all(&zeros[..n]).unwrap();
        left -= n as u64;
    }
    let deflated = deflater.finish().unwrap();
    let mut chunk = vec![0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 2];
    let mut len = deflated.len() as u64;
    loop {
        let byte = (len & 0x7f) as u8;
        len >>= 7;
        chunk.push(if len == 0 { byte } else { byte | 0x80 });
        if len == 0 {
            break;
        }
    }
    chunk.extend_from_slice(&deflated);
    let mut message = b.sync_message(&mut sync::State::new()).unwrap().unwrap();
    message.changes = vec![chunk].into();
    let refused = a.receive_sync_message(&mut sync::State::new(), message, &rules_for(&b));
    assert!(matches!(refused, Err(StoreError::TooBig { bytes }) if bytes == MAX_INFLATED + 1), "{refused:?}");
    assert_eq!(a.entries().unwrap(), entries);
    assert_eq!(history(&a), before, "nothing of it was kept");
}

#[test]
fn a_message_that_declares_too_many_operations_is_refused_before_any_is_built() {
    let mut a = store("Alex");
    let mut b = store("Blair");
    sync_pair(&mut a, &mut b);
    let (entries, before) = (a.entries().unwrap(), history(&a));
    // A change of about fifty bytes whose one column declares one operation more than
    // the bound, with a checksum that matches.
    let chunk = super::inflate::tests::change_declaring(MAX_DECLARED_OPS as i64 + 1);
    let mut message = b.sync_message(&mut sync::State::new()).unwrap().unwrap();
    message.changes = vec![chunk].into();
    let refused = a.receive_sync_message(&mut sync::State::new(), message, &rules_for(&b));
    assert!(matches!(refused, Err(StoreError::TooManyOps { rows }) if rows == MAX_DECLARED_OPS + 1), "{refused:?}");
    assert_eq!(a.entries().unwrap(), entries);
    assert_eq!(history(&a), before, "nothing of it was kept");
}

/// A shared agreement of `me`'s, made `now`, with one check-in.
fn shared_agreement_checked_in(me: PersonId, now: chrono::DateTime<chrono::Utc>) -> Entry {
    let mut agreement =
        Entry::create(Draft::Agreement { text: "Call if late".into() }, me, now, now.date_naive()).unwrap();
    agreement.shared = true;
    agreement.check_in(Outcome::Kept, Some("Thank you"), me, now, now.date_naive()).unwrap();
    agreement
}

/// A new entry is made in one batch; it must be the very entry, field for field, that
/// writing it key by key makes, check-ins and all.
#[test]
fn a_new_entry_made_in_one_batch_is_the_same_as_one_written_field_by_field() {
    use automerge::transaction::Transactable;
    let me = PersonId::new();
    let now = chrono::Utc::now();
    let agreement = shared_agreement_checked_in(me, now);
    let mut reflection = Entry::create(
        Draft::Reflection { feeling: "Worried".into(), needing: Some("Quiet".into()), understanding: None },
        me,
        now,
        now.date_naive(),
    )
    .unwrap();
    reflection.shared = true;
    for entry in [agreement, reflection] {
        let mut batched = doc::genesis();
        let mut tx = batched.transaction();
        doc::write_entry(&mut tx, &entry).unwrap();
        tx.commit();
        let mut by_field = doc::genesis();
        let mut tx = by_field.transaction();
        let entries = doc::root_map(&tx, doc::ENTRIES).unwrap();
        tx.put_object(&entries, entry.id.to_string(), automerge::ObjType::Map).unwrap();
        // The entry exists now, so this writes it key by key.
        doc::write_entry(&mut tx, &entry).unwrap();
        tx.commit();
        assert_eq!(batched.hydrate(None), by_field.hydrate(None));
        let obj = doc::find_entry(&batched, entry.id).unwrap().unwrap();
        assert_eq!(doc::read_entry(&batched, entry.id, &obj).unwrap(), entry);
    }
}

/// A check-in made on a shared agreement is written into the document whole too; it must
/// be the check-in that writing it key by key makes, and read back as made.
#[test]
fn a_check_in_made_whole_is_the_same_as_one_written_key_by_key() {
    use crate::model::fields::{Change, key};
    use automerge::transaction::Transactable;
    let me = PersonId::new();
    let now = chrono::Utc::now();
    let mut agreement = shared_agreement_checked_in(me, now);
    let before = agreement.clone();
    let later = now + chrono::Duration::minutes(5);
    let made = agreement.check_in(Outcome::Missed, Some("Sorry, the phone died"), me, later, now.date_naive()).unwrap();
    let change = Change::between(&before.to_fields(), &agreement.to_fields());
    let written = |make_it_first: bool| {
        let mut doc = doc::genesis();
        let mut tx = doc.transaction();
        doc::write_entry(&mut tx, &before).unwrap();
        let obj = doc::find_entry(&tx, before.id).unwrap().unwrap();
        if make_it_first {
            // The check-in's map exists, so the change writes it key by key.
            let Some((_, check_ins)) = tx.get(&obj, key::CHECK_INS).unwrap() else { panic!("no check-ins") };
            tx.put_object(&check_ins, made.id.to_string(), automerge::ObjType::Map).unwrap();
        }
        doc::write_change(&mut tx, &obj, &change).unwrap();
        tx.commit();
        doc
    };
    let (whole, by_key) = (written(false), written(true));
    assert_eq!(whole.hydrate(None), by_key.hydrate(None));
    let obj = doc::find_entry(&whole, agreement.id).unwrap().unwrap();
    assert_eq!(doc::read_entry(&whole, agreement.id, &obj).unwrap(), agreement);
}

/// The index learns what a change touched from the change's own operations.
#[test]
fn what_a_change_touched_is_read_from_its_operations() {
    use automerge::transaction::Transactable;
    let mut s = store("Alex");
    paired(&mut s);
    let a = s.add(Draft::Agreement { text: "Breakfast together".into() }).unwrap();
    let b = s.add(helps("Hearing from you")).unwrap();
    let untouched = s.add(helps("Not this one")).unwrap();
    for id in [a.id, b.id, untouched.id] {
        s.share(id).unwrap();
    }
    s.fold_outbox().unwrap();
    let heads = s.doc.get_heads();
    s.check_in(a.id, Outcome::Kept, None).unwrap();
    s.edit(b.id, helps("Hearing from you early")).unwrap();
    s.fold_outbox().unwrap();
    let touched = index::Touched::by(&s.doc, &s.doc.get_changes(&heads));
    assert_eq!(touched.entries, [a.id, b.id].into_iter().collect());
    assert!(!touched.people && !touched.whole);

    // The first send also writes the person's name.
    let mut fresh = store("Blair");
    paired(&mut fresh);
    let heads = fresh.doc.get_heads();
    let c = fresh.add(helps("A walk")).unwrap();
    fresh.share(c.id).unwrap();
    fresh.fold_outbox().unwrap();
    let touched = index::Touched::by(&fresh.doc, &fresh.doc.get_changes(&heads));
    assert_eq!(touched.entries, [c.id].into_iter().collect());
    assert!(touched.people);

    // A change to the root itself can't be placed: the index is rebuilt.
    let heads = s.doc.get_heads();
    let mut tx = s.doc.transaction();
    tx.put(automerge::ROOT, "elsewhere", 1).unwrap();
    tx.commit();
    assert!(index::Touched::by(&s.doc, &s.doc.get_changes(&heads)).whole);
}

/// Two phones whose pairing is saved, words not yet compared: `a` has three shares
/// waiting, `b` has none.
fn comparing_words(a: &mut Store, b: &mut Store, texts: [&str; 3]) -> Vec<EntryId> {
    let ids = texts.iter().map(|t| a.add(helps(t)).unwrap().id).collect::<Vec<_>>();
    for id in &ids {
        a.share(*id).unwrap();
    }
    let couple = uuid::Uuid::new_v4().simple().to_string();
    a.start_couple(&couple, "them").unwrap();
    b.start_couple(&couple, "them").unwrap();
    ids
}

#[test]
fn a_fold_staged_while_the_words_are_compared_is_sent_as_it_would_have_been() {
    let mut a = store("Alex");
    let mut b = store("Blair");
    let ids = comparing_words(&mut a, &mut b, ["Staged-1 a walk", "Staged-2 a call", "Staged-3 a note"]);
    let before = a.entries().unwrap();
    assert_eq!(a.stage_outbox().unwrap(), 3);
    assert!(a.is_staged().unwrap());
    assert!(contains(&a.document_bytes().unwrap(), "Staged-2"), "the fold is in the document");
    assert_eq!(a.stage_outbox().unwrap(), 0, "a document that holds something is not staged again");
    // Nothing about the entries changed for the person: they still wait.
    assert_eq!(a.entries().unwrap(), before);
    assert!(ids.iter().all(|id| a.get(*id).unwrap().waiting));
    assert_eq!(a.waiting_count().unwrap(), 3);
    assert_eq!(a.changes_since(&[]).unwrap(), 0, "the staged change is counted once, in the outbox");
    a.verify_index().unwrap();

    sync_pair(&mut a, &mut b);
    assert!(!a.is_staged().unwrap());
    assert_eq!(a.waiting_count().unwrap(), 0, "the shares left the outbox once sent");
    for id in &ids {
        let mine = a.get(*id).unwrap();
        assert!(mine.shared && !mine.waiting);
        assert_eq!(b.get(*id).unwrap(), mine, "the partner holds what was shared");
    }
    assert_eq!(a.heads(), b.heads());
    a.verify_index().unwrap();
    b.verify_index().unwrap();
}

#[test]
fn a_staged_share_kept_private_or_edited_leaves_no_trace_in_what_is_sent() {
    // Two connections to one file, as the window and the node have: the node stages, the
    // person acts in the window.
    let (dir, mut node) = on_disk("Alex");
    let mut window = Store::open_dir_without_passcode(dir.path()).unwrap();
    let mut b = store("Blair");
    let [kept, edited, sent] = comparing_words(
        &mut node,
        &mut b,
        ["Kept-7d1e not ready to say", "Edited-old-33a0", "Sent-c9b4 dinner on Friday"],
    )[..] else {
        panic!()
    };
    assert_eq!(node.stage_outbox().unwrap(), 3);
    let back = window.unshare(kept).unwrap();
    assert!(!back.partner_has_copy, "nothing had left the phone");
    assert!(!node.is_staged().unwrap(), "the fold is taken back whole");
    assert!(!contains(&node.document_bytes().unwrap(), "Kept-7d1e"));
    assert_eq!(node.stage_outbox().unwrap(), 2, "staged again");
    window.edit(edited, helps("Edited-new-5f21")).unwrap();
    assert!(!node.is_staged().unwrap());
    assert_eq!(node.stage_outbox().unwrap(), 2);

    sync_pair(&mut node, &mut b);
    let received = b.document_bytes().unwrap();
    // The search first finds what must be there.
    assert!(contains(&received, "Sent-c9b4") && contains(&received, "Edited-new-5f21"));
    assert!(!contains(&received, "Kept-7d1e"), "a share kept private while staged never left");
    assert!(!contains(&received, "Edited-old-33a0"), "nor the version an edit replaced");
    assert_eq!(b.get(sent).unwrap().body.main_text(), "Sent-c9b4 dinner on Friday");
    assert!(matches!(b.get(kept), Err(StoreError::NotFound(_))));
    assert!(!window.get(kept).unwrap().shared);
}

#[test]
fn a_version_an_edit_replaced_is_never_staged_again_while_the_node_stages() {
    // The node stages as often as it can while the person edits a waiting share in the
    // window, then keeps it private and shares it again: after each returns, what is
    // staged never holds the words it replaced or took back.
    let (dir, mut window) = on_disk("Alex");
    let mut b = store("Blair");
    let [id, ..] = comparing_words(&mut window, &mut b, ["Words-0", "Other-1", "Other-2"])[..] else { panic!() };
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut node = Store::open_dir_without_passcode(dir.path()).unwrap();
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                node.stage_outbox().unwrap();
            }
        });
        // The node stops when the person is done, or when an assertion fails.
        struct Stop<'a>(&'a std::sync::atomic::AtomicBool);
        impl Drop for Stop<'_> {
            fn drop(&mut self) {
                self.0.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }
        let stop = Stop(&done);
        let words = |round: usize| format!("Words-{round}-end");
        let wait_staged = |window: &mut Store| {
            let start = std::time::Instant::now();
            while !window.is_staged().unwrap() {
                assert!(start.elapsed() < std::time::Duration::from_secs(5), "the node stopped staging");
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        };
        for round in 1..=60 {
            window.edit(id, helps(&words(round))).unwrap();
            wait_staged(&mut window);
            let bytes = window.document_bytes().unwrap();
            assert!(!contains(&bytes, &words(round - 1)), "round {round}: the version the edit replaced is staged");
            // The search finds what is meant to be there.
            assert!(contains(&bytes, &words(round)), "round {round}");
        }
        // Kept private, and shared again with new words, over and over.
        for round in 61..=90 {
            window.unshare(id).unwrap();
            wait_staged(&mut window);
            let bytes = window.document_bytes().unwrap();
            assert!(!contains(&bytes, &words(round - 1)), "round {round}: a share kept private is staged");
            assert!(contains(&bytes, "Other-1"), "round {round}");
            window.edit(id, helps(&words(round))).unwrap();
            window.share(id).unwrap();
        }
        drop(stop);
    });
}

#[test]
fn words_that_did_not_match_after_a_staged_fold_leave_the_shares_waiting() {
    let mut a = store("Alex");
    let mut b = store("Blair");
    let ids = comparing_words(&mut a, &mut b, ["Wait-1", "Wait-2", "Wait-3"]);
    let before = a.entries().unwrap();
    a.stage_outbox().unwrap();
    a.cancel_couple("Blair").unwrap();
    assert!(!a.is_staged().unwrap());
    assert!(a.couple().unwrap().is_none(), "forgotten in the same transaction");
    assert_eq!(a.stage_outbox().unwrap(), 0, "nothing is staged without a pairing");
    assert_eq!(a.heads(), doc::genesis().get_heads(), "the document holds nothing again");
    assert!(a.past_documents().unwrap().is_empty(), "no pairing's document is kept: nothing was exchanged");
    assert_eq!(a.entries().unwrap(), before, "the shares wait for the next pairing");
    a.verify_index().unwrap();

    // Confirmed on this phone, then unpaired before anything synced: as without staging,
    // no document is kept and the shares that never left become private.
    let couple = uuid::Uuid::new_v4().simple().to_string();
    a.start_couple(&couple, "them").unwrap();
    a.stage_outbox().unwrap();
    a.end_couple("Blair").unwrap();
    assert!(a.past_documents().unwrap().is_empty());
    assert!(ids.iter().all(|id| !a.get(*id).unwrap().shared));
    assert_eq!(a.waiting_count().unwrap(), 0);
}

#[test]
fn a_whole_document_from_the_partner_is_taken_with_what_this_phone_made_ready() {
    // Both phones made their shares ready while the words were compared; A's whole
    // document reaches B, which holds shares of its own the document lacks.
    let mut a = store("Alex");
    let mut b = store("Blair");
    let ids_a = comparing_words(&mut a, &mut b, ["Whole-a1", "Whole-a2", "Whole-a3"]);
    let id_b = b.add(helps("Whole-b1")).unwrap().id;
    b.share(id_b).unwrap();
    assert_eq!(a.stage_outbox().unwrap(), 3);
    assert_eq!(b.stage_outbox().unwrap(), 1);
    let (a_sees_b, b_sees_a) = (rules_for(&b), rules_for(&a));
    let (mut sa, mut sb) = (sync::State::new(), sync::State::new());
    let mut wholes = 0;
    for _ in 0..10 {
        a.fold_outbox().unwrap();
        b.fold_outbox().unwrap();
        let to_b = a.sync_message(&mut sa).unwrap();
        let to_a = b.sync_message(&mut sb).unwrap();
        if to_b.is_none() && to_a.is_none() {
            break;
        }
        if let Some(m) = to_b {
            wholes += usize::from(is_whole_document(&m));
            let got = b.receive_sync_message(&mut sb, m, &b_sees_a).unwrap();
            if got.changes > 0 {
                assert!(ids_a.iter().all(|id| got.touched.entries.contains(id)), "{got:?}");
                assert!(!got.touched.entries.contains(&id_b), "B's own share did not arrive: {got:?}");
            }
        }
        if let Some(m) = to_a {
            a.receive_sync_message(&mut sa, m, &a_sees_b).unwrap();
        }
    }
    assert!(wholes > 0, "A sent its whole document");
    assert_eq!(a.heads(), b.heads());
    for s in [&mut a, &mut b] {
        s.verify_index().unwrap();
        let shared: Vec<_> = s.entries().unwrap().into_iter().filter(|e| e.shared && !e.waiting).collect();
        assert_eq!(shared.len(), 4, "{shared:?}");
    }
    assert_eq!(b.get(id_b).unwrap(), a.get(id_b).unwrap());
}

#[test]
fn an_entry_read_by_its_index_row_is_the_entry_the_document_holds() {
    let mut a = store("Alex");
    let mut b = store("Blair");
    let agreement = a.add(Draft::Agreement { text: "Text when running late".into() }).unwrap();
    a.share(agreement.id).unwrap();
    let need = a.add(helps("Plans said out loud")).unwrap();
    a.share(need.id).unwrap();
    let theirs = b.add(Draft::Transparency { text: "Dinner with Jo".into(), window: None }).unwrap();
    b.share(theirs.id).unwrap();
    sync_pair(&mut a, &mut b);
    // Both check in, one edits, and one sets an entry aside, which is personal.
    b.check_in(agreement.id, Outcome::Kept, Some("on time")).unwrap();
    a.check_in(agreement.id, Outcome::Missed, None).unwrap();
    a.edit(agreement.id, Draft::Agreement { text: "Call when running late".into() }).unwrap();
    a.archive(need.id).unwrap();
    sync_pair(&mut a, &mut b);
    for s in [&mut a, &mut b] {
        let in_doc = doc::entry_ids(&s.doc).unwrap();
        assert_eq!(in_doc.len(), 3);
        for (id, obj) in in_doc {
            let mut from_doc = doc::read_entry(&s.doc, id, &obj).unwrap();
            from_doc.archived = is_set_aside(&s.conn, id).unwrap();
            assert_eq!(s.get(id).unwrap(), from_doc);
        }
    }
    let agreement = a.get(agreement.id).unwrap();
    let Body::Agreement { check_ins, text, .. } = &agreement.body else { panic!("an agreement") };
    assert_eq!((text.as_str(), check_ins.len()), ("Call when running late", 2));
}

/// Lets two paired stores speak until A has a message with changes for B, and returns it
/// unreceived.
fn first_message_with_changes(
    a: &mut Store,
    b: &mut Store,
    sa: &mut sync::State,
    sb: &mut sync::State,
) -> sync::Message {
    loop {
        let to_a = b.sync_message(sb).unwrap().unwrap();
        a.receive_sync_message(sa, to_a, &rules_for(b)).unwrap();
        let to_b = a.sync_message(sa).unwrap().unwrap();
        if !to_b.changes.is_empty() {
            return to_b;
        }
        b.receive_sync_message(sb, to_b, &rules_for(a)).unwrap();
    }
}

#[test]
fn what_arrived_is_shown_as_listed_before_it_is_durable_and_names_after() {
    // B's node takes the message; B's window reads the same file on its own connection.
    let (dir, mut b) = on_disk("Blair");
    let window = std::cell::RefCell::new(Store::open_dir_without_passcode(dir.path()).unwrap());
    let mut a = store("Alex");
    let theirs = a.add(helps("Texts when running late")).unwrap().id;
    a.share(theirs).unwrap();
    let mine = b.add(Draft::Agreement { text: "Walks on Sunday".into() }).unwrap().id;
    b.share(mine).unwrap();
    sync_pair(&mut a, &mut b);
    // On B: my agreement set aside, and an edit of it still waiting.
    b.archive(mine).unwrap();
    b.edit(mine, Draft::Agreement { text: "Walks on Sunday morning".into() }).unwrap();
    // On A: an edit of A's entry, and a check-in on B's agreement.
    a.edit(theirs, helps("Texts-4c1d when running late, with a time")).unwrap();
    a.check_in(mine, Outcome::Kept, Some("Lovely-9e2b walk")).unwrap();
    a.fold_outbox().unwrap();
    let (mut sa, mut sb) = (sync::State::new(), sync::State::new());
    let to_b = first_message_with_changes(&mut a, &mut b, &mut sa, &mut sb);
    let shown = std::cell::RefCell::new(Vec::new());
    let show = |arrived: Arrived| {
        // Not on disk yet: the window's connection still reads the entry as it was.
        let before = window.borrow_mut().get(theirs).unwrap();
        assert_eq!(before.body.main_text(), "Texts when running late");
        shown.borrow_mut().push(arrived);
    };
    b.receive_sync_message_showing(&mut sb, to_b, &rules_for(&a), Some(&show)).unwrap();
    let shown = shown.into_inner();
    assert_eq!(shown.len(), 1);
    let arrived = &shown[0];
    assert!(!arrived.whole && !arrived.names && arrived.gone.is_empty());
    let by_id: HashMap<EntryId, &Entry> = arrived.entries.iter().map(|e| (e.id, e)).collect();
    assert_eq!(by_id.len(), 2);
    // Each as the journal now lists it: set aside kept, my waiting edit laid over.
    for id in [theirs, mine] {
        assert_eq!(*by_id[&id], window.borrow_mut().get(id).unwrap(), "shown as the journal lists it");
    }
    assert!(by_id[&mine].archived);
    assert_eq!(by_id[&theirs].body.main_text(), "Texts-4c1d when running late, with a time");
    let Body::Agreement { text, check_ins, .. } = &by_id[&mine].body else { panic!() };
    assert_eq!(text, "Walks on Sunday morning");
    assert_eq!(check_ins[0].note.as_deref(), Some("Lovely-9e2b walk"));
    assert!(by_id[&mine].waiting);

    // An entry taken back by its author is gone; a new name is shown once on disk, when
    // the window reads the names for itself.
    a.unshare(theirs).unwrap();
    a.init("Alexis").unwrap();
    a.fold_outbox().unwrap();
    let to_b = a.sync_message(&mut sa).unwrap().unwrap();
    let shown = std::cell::RefCell::new(Vec::new());
    let show = |arrived: Arrived| {
        assert!(window.borrow_mut().people().unwrap().iter().any(|(_, n)| n == "Alexis"), "on disk when shown");
        shown.borrow_mut().push(arrived);
    };
    b.receive_sync_message_showing(&mut sb, to_b, &rules_for(&a), Some(&show)).unwrap();
    let shown = shown.into_inner();
    assert_eq!(shown.len(), 1);
    assert!(shown[0].names);
    assert_eq!(shown[0].gone, vec![theirs]);
    assert!(window.borrow_mut().get(theirs).is_err());
}

#[test]
fn a_message_shown_but_not_committed_has_the_window_read_its_lists_again() {
    let mut a = store("Alex");
    let mut b = store("Blair");
    let id = a.add(helps("Calls-71fa at lunch")).unwrap().id;
    a.share(id).unwrap();
    sync_pair(&mut a, &mut b);
    a.edit(id, helps("Calls-71fa at lunch, or a text")).unwrap();
    a.fold_outbox().unwrap();
    let (mut sa, mut sb) = (sync::State::new(), sync::State::new());
    let to_b = first_message_with_changes(&mut a, &mut b, &mut sa, &mut sb);
    let shown = std::cell::RefCell::new(Vec::new());
    let show = |arrived: Arrived| shown.borrow_mut().push(arrived);
    b.inject_failure(Some(FailPoint::BeforeReceivedCommit));
    let failed = b.receive_sync_message_showing(&mut sb, to_b, &rules_for(&a), Some(&show));
    assert!(matches!(failed, Err(StoreError::Injected(FailPoint::BeforeReceivedCommit))), "{failed:?}");
    let shown = shown.into_inner();
    assert_eq!(shown.len(), 2, "{shown:?}");
    assert_eq!(shown[0].entries[0].body.main_text(), "Calls-71fa at lunch, or a text");
    assert!(shown[1].whole, "then the lists are read again, from what is on disk");
    assert_eq!(b.get(id).unwrap().body.main_text(), "Calls-71fa at lunch");
    sync_pair(&mut a, &mut b);
    assert_eq!(b.get(id).unwrap().body.main_text(), "Calls-71fa at lunch, or a text");
}

/// A's agreement, shared with B with `days` check-ins on it ("walk-3-by the river").
fn walks_on_sunday(a: &mut Store, b: &mut Store, days: usize) -> EntryId {
    let id = a.add(Draft::Agreement { text: "Walks on Sunday".into() }).unwrap().id;
    a.share(id).unwrap();
    for day in 0..days {
        a.check_in(id, Outcome::Kept, Some(&format!("walk-{day}-by the river"))).unwrap();
    }
    sync_pair(a, b);
    id
}

#[test]
fn a_long_entry_already_opened_is_read_again_once_its_row_changed() {
    // B's node and B's window on one file; an agreement long enough that its row is
    // kept opened.
    let (dir, mut b) = on_disk("Blair");
    let mut window = Store::open_dir_without_passcode(dir.path()).unwrap();
    let mut a = store("Alex");
    let id = walks_on_sunday(&mut a, &mut b, 40);
    let count = |s: &mut Store| match s.get(id).unwrap().body {
        Body::Agreement { check_ins, .. } => check_ins.len(),
        _ => panic!("not an agreement"),
    };
    assert_eq!(count(&mut window), 40);
    assert!(window.opened.borrow().holds(id), "the row is kept opened");
    // The node writes the row: the window reads it again.
    b.check_in(id, Outcome::Kept, Some("mine-0b3f")).unwrap();
    b.fold_outbox().unwrap();
    assert_eq!(count(&mut window), 41);
    assert_eq!(count(&mut b), 41);
    // A message whose index row was written and then rolled back: the row on disk is the
    // one from before, and that is what is read.
    a.check_in(id, Outcome::Missed, Some("theirs-61c9")).unwrap();
    a.fold_outbox().unwrap();
    let (mut sa, mut sb) = (sync::State::new(), sync::State::new());
    let to_b = first_message_with_changes(&mut a, &mut b, &mut sa, &mut sb);
    b.inject_failure(Some(FailPoint::BeforeReceivedCommit));
    assert!(b.receive_sync_message(&mut sb, to_b, &rules_for(&a)).is_err());
    assert_eq!(count(&mut b), 41);
    assert_eq!(count(&mut window), 41);
    sync_pair(&mut a, &mut b);
    assert_eq!(count(&mut b), 42);
    assert_eq!(count(&mut window), 42);
}

#[test]
fn my_name_goes_into_each_new_shared_document() {
    let names = |s: &mut Store| s.people().unwrap().into_iter().map(|(_, n)| n).collect::<Vec<_>>();
    let mut a = store("Alex");
    let mut b = store("Blair");
    let id = a.add(helps("Texts when running late")).unwrap().id;
    a.share(id).unwrap();
    sync_pair(&mut a, &mut b);
    assert!(names(&mut b).contains(&"Alex".to_owned()));
    // A new pairing starts an empty document: the name goes in again with what is sent.
    a.end_couple("Blair").unwrap();
    let mut c = store("Casey");
    let id = a.add(helps("A call at lunch")).unwrap().id;
    a.share(id).unwrap();
    sync_pair(&mut a, &mut c);
    assert!(names(&mut c).contains(&"Alex".to_owned()), "{:?}", names(&mut c));
    // A staged fold taken back takes the name with it; the next fold writes it again.
    let mut d = store("Dee");
    a.end_couple("Casey").unwrap();
    let [first, ..] = comparing_words(&mut a, &mut d, ["Staged-1", "Staged-2", "Staged-3"])[..] else { panic!() };
    assert_eq!(a.stage_outbox().unwrap(), 3);
    a.edit(first, helps("Staged-1, new words")).unwrap();
    assert!(!a.is_staged().unwrap());
    sync_pair(&mut a, &mut d);
    assert!(names(&mut d).contains(&"Alex".to_owned()), "{:?}", names(&mut d));
}

#[test]
fn each_check_in_is_its_own_index_row_and_a_journal_from_before_is_indexed_again() {
    let (dir, mut b) = on_disk("Blair");
    let mut a = store("Alex");
    let id = walks_on_sunday(&mut a, &mut b, 20);
    a.check_in(id, Outcome::Missed, Some("rain-5e21")).unwrap();
    sync_pair(&mut a, &mut b);
    let key = id.as_uuid().as_bytes().to_vec();
    let head: Vec<u8> = b
        .conn
        .query_row("SELECT unseal('shared_index', id, sealed) FROM shared_index WHERE id = ?1", [&key], |r| r.get(0))
        .unwrap();
    assert!(contains(&head, "Walks on Sunday"), "the agreement's own row");
    assert!(!contains(&head, "rain-5e21") && !contains(&head, "walk-3-by"), "holds none of its check-ins");
    let rows: Vec<Vec<u8>> = {
        let mut stmt = b.conn.prepare("SELECT unseal('shared_check_ins', id, sealed) FROM shared_check_ins").unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    };
    assert_eq!(rows.len(), 21);
    assert_eq!(rows.iter().filter(|r| contains(r, "rain-5e21")).count(), 1, "the new check-in is one row");
    let listed = b.get(id).unwrap();
    b.verify_index().unwrap();

    // A journal written before check-ins had rows of their own: the index is made again
    // from the document when it opens.
    drop(b);
    let conn = rusqlite::Connection::open(dir.path().join(crate::store::DB_FILE)).unwrap();
    conn.execute_batch("DROP TABLE shared_check_ins; PRAGMA user_version = 3;").unwrap();
    drop(conn);
    let mut b = Store::open_dir_without_passcode(dir.path()).unwrap();
    assert_eq!(b.get(id).unwrap(), listed);
    b.verify_index().unwrap();
}
