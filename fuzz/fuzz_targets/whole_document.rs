//! A first sync that hands over the partner's whole document, with the input written over
//! part of it. Taken whole only if every change in it keeps the rules; otherwise refused,
//! and nothing of it kept.
#![no_main]

use automerge::sync::State;
use libfuzzer_sys::fuzz_target;
use steady_fuzz::{overwrite, phones, receive_and_check};

fuzz_target!(|data: &[u8]| {
    let phones = phones().lock().unwrap_or_else(|p| p.into_inner());
    let mut doc = phones.blair_doc.clone();
    overwrite(&mut doc, data);
    let (mut alex, _dir) = phones.alex();
    let Ok(Some(mut message)) = alex.sync_message(&mut State::new()) else { return };
    message.changes = vec![doc].into();
    receive_and_check(&mut alex, message, &phones);
});
