//! The changes of a sync message cut into pieces wherever the input says: Automerge joins
//! the pieces, so every bound (how far they inflate, how many operations they declare)
//! holds for what they make together, not piece by piece. Kept whole or refused; the
//! document is unchanged by a refusal; never a panic, never unbounded memory.
#![no_main]

use automerge::sync::{Message, State};
use libfuzzer_sys::fuzz_target;
use steady_fuzz::{phones, receive_and_check};

fuzz_target!(|data: &[u8]| {
    let phones = phones().lock().unwrap_or_else(|p| p.into_inner());
    let Some((&cuts, rest)) = data.split_first() else { return };
    // The input's bytes after the first, then the partner's own changes, cut at the
    // places the first byte's bits choose.
    let Ok(template) = Message::decode(&phones.first_message) else { return };
    let mut whole: Vec<u8> = rest.to_vec();
    for chunk in template.changes.iter() {
        whole.extend_from_slice(chunk);
    }
    let mut pieces = Vec::new();
    let mut start = 0;
    for bit in 0..8 {
        if cuts & (1 << bit) != 0 {
            let at = (whole.len() * (bit + 1) / 9).max(start);
            pieces.push(whole[start..at].to_vec());
            start = at;
        }
    }
    pieces.push(whole[start..].to_vec());
    let (mut alex, _dir) = phones.alex();
    let Ok(Some(mut message)) = alex.sync_message(&mut State::new()) else { return };
    message.changes = pieces.into();
    receive_and_check(&mut alex, message, &phones);
});
