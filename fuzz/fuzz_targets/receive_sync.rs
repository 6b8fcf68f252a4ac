//! Bytes as a sync message from the partner's phone, through the real receive path:
//! `Store::receive_sync_message` on a paired journal (the document, its patch log, the
//! rules, the index rows and the chunk log). The input overwrites part of a well-formed
//! message from the partner, so most of it parses and reaches the store. Whatever it is,
//! the store keeps it whole or refuses it with an error and stays as it was; it never
//! panics.
#![no_main]

use automerge::sync::{Message, State};
use libfuzzer_sys::fuzz_target;
use steady_fuzz::{Mine, assert_only_what_the_rules_allow, phones};

fuzz_target!(|data: &[u8]| {
    let phones = phones().lock().unwrap_or_else(|p| p.into_inner());
    let (mut alex, _dir) = phones.alex();
    let mut bytes = phones.first_message.clone();
    if let Some((&at, patch)) = data.split_first() {
        let at = usize::from(at) * bytes.len() / 256;
        let end = (at + patch.len()).min(bytes.len());
        bytes[at..end].copy_from_slice(&patch[..end - at]);
        bytes.extend_from_slice(&patch[end - at..]);
    }
    let Ok(message) = Message::decode(&bytes) else { return };
    let rules = phones.rules.clone();
    let before = alex.document_bytes().unwrap();
    let mine = Mine::of(&mut alex, phones.alex_person);
    let result = alex.receive_sync_message(&mut State::new(), message, &rules);
    if result.is_err() {
        assert_eq!(alex.document_bytes().unwrap(), before, "a refused message changed the document");
    } else {
        assert_only_what_the_rules_allow(&mut alex, &mine, &phones);
    }
    alex.verify_index().expect("the index matches the document");
});
