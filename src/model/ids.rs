//! Identifiers: UUIDv7 newtypes, so that ids sort by creation time and can't be mixed up.

use std::fmt;
use std::str::FromStr;

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
            /// A fresh id, ordered after every id made earlier on this device.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
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
    fn ids_round_trip_through_text_and_sort_by_creation() {
        let first = EntryId::new();
        let second = EntryId::new();
        assert!(first < second);
        assert_eq!(first.to_string().parse::<EntryId>().unwrap(), first);
    }

    #[test]
    fn a_malformed_id_names_what_was_expected() {
        let err = "not-an-id".parse::<EntryId>().unwrap_err();
        assert_eq!(err.to_string(), "\"not-an-id\" is not a valid entry id");
    }
}
