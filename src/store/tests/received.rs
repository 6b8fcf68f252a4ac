//! What the partner's phone sends: two journals merging, compaction, and the bounds and
//! rules a hostile phone meets.

use super::*;

/// Sends `changes` from `b` to `a` in one message, and checks that `a` refuses it and
/// keeps nothing of it: its entries, its history and its index as they were. Returns
/// why it was refused.
fn refused_whole(a: &mut Store, b: &mut Store, changes: Vec<Vec<u8>>) -> StoreError {
    let (entries, before) = (a.entries().unwrap(), history(a));
    let mut message = b.sync_message(&mut sync::State::new()).unwrap().unwrap();
    message.changes = changes.into();
    let refused = a.receive_sync_message(&mut sync::State::new(), message, &rules_for(b));
    let Err(why) = refused else { panic!("accepted") };
    assert_eq!(a.entries().unwrap(), entries, "the entries changed");
    assert_eq!(history(a), before, "the document kept some of it");
    a.verify_index().unwrap();
    why
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

        let mut forked = b.doc.fork();
        if what == "sends a change under my actor" {
            forked.set_actor(a.actor());
        }
        let me = a.me().unwrap().id;
        let mut tx = forked.transaction();
        hostile(&mut tx, &mine, me);
        tx.commit();
        let change = forked.get_last_local_change().unwrap().raw_bytes().to_vec();
        let refused = refused_whole(&mut a, &mut b, vec![change]);
        assert!(matches!(refused, StoreError::Refused(_)), "{what}: {refused:?}");
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

/// A compressed change chunk whose DEFLATE data inflates to one byte more than the bound:
/// about 130 KiB on the wire.
fn inflation_bomb() -> Vec<u8> {
    use std::io::Write;
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
    chunk
}

#[test]
fn a_message_that_would_inflate_past_the_bound_is_refused_before_it_is_inflated() {
    let mut a = store("Alex");
    let mut b = store("Blair");
    sync_pair(&mut a, &mut b);
    let bomb = inflation_bomb();
    // Whole, or cut into pieces that Automerge joins before it reads them: each piece on
    // its own holds no whole chunk.
    let (head, tail) = bomb.split_at(20);
    let (middle, tail) = tail.split_at(tail.len() / 2);
    for pieces in [vec![bomb.clone()], vec![head.to_vec(), middle.to_vec(), tail.to_vec()]] {
        let refused = refused_whole(&mut a, &mut b, pieces);
        assert!(matches!(refused, StoreError::TooBig { bytes } if bytes == MAX_INFLATED + 1), "{refused:?}");
    }
}

#[test]
fn a_message_that_declares_too_many_operations_is_refused_before_any_is_built() {
    let mut a = store("Alex");
    let mut b = store("Blair");
    sync_pair(&mut a, &mut b);
    // A change of about fifty bytes whose one column declares one operation more than
    // the bound, with a checksum that matches.
    let chunk = super::inflate::tests::change_declaring(MAX_DECLARED_OPS as i64 + 1);
    let refused = refused_whole(&mut a, &mut b, vec![chunk]);
    assert!(matches!(refused, StoreError::TooManyOps { rows } if rows == MAX_DECLARED_OPS + 1), "{refused:?}");
}

/// A message whose summary of what the partner has would make Automerge divide by zero (a
/// Bloom filter with no bits), or allocate without bound (billions of probes), when it
/// makes its next reply, is refused before Automerge sees it, and the reply is made.
#[test]
fn a_summary_automerge_would_crash_on_is_refused_before_it_sees_it() {
    let mut a = store("Alex");
    let mut b = store("Blair");
    sync_pair(&mut a, &mut b);
    let before = history(&a);
    // Entries, bits per entry, probes: LEB128 each, then the bits.
    let no_bits: &[u8] = &[1, 0, 7];
    let endless_probes: &[u8] = &[1, 10, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0];
    for bloom in [no_bits, endless_probes] {
        let mut message = b.sync_message(&mut sync::State::new()).unwrap().unwrap();
        message.have = vec![sync::Have { last_sync: Vec::new(), bloom: sync::BloomFilter::try_from(bloom).unwrap() }];
        let mut state = sync::State::new();
        let refused = a.receive_sync_message(&mut state, message, &rules_for(&b));
        assert!(matches!(refused, Err(StoreError::BadSyncMessage(_))), "{refused:?}");
        assert_eq!(history(&a), before, "nothing of it was kept");
        // The session goes on to make its reply without a panic.
        let replied = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| a.sync_message(&mut state)));
        assert!(replied.is_ok_and(|r| r.is_ok()), "the reply after a refused summary");
    }
}

/// The changes `s` made since `heads`, as the bytes a sync message carries.
fn changes_since(s: &Store, heads: &[automerge::ChangeHash]) -> Vec<Vec<u8>> {
    s.doc.get_changes(heads).iter().map(|c| c.raw_bytes().to_vec()).collect()
}

fn holds(s: &mut Store, text: &str) -> bool {
    s.entries().unwrap().iter().any(|e| e.body.main_text().contains(text))
}

/// A message that mixes a valid change (a new entry of the partner's own) with a hostile
/// one (an edit of mine) is refused whole: the valid part is not kept either. Sent on
/// its own, the same valid change is kept, so the search for it can find it.
#[test]
fn a_message_that_mixes_a_valid_change_with_a_hostile_one_is_refused_whole() {
    use automerge::transaction::Transactable;
    let mut a = store("Alex");
    let mut b = store("Blair");
    let mine = a.add(helps("A call when I'm late")).unwrap();
    a.share(mine.id).unwrap();
    sync_pair(&mut a, &mut b);

    let heads = b.doc.get_heads();
    let theirs = b.add(helps("Good-part-4c2e, a walk together")).unwrap();
    b.share(theirs.id).unwrap();
    b.fold_outbox().unwrap();
    let valid = changes_since(&b, &heads);
    assert!(!valid.is_empty());
    let mut forked = b.doc.fork();
    let mut tx = forked.transaction();
    let obj = doc::find_entry(&tx, mine.id).unwrap().unwrap();
    tx.put(&obj, "text", "Rewritten by someone else").unwrap();
    tx.commit();
    let hostile = forked.get_last_local_change().unwrap().raw_bytes().to_vec();

    let refused = refused_whole(&mut a, &mut b, [valid.clone(), vec![hostile]].concat());
    assert!(matches!(refused, StoreError::Refused(_)), "{refused:?}");
    assert!(!holds(&mut a, "Good-part-4c2e"), "the valid part of a refused message was kept");

    let mut message = b.sync_message(&mut sync::State::new()).unwrap().unwrap();
    message.changes = valid.into();
    a.receive_sync_message(&mut sync::State::new(), message, &rules_for(&b)).unwrap();
    assert!(holds(&mut a, "Good-part-4c2e"), "on its own, the valid change is kept");
}

/// A first sync whose whole document carries a forged entry in my name is refused whole:
/// the partner's own entries in it are not kept either. The same document without the
/// forgery is taken whole.
#[test]
fn a_hostile_whole_document_at_the_first_sync_is_refused_whole() {
    let mut a = store("Alex");
    let mut b = store("Blair");
    let couple = uuid::Uuid::new_v4().simple().to_string();
    a.start_couple(&couple, "Blair").unwrap();
    b.start_couple(&couple, "Alex").unwrap();
    let theirs = b.add(helps("Good-whole-7b10, tea on the porch")).unwrap();
    b.share(theirs.id).unwrap();
    b.fold_outbox().unwrap();

    let mut forked = b.doc.fork();
    let me = a.me().unwrap().id;
    let now = Utc.with_ymd_and_hms(2026, 4, 1, 12, 0, 0).unwrap();
    let mut forged = Entry::create(helps("Forged-9d3e, words I never wrote"), me, now, now.date_naive()).unwrap();
    forged.shared = true;
    let mut tx = forked.transaction();
    doc::write_entry(&mut tx, &forged).unwrap();
    tx.commit();

    let whole = forked.save();
    let mut probe = b.sync_message(&mut sync::State::new()).unwrap().unwrap();
    probe.changes = vec![whole.clone()].into();
    assert!(is_whole_document(&probe), "it goes the first sync's way");
    let refused = refused_whole(&mut a, &mut b, vec![whole]);
    assert!(matches!(refused, StoreError::Refused(_)), "{refused:?}");
    assert!(!holds(&mut a, "Good-whole-7b10"), "the partner's entry in a refused document was kept");
    assert!(!holds(&mut a, "Forged-9d3e"));

    let mut message = b.sync_message(&mut sync::State::new()).unwrap().unwrap();
    message.changes = vec![b.doc.save()].into();
    a.receive_sync_message(&mut sync::State::new(), message, &rules_for(&b)).unwrap();
    assert!(holds(&mut a, "Good-whole-7b10"), "without the forgery, the document is taken");
}

/// What the partner's phone may add is bounded: once its changes would pass the quota,
/// the message is refused whole and nothing of it is kept. What came before stays, and
/// this phone's own writing is not limited by it.
#[test]
fn the_partner_may_add_only_up_to_a_quota() {
    let mut a = store("Alex");
    let mut b = store("Blair");
    sync_pair(&mut a, &mut b);
    a.set_partner_quota(6 * 1024);
    let mut kept = 0;
    let refused = loop {
        assert!(kept < 200, "the quota never applied");
        let heads = b.doc.get_heads();
        let theirs = b.add(helps(&format!("Quota-{kept:03}: {}", "a walk and a talk, ".repeat(16)))).unwrap();
        b.share(theirs.id).unwrap();
        b.fold_outbox().unwrap();
        let changes = changes_since(&b, &heads);
        let mut message = b.sync_message(&mut sync::State::new()).unwrap().unwrap();
        message.changes = changes.clone().into();
        let (entries, before) = (a.entries().unwrap(), history(&a));
        match a.receive_sync_message(&mut sync::State::new(), message, &rules_for(&b)) {
            Ok(_) => kept += 1,
            Err(e) => {
                assert_eq!(a.entries().unwrap(), entries, "nothing of the message past the quota is kept");
                assert_eq!(history(&a), before);
                break e;
            }
        }
    };
    assert!(matches!(refused, StoreError::OverQuota { quota: 6144 }), "{refused:?}");
    assert!(refused.to_string().contains("more than Steady keeps of a partner's writing (6 KiB)"), "{refused}");
    assert!(kept >= 3, "some came before the quota: {kept}");
    assert!(holds(&mut a, "Quota-000") && holds(&mut a, &format!("Quota-{:03}", kept - 1)));
    assert!(!holds(&mut a, &format!("Quota-{kept:03}")));
    // This phone's own writing is not the partner's.
    for n in 0..30 {
        let mine = a.add(helps(&format!("Mine-{n}: {}", "a walk and a talk, ".repeat(16)))).unwrap();
        a.share(mine.id).unwrap();
    }
    assert_eq!(a.fold_outbox().unwrap().len(), 30);
    a.verify_index().unwrap();
}

/// A shared document stored bigger than Steady opens (one grown before the quota, here
/// a change too big to be one): the journal still opens and lists every entry from its
/// index, refuses what would need the document, and the pairing ends without loading it.
/// Loading would fail on the first byte of the oversized change, so each step passing is
/// also proof that it was never read.
#[test]
fn a_document_too_big_to_open_is_listed_and_set_apart_without_being_loaded() {
    let (dir, mut a) = on_disk("Alex");
    let mut b = store("Sam");
    let mine = a.add(helps("Alex-shared-7Q2")).unwrap();
    a.share(mine.id).unwrap();
    let kept_private = a.add(helps("Alex-private-7Q2")).unwrap();
    let theirs = b.add(helps("Sam-shared-7Q2")).unwrap();
    b.share(theirs.id).unwrap();
    sync_pair(&mut a, &mut b);
    let listed = a.entries().unwrap();
    assert_eq!(listed.len(), 3);
    a.append_unchecked_change(&vec![0x5a; MAX_OPENED as usize + 1]).unwrap();
    drop(a);

    let key = crate::vault::open_without_passcode(dir.path()).unwrap();
    let (mut a, at_launch) = Store::open_dir_with_entries(dir.path(), &key).expect("it opens");
    let bytes = a.document_too_big().expect("too big to open");
    assert!(bytes > MAX_OPENED, "{bytes}");
    assert_eq!(at_launch, listed, "every entry is listed from the index");
    assert_eq!(a.entries().unwrap(), listed);
    // What needs the document says why, and writes nothing.
    let refused = a.add(helps("written while too big")).unwrap_err();
    assert!(matches!(refused, StoreError::DocumentTooBig { .. }), "{refused:?}");
    assert!(refused.to_string().contains("end the pairing (unpair)"), "{refused}");
    assert!(matches!(a.sync_message(&mut sync::State::new()), Err(StoreError::DocumentTooBig { .. })));
    assert!(matches!(a.document_bytes(), Err(StoreError::DocumentTooBig { .. })));
    assert_eq!(a.entries().unwrap(), listed);
    // Settings still save: ending a pairing forgets the partner's.
    a.set_setting("test.kept", "yes").unwrap();

    a.end_couple("Sam").unwrap();
    assert_eq!(a.document_too_big(), None);
    let after = a.entries().unwrap();
    let find = |id: EntryId| after.iter().find(|e| e.id == id).cloned();
    let mine_now = find(mine.id).expect("my shared entry is back");
    assert!(!mine_now.shared && mine_now.shared_before, "{mine_now:?}");
    assert_eq!(mine_now.body.main_text(), "Alex-shared-7Q2");
    assert_eq!(find(kept_private.id).unwrap().body.main_text(), "Alex-private-7Q2");
    assert!(find(theirs.id).is_none(), "the partner's entry went with the pairing");
    let past = a.past_documents().unwrap();
    assert_eq!(past.len(), 1);
    assert_eq!(past[0].partner, "Sam");
    let kept: Vec<String> = a.past_entries(past[0].id).unwrap().iter().map(|e| e.body.main_text().to_owned()).collect();
    assert_eq!(kept, vec!["Sam-shared-7Q2".to_string()], "the past pairing keeps what Sam shared");
    let stored: i64 = a.conn.query_row("SELECT sum(length(bytes)) FROM doc_chunks", [], |r| r.get(0)).unwrap();
    assert!(stored < 4096, "the oversized rows are gone: {stored} bytes left");
    a.add(helps("written after")).unwrap();
    drop(a);
    let (mut again, _) = Store::open_dir_with_entries(dir.path(), &key).unwrap();
    assert_eq!(again.document_too_big(), None);
    assert!(again.entries().unwrap().iter().any(|e| e.body.main_text() == "written after"));
}

/// A past pairing's document stored bigger than Steady opens is not loaded to be shown,
/// and it can still be deleted.
#[test]
fn a_past_pairing_too_big_to_open_says_so_and_can_be_deleted() {
    let mut a = store("Alex");
    let (now, _) = a.now();
    couple::put_past_document(&a.conn, "Sam", now, &vec![0x5a; MAX_OPENED as usize + 1]).unwrap();
    let id = a.past_documents().unwrap()[0].id;
    let refused = a.past_entries(id).unwrap_err();
    assert!(matches!(refused, StoreError::PastDocumentTooBig { .. }), "{refused:?}");
    assert!(refused.to_string().contains("can still be deleted"), "{refused}");
    a.delete_past_document(id).unwrap();
    assert!(a.past_documents().unwrap().is_empty());
}
