//! Identifiers: UUID newtypes that say roughly when they were made and can't be mixed up.
//!
//! A new id sorts *before* older ones. Entries and check-ins are keys of maps in the shared
//! document, and Automerge, applying a change, walks a map's keys in order up to the key it
//! changes: a key that sorts first costs next to nothing, one that sorts last walks every
//! entry (about a millisecond at 10,000 entries, on each phone, for each new share).

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::ModelError;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh id, ordered before every id this app made earlier, and before
            /// every id of an earlier version of Steady.
            pub fn new() -> Self {
                // The time as UUIDv7 ids read it, through the uuid crate's clock.
                let (secs, nanos) = uuid::Timestamp::now(uuid::NoContext).to_unix();
                let millis = u128::from(secs) * 1000 + u128::from(nanos / 1_000_000);
                Self(with_count(next_count(steps_left(millis)), *Uuid::new_v4().as_bytes()))
            }

            pub fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = ModelError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s.trim())
                    .map(Self)
                    .map_err(|_| ModelError::BadId { what: $what, value: s.to_owned() })
            }
        }
    };
}

/// Where the count of an id's time starts, in steps of 10 ms: it lasts for centuries, and
/// every id it makes sorts before the UUIDv7 ids that earlier versions made, which start
/// with 0x019 (2024 on).
const COUNT_FROM: u64 = 0x0180_0000_0000;

/// The steps of 10 ms left at `millis` (since 1970) until [`COUNT_FROM`] runs out.
fn steps_left(millis: u128) -> u64 {
    COUNT_FROM.saturating_sub(u64::try_from(millis / 10).unwrap_or(u64::MAX))
}

/// The last count an id of this process was given: ids made within one step of 10 ms
/// (two entries saved in the same instant) still sort newest first, each one below the
/// last, as UUIDv7's counter kept them in order.
static LAST_COUNT: AtomicU64 = AtomicU64::new(u64::MAX);

fn next_count(left: u64) -> u64 {
    let below = |last: u64| left.min(last.saturating_sub(1));
    match LAST_COUNT.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| Some(below(last))) {
        Ok(last) | Err(last) => below(last),
    }
}

/// A UUID of version 8 whose first 48 bits are `count`, the rest `random`.
fn with_count(count: u64, random: [u8; 16]) -> Uuid {
    let mut bytes = random;
    bytes[..6].copy_from_slice(&count.to_be_bytes()[2..]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

#[cfg(test)]
fn count_down(millis: u128, random: [u8; 16]) -> Uuid {
    with_count(steps_left(millis), random)
}

uuid_id!(
    /// Names one journal entry, private or shared.
    EntryId,
    "entry id"
);
uuid_id!(
    /// Names one person: each phone belongs to one person.
    PersonId,
    "person id"
);
uuid_id!(
    /// Names one check-in on an agreement, so that check-ins made at the same moment on
    /// both phones are kept side by side.
    CheckInId,
    "check-in id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text() {
        let id = EntryId::new();
        assert_eq!(id.to_string().parse::<EntryId>().unwrap(), id);
        assert_eq!(id.as_uuid().get_version_num(), 8);
    }

    #[test]
    fn a_newer_id_sorts_first_as_text_too() {
        // One made a day later, with the largest random part, against the smallest.
        let now: u128 = 1_796_000_000_000;
        let older = EntryId(count_down(now, [0; 16]));
        let newer = EntryId(count_down(now + 86_400_000, [0xff; 16]));
        assert!(newer < older);
        assert!(newer.to_string() < older.to_string());
        // Ids 10 ms apart still sort by time.
        assert!(EntryId(count_down(now + 10, [0xff; 16])) < EntryId(count_down(now, [0; 16])));
    }

    #[test]
    fn ids_made_in_the_same_instant_sort_newest_first() {
        let made: Vec<EntryId> = (0..1000).map(|_| EntryId::new()).collect();
        assert!(made.windows(2).all(|w| w[1] < w[0]), "each below the one before");
    }

    #[test]
    fn new_ids_sort_before_those_of_earlier_versions() {
        // Earlier versions made UUIDv7 ids; the oldest journals date from 2024.
        let earlier = EntryId(Uuid::now_v7());
        let in_2024 = uuid::Builder::from_unix_timestamp_millis(1_704_067_200_000, &[0; 10]).into_uuid();
        let new = EntryId::new();
        assert!(new < earlier);
        assert!(new < EntryId(in_2024));
        assert!(new.to_string() < in_2024.to_string());
    }

    #[test]
    fn a_malformed_id_names_what_was_expected() {
        let err = "not-an-id".parse::<EntryId>().unwrap_err();
        assert_eq!(err.to_string(), "\"not-an-id\" is not a valid entry id");
    }
}
