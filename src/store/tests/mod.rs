//! The store's own tests, by concern: entries and sharing, what the partner's phone
//! sends, and the shared document's bookkeeping. Each works on a real store, in memory
//! or on disk, through the same calls the app and the sync session make.

use super::entries::is_set_aside;
use super::incoming::is_whole_document;
use super::*;
use crate::model::{Body, SafetySide};
use automerge::ReadDoc;
use chrono::TimeZone;

mod document;
mod received;
mod rekey;
mod sharing;

pub(super) fn store(name: &str) -> Store {
    let mut s = Store::open_in_memory().unwrap();
    s.init(name).unwrap();
    s
}

/// A journal in a data directory of its own, set up for `name`, as the phone keeps it: a
/// second connection (the window's, the node's) can open the same directory.
pub(super) fn on_disk(name: &str) -> (tempfile::TempDir, Store) {
    let dir = tempfile::TempDir::new().unwrap();
    let mut s = Store::open_dir_without_passcode(dir.path()).unwrap();
    s.init(name).unwrap();
    (dir, s)
}

pub(super) fn helps(text: &str) -> Draft {
    Draft::SafetyNeed { side: SafetySide::Helps, text: text.into() }
}

/// Every change the shared document holds: the same set is the same document, however it
/// is laid out in memory.
pub(super) fn history(s: &Store) -> std::collections::BTreeSet<automerge::ChangeHash> {
    s.doc.get_changes(&[]).iter().map(|c| c.hash()).collect()
}

pub(super) fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Starts a pairing on one phone, as pairing does once the words are confirmed.
pub(super) fn paired(s: &mut Store) {
    s.start_couple("00112233445566778899aabbccddeeff", "Sam").unwrap();
}

/// The plaintext of the one waiting outbox row, as it is sealed on disk.
pub(super) fn waiting_row(s: &Store) -> Vec<u8> {
    s.conn.query_row("SELECT unseal('outbox', id, sealed) FROM outbox", [], |r| r.get(0)).unwrap()
}

/// How `s`'s partner knows it: its person and its device.
pub(super) fn rules_for(s: &Store) -> PartnerRules {
    PartnerRules { person: s.me().unwrap().id, actors: vec![s.doc.get_actor().clone()], history: vec![] }
}

/// A shared agreement of `me`'s, made `now`, with one check-in.
pub(super) fn shared_agreement_checked_in(me: PersonId, now: chrono::DateTime<chrono::Utc>) -> Entry {
    let mut agreement =
        Entry::create(Draft::Agreement { text: "Call if late".into() }, me, now, now.date_naive()).unwrap();
    agreement.shared = true;
    agreement.check_in(Outcome::Kept, Some("Thank you"), me, now, now.date_naive()).unwrap();
    agreement
}

/// Two phones whose pairing is saved, words not yet compared: `a` has three shares
/// waiting, `b` has none.
pub(super) fn comparing_words(a: &mut Store, b: &mut Store, texts: [&str; 3]) -> Vec<EntryId> {
    let ids = texts.iter().map(|t| a.add(helps(t)).unwrap().id).collect::<Vec<_>>();
    for id in &ids {
        a.share(*id).unwrap();
    }
    let couple = uuid::Uuid::new_v4().simple().to_string();
    a.start_couple(&couple, "them").unwrap();
    b.start_couple(&couple, "them").unwrap();
    ids
}

/// Lets two paired stores speak until A has a message with changes for B, and returns it
/// unreceived.
pub(super) fn first_message_with_changes(
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

/// A's agreement, shared with B with `days` check-ins on it ("walk-3-by the river").
pub(super) fn walks_on_sunday(a: &mut Store, b: &mut Store, days: usize) -> EntryId {
    let id = a.add(Draft::Agreement { text: "Walks on Sunday".into() }).unwrap().id;
    a.share(id).unwrap();
    for day in 0..days {
        a.check_in(id, Outcome::Kept, Some(&format!("walk-{day}-by the river"))).unwrap();
    }
    sync_pair(a, b);
    id
}

/// Pairs two stores if they are not yet, then runs the sync protocol, folding each
/// outbox first as the session does, until neither has anything to say.
pub(super) fn sync_pair(a: &mut Store, b: &mut Store) {
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

/// The journal's header is read through a descriptor held for the process's life (see
/// `open::check_file`); one for a journal that is gone is let go at the next open, so a
/// process that makes and deletes many journals does not run out of descriptors.
#[test]
fn a_journal_that_is_gone_holds_no_descriptor_after_the_next_open() {
    let gone: Vec<PathBuf> = (0..3)
        .map(|_| {
            let dir = tempfile::tempdir().unwrap();
            Store::open_dir_without_passcode(dir.path()).unwrap().init("Alex").unwrap();
            drop(Store::open_dir_without_passcode(dir.path()).unwrap());
            let path = dir.path().join(DB_FILE);
            assert!(super::open::is_held(&path), "held while the journal is there");
            path
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    Store::open_dir_without_passcode(dir.path()).unwrap().init("Sam").unwrap();
    drop(Store::open_dir_without_passcode(dir.path()).unwrap());
    assert!(super::open::is_held(&dir.path().join(DB_FILE)));
    for path in &gone {
        assert!(!super::open::is_held(path), "{} is gone, and its descriptor too", path.display());
    }
}
