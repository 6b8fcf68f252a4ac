//! Bytes on the sync stream from the partner's phone: split into frames, pieces joined,
//! each frame read (a compressed one inflated, up to the longest message), and each sync
//! message handed to a document, as the session does. Bad input is refused with an
//! error, never a panic.
#![no_main]

use automerge::sync::{State, SyncDoc};
use libfuzzer_sys::fuzz_target;
use steady::net::frame::{Assembler, MAX_SYNC_FRAME, SyncFrame, split};

fuzz_target!(|data: &[u8]| {
    let Ok(bodies) = split(data, MAX_SYNC_FRAME) else { return };
    let mut doc = automerge::Automerge::new();
    let mut state = State::new();
    let mut pieces = Assembler::default();
    for body in bodies {
        let whole = match pieces.push(body.to_vec()) {
            Ok(Some(whole)) => whole,
            Ok(None) => continue,
            Err(_) => return,
        };
        match SyncFrame::decode(&whole) {
            Ok(SyncFrame::Sync(message)) => {
                let _ = doc.receive_sync_message(&mut state, message);
            }
            Ok(hello @ SyncFrame::Hello { .. }) => {
                // An accepted hello says the same thing when written back.
                assert_eq!(SyncFrame::decode(&hello.encode()).map(|f| f.encode()).ok(), Some(hello.encode()));
            }
            Ok(SyncFrame::Ping) | Err(_) => {}
        }
    }
});
