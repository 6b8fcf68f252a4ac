//! The couple's journal as pure data: the five kinds of entry, their ids, and the rules
//! they follow. Nothing here reads a clock, a file or the network; callers pass `now` and
//! `today` in.

mod draft;
mod entry;
pub mod fields;
mod ids;
pub mod nudge;
pub mod steadiness;
pub mod text;
pub mod validate;

pub use draft::{Draft, stored_time};
pub use entry::{AgreementStatus, Body, CheckIn, Entry, KindName, Outcome, Practice, SafetySide, TimeWindow};
pub use fields::Fields;
pub use ids::{CheckInId, EntryId, PersonId};

/// Why an entry, or part of one, was refused. Every message names the field and says what
/// would be accepted, so that it can be shown to the person as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    #[error("the {field} is empty; write a few words first")]
    EmptyText { field: &'static str },
    #[error("the {field} is {chars} characters long; the most is {limit}")]
    TextTooLong { field: &'static str, chars: usize, limit: usize },
    #[error("the {field} {value} is not a sane date")]
    DateOutOfRange { field: &'static str, value: String },
    #[error("the {field} {value} is in the future")]
    DateInFuture { field: &'static str, value: String },
    #[error("the plan's end time is not after its start time")]
    WindowEndsBeforeStart,
    #[error("a plan's time window can span at most {days} days")]
    WindowTooLong { days: i64 },
    #[error("a plan's time window needs both a start and an end")]
    HalfAWindow,
    #[error("{value:?} is not a valid {what}")]
    BadId { what: &'static str, value: String },
    #[error("{value:?} is not a known {what}; expected one of: {expected}")]
    UnknownValue { what: &'static str, value: String, expected: String },
    #[error("the field {field:?} is missing")]
    MissingField { field: &'static str },
    #[error("the field {field:?} has an unreadable value: {value}")]
    BadField { field: &'static str, value: String },
    #[error("an entry was changed before it was created")]
    UpdatedBeforeCreated,
    #[error("an entry can't change its kind")]
    KindMismatch,
    #[error("only agreements have check-ins")]
    NotAnAgreement,
    #[error("this agreement is retired; renew it before checking in")]
    AgreementRetired,
    #[error("only the person who wrote this entry can change, share or set it aside")]
    NotYourEntry,
    #[error("the name is empty; write the name your partner knows you by")]
    EmptyName,
}

impl ModelError {
    pub(crate) fn bad_field(field: &'static str, value: &serde_json::Value) -> Self {
        let mut value = value.to_string();
        if value.len() > 80 {
            let cut = (0..=80).rev().find(|i| value.is_char_boundary(*i)).unwrap_or(0);
            value.truncate(cut);
            value.push('…');
        }
        ModelError::BadField { field, value }
    }
}

/// This phone's person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Person {
    pub id: PersonId,
    pub name: String,
}

impl Person {
    pub fn new(id: PersonId, name: &str) -> Result<Person, ModelError> {
        let name = validate::text("name", name, validate::Limit::NAME).map_err(|e| match e {
            ModelError::EmptyText { .. } => ModelError::EmptyName,
            other => other,
        })?;
        // The name is shown on the partner's phone, inside sentences: no invisible
        // characters that could hide or reverse it.
        let name = text::clean_name(&name);
        if name.is_empty() {
            return Err(ModelError::EmptyName);
        }
        Ok(Person { id, name })
    }
}
