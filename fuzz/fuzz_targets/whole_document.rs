//! A first sync that hands over the partner's whole document, with the input written over
//! part of it. Taken whole only if every change in it keeps the rules; otherwise refused,
//! and nothing of it kept.
#![no_main]

use automerge::sync::State;
use libfuzzer_sys::fuzz_target;
use steady_fuzz::{Mine, assert_only_what_the_rules_allow, phones};

fuzz_target!(|data: &[u8]| {
    let phones = phones().lock().unwrap_or_else(|p| p.into_inner());
    let mut doc = phones.blair_doc.clone();
    if let Some((&at, patch)) = data.split_first() {
        let at = usize::from(at) * doc.len() / 256;
        let end = (at + patch.len()).min(doc.len());
        doc[at..end].copy_from_slice(&patch[..end - at]);
        doc.extend_from_slice(&patch[end - at..]);
    }
    let (mut alex, _dir) = phones.alex();
    let Ok(Some(mut message)) = alex.sync_message(&mut State::new()) else { return };
    message.changes = vec![doc].into();
    let before = alex.document_bytes().unwrap();
    let mine = Mine::of(&mut alex, phones.alex_person);
    if alex.receive_sync_message(&mut State::new(), message, &phones.rules).is_err() {
        assert_eq!(alex.document_bytes().unwrap(), before, "a refused message changed the document");
    } else {
        assert_only_what_the_rules_allow(&mut alex, &mine, &phones);
    }
    alex.verify_index().expect("the index matches the document");
});
