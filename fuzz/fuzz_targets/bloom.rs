//! The summary in a sync message (its Bloom filter: how many entries, bits per entry,
//! probes, and the bits) as the partner's phone may set it, then the reply built from it.
//! A summary Automerge would crash or stall on is refused before it sees it; whatever is
//! taken, the reply is built without a panic.
#![no_main]

use automerge::sync::{BloomFilter, Have, Message, State};
use libfuzzer_sys::fuzz_target;
use steady_fuzz::phones;

fuzz_target!(|data: &[u8]| {
    let phones = phones().lock().unwrap_or_else(|p| p.into_inner());
    let Ok(bloom) = BloomFilter::try_from(data) else { return };
    let (mut alex, _dir) = phones.alex();
    let Ok(mut message) = Message::decode(&phones.first_message) else { return };
    message.have = vec![Have { last_sync: Vec::new(), bloom }];
    let mut state = State::new();
    let before = alex.document_bytes().unwrap();
    if alex.receive_sync_message(&mut state, message, &phones.rules).is_err() {
        assert_eq!(alex.document_bytes().unwrap(), before, "a refused message changed the document");
        return;
    }
    let _ = alex.sync_message(&mut state);
});
