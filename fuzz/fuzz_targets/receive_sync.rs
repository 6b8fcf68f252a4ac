//! Bytes as a sync message from the partner's phone, through the real receive path:
//! `Store::receive_sync_message` on a paired journal (the document, its patch log, the
//! rules, the index rows and the chunk log). The input overwrites part of a well-formed
//! message from the partner, so most of it parses and reaches the store. Whatever it is,
//! the store keeps it whole or refuses it with an error and stays as it was; it never
//! panics.
#![no_main]

use automerge::sync::Message;
use libfuzzer_sys::fuzz_target;
use steady_fuzz::{overwrite, phones, receive_and_check};

fuzz_target!(|data: &[u8]| {
    let phones = phones().lock().unwrap_or_else(|p| p.into_inner());
    let (mut alex, _dir) = phones.alex();
    let mut bytes = phones.first_message.clone();
    overwrite(&mut bytes, data);
    let Ok(message) = Message::decode(&bytes) else { return };
    receive_and_check(&mut alex, message, &phones);
});
