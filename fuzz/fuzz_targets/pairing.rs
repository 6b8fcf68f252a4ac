//! Bytes from a phone that wants to pair, and text a person pastes as an invite: every
//! input is either read exactly or refused with an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use steady::net::invite::Invitation;
use steady::net::pairing::{InviteCode, PairMessage};

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = PairMessage::decode(data) {
        // What was accepted says the same thing when written back.
        let again = PairMessage::decode(&message.encode()).expect("an accepted message re-reads");
        assert_eq!(again, message);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(link) = Invitation::parse(text) {
            let again = Invitation::parse(&link.to_link()).expect("a written link re-reads");
            assert_eq!(again, link);
        }
        if let Ok(code) = InviteCode::parse(text) {
            assert_eq!(InviteCode::parse(&code.to_string()).ok(), Some(code));
        }
    }
});
