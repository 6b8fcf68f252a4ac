//! Entries, sharing and the outbox: what a share holds back until it is sent, edits that
//! wait, setting aside, and the end of a pairing.

use super::*;

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
    s.writing(|w| {
        w.change_doc(|tx, _| doc::write_entry(tx, &written))?;
        rows::delete(&w.sql, Table::Private, e.id)
    })
    .unwrap();
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

/// A backup holds what the partner wrote as this phone kept it, which this phone's own
/// limits never checked: a long entry of theirs must not make my backup unrestorable.
#[test]
fn a_backup_with_a_long_entry_of_the_partners_restores_whole() {
    let me = Person::new(PersonId::new(), "Alex").unwrap();
    let partner = PersonId::new();
    let now = chrono::Utc::now();
    let mine = Entry::create(helps("Plans said out loud"), me.id, now, now.date_naive()).unwrap();
    let mut fields = Entry::create(helps("short"), partner, now, now.date_naive()).unwrap().to_fields();
    let long = "a".repeat(5_000);
    fields.insert("text".into(), serde_json::Value::String(long.clone()));
    let theirs = Entry::from_fields(EntryId::new(), true, fields).unwrap();
    assert!(theirs.validate().is_err(), "longer than this phone's limit");
    let mut s = Store::open_in_memory().unwrap();
    let people = vec![(me.id, me.name.clone()), (partner, "Sam".to_owned())];
    s.import(me.clone(), &people, &[mine.clone(), theirs.clone()]).unwrap();
    assert_eq!(s.get(mine.id).unwrap().body, mine.body, "my entry is back");
    let past = s.past_documents().unwrap();
    let kept = s.past_entries(past[0].id).unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].body.main_text(), long, "theirs is kept whole, apart");
}

/// Blair's phone ended the pairing when Alex's phone was lost, then continues it with
/// Alex's restored phone: the document comes back with its history; Blair's entries in it
/// are shared again, not twice; one Blair edited while it was private stays private,
/// under a new id; a share made meanwhile still waits, for the continued document.
#[test]
fn continuing_a_past_pairing_brings_its_document_back_and_takes_back_the_copies() {
    let mut a = store("Alex");
    let mut b = store("Blair");
    let kept = b.add(helps("KEPT-6a1: a call at lunch")).unwrap();
    let edited = b.add(helps("EDITED-6a1: a walk on Sundays")).unwrap();
    let alex = a.add(helps("ALEX-6a1: a note when late")).unwrap();
    for id in [kept.id, edited.id] {
        b.share(id).unwrap();
    }
    a.share(alex.id).unwrap();
    sync_pair(&mut a, &mut b);
    let before = history(&b);
    b.end_couple("Alex").unwrap();
    b.edit(edited.id, helps("EDITED-6a1: a walk on Sundays, and Saturdays")).unwrap();
    let meanwhile = b.add(helps("MEANWHILE-6a1: tea after work")).unwrap();
    b.share(meanwhile.id).unwrap();
    let past = b.continuable().unwrap();
    assert_eq!(past.len(), 1, "{past:?}");
    assert_eq!(past[0].person, a.me().unwrap().id);

    b.continue_couple("ffeeddccbbaa99887766554433221100", past[0].past, "Alex").unwrap();
    assert_eq!(history(&b), before, "the same document, history and all");
    assert!(b.past_documents().unwrap().is_empty());
    let listed = b.entries().unwrap();
    let texts = |pred: &dyn Fn(&Entry) -> bool| -> Vec<String> {
        let mut t: Vec<String> = listed.iter().filter(|e| pred(e)).map(|e| e.body.main_text().to_owned()).collect();
        t.sort();
        t
    };
    assert_eq!(
        texts(&|e| e.shared && !e.waiting),
        ["ALEX-6a1: a note when late", "EDITED-6a1: a walk on Sundays", "KEPT-6a1: a call at lunch"],
        "{listed:#?}"
    );
    assert_eq!(texts(&|e| e.waiting), ["MEANWHILE-6a1: tea after work"]);
    let private = texts(&|e| !e.shared);
    assert_eq!(private, ["EDITED-6a1: a walk on Sundays, and Saturdays"], "{listed:#?}");
    assert!(listed.iter().all(|e| e.id != edited.id || e.shared), "the edited copy has an id of its own");
    assert_eq!(listed.len(), 5, "nothing twice: {listed:#?}");
}
