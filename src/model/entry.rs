//! The journal entry and its five kinds, one per practice in the seed text.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

use super::ModelError;
use super::ids::{CheckInId, EntryId, PersonId};
use super::validate::{self, Limit};

/// Which side of practice 1 a safety need is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SafetySide {
    /// "What helps you feel secure with me".
    Helps,
    /// "What makes trust harder for you".
    Harder,
}

/// What happened with an agreement, as seen by whoever checks in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    Kept,
    Missed,
    Renegotiated,
}

/// Whether an agreement is still being practised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AgreementStatus {
    Active,
    Retired,
}

macro_rules! text_enum {
    ($ty:ident, $what:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $text),+ }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = ModelError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($ty::$variant),)+
                    _ => Err(ModelError::UnknownValue {
                        what: $what,
                        value: s.to_owned(),
                        expected: [$($text),+].join(", "),
                    }),
                }
            }
        }
    };
}

text_enum!(SafetySide, "safety side", { Helps => "helps", Harder => "harder" });
text_enum!(Outcome, "outcome", { Kept => "kept", Missed => "missed", Renegotiated => "renegotiated" });
text_enum!(AgreementStatus, "agreement status", { Active => "active", Retired => "retired" });

/// The kinds of entry, as a person names them on the command line and in lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KindName {
    SafetyHelps,
    SafetyHarder,
    Reflection,
    Agreement,
    CheckIn,
    Transparency,
}

text_enum!(KindName, "kind", {
    SafetyHelps => "safety-helps",
    SafetyHarder => "safety-harder",
    Reflection => "reflection",
    Agreement => "agreement",
    CheckIn => "checkin",
    Transparency => "transparency",
});

/// The five practices, in the seed text's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Practice {
    SafetyNeeds,
    Understanding,
    Agreements,
    Today,
    Transparency,
}

impl Practice {
    pub const ALL: [Practice; 5] =
        [Practice::SafetyNeeds, Practice::Understanding, Practice::Agreements, Practice::Today, Practice::Transparency];

    /// The practice's heading, as the seed text words it.
    pub fn title(self) -> &'static str {
        match self {
            Practice::SafetyNeeds => "What safety means for each of us",
            Practice::Understanding => "From blame to understanding",
            Practice::Agreements => "Small agreements",
            Practice::Today => "What does trust look like today?",
            Practice::Transparency => "Transparency, offered freely",
        }
    }
}

/// One check-in on an agreement. Each has its own id, so two made at the same moment on
/// both phones both survive a merge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckIn {
    pub id: CheckInId,
    /// The day it is about, on the phone of whoever checked in.
    pub date: NaiveDate,
    pub outcome: Outcome,
    pub note: Option<String>,
    pub by: PersonId,
    pub at: DateTime<Utc>,
}

/// The time window of a plan, for a transparency note ("out with Sam, 7 to 10 pm").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeWindow {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// What an entry says, by kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    SafetyNeed {
        side: SafetySide,
        text: String,
    },
    Reflection {
        feeling: String,
        /// Named when the person is ready; a feeling alone is already a reflection.
        needing: Option<String>,
        understanding: Option<String>,
    },
    Agreement {
        text: String,
        proposed_by: PersonId,
        status: AgreementStatus,
        /// Sorted by date, then by when they were made.
        check_ins: Vec<CheckIn>,
    },
    DailyCheckIn {
        date: NaiveDate,
        text: String,
    },
    Transparency {
        text: String,
        window: Option<TimeWindow>,
    },
    /// A kind this version does not know, or an entry it cannot read: written by a newer
    /// version of the app. Its fields are all kept in [`Entry::extra`] and written back
    /// untouched.
    Unknown {
        kind: String,
    },
}

impl Body {
    pub fn practice(&self) -> Option<Practice> {
        Some(match self {
            Body::SafetyNeed { .. } => Practice::SafetyNeeds,
            Body::Reflection { .. } => Practice::Understanding,
            Body::Agreement { .. } => Practice::Agreements,
            Body::DailyCheckIn { .. } => Practice::Today,
            Body::Transparency { .. } => Practice::Transparency,
            Body::Unknown { .. } => return None,
        })
    }

    pub fn kind_name(&self) -> Option<KindName> {
        Some(match self {
            Body::SafetyNeed { side: SafetySide::Helps, .. } => KindName::SafetyHelps,
            Body::SafetyNeed { side: SafetySide::Harder, .. } => KindName::SafetyHarder,
            Body::Reflection { .. } => KindName::Reflection,
            Body::Agreement { .. } => KindName::Agreement,
            Body::DailyCheckIn { .. } => KindName::CheckIn,
            Body::Transparency { .. } => KindName::Transparency,
            Body::Unknown { .. } => return None,
        })
    }

    /// The entry's main text; for a reflection, what I was feeling.
    pub fn main_text(&self) -> &str {
        match self {
            Body::SafetyNeed { text, .. }
            | Body::Agreement { text, .. }
            | Body::DailyCheckIn { text, .. }
            | Body::Transparency { text, .. } => text,
            Body::Reflection { feeling, .. } => feeling,
            Body::Unknown { .. } => "",
        }
    }
}

/// One journal entry. Where it lives (private table or shared document) is the store's
/// business; `shared` reports it when the store reads the entry back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub id: EntryId,
    pub author: PersonId,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Acknowledged and set aside: out of the daily views, restorable, never deleted.
    pub archived: bool,
    /// Its author chose to share it with their partner.
    pub shared: bool,
    /// Shared, but this phone has not sent it, or its latest change, to the partner yet:
    /// until then it can still be taken back without a trace.
    pub waiting: bool,
    /// Private now, but shared with a partner this phone was paired with before.
    pub shared_before: bool,
    pub body: Body,
    /// Fields written by a newer version of the app, kept so that they are never dropped.
    pub extra: BTreeMap<String, Value>,
}

impl Entry {
    /// The order every list shows: newest first; entries made in the same instant by id,
    /// which sorts newer ids first (`model::ids`).
    pub fn newest_first(a: &Entry, b: &Entry) -> std::cmp::Ordering {
        b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id))
    }

    pub fn kind_name(&self) -> Option<KindName> {
        self.body.kind_name()
    }

    /// Checks every rule that a stored entry must meet. Used for entries that come from a
    /// file; entries made in the app are checked as they are built.
    pub fn validate(&self) -> Result<(), ModelError> {
        validate::timestamp("created_at", self.created_at)?;
        validate::timestamp("updated_at", self.updated_at)?;
        if self.updated_at < self.created_at {
            return Err(ModelError::UpdatedBeforeCreated);
        }
        match &self.body {
            Body::SafetyNeed { text, .. } => {
                validate::text("text", text, Limit::TEXT)?;
            }
            Body::Reflection { feeling, needing, understanding } => {
                validate::text("feeling", feeling, Limit::TEXT)?;
                for (field, value) in [("needing", needing), ("understanding", understanding)] {
                    if let Some(v) = value {
                        validate::text(field, v, Limit::TEXT)?;
                    }
                }
            }
            Body::Agreement { text, check_ins, .. } => {
                validate::text("text", text, Limit::AGREEMENT)?;
                for c in check_ins {
                    validate::calendar_date("check-in date", c.date)?;
                    validate::timestamp("check-in time", c.at)?;
                    if let Some(n) = &c.note {
                        validate::text("note", n, Limit::NOTE)?;
                    }
                }
            }
            Body::DailyCheckIn { date, text } => {
                validate::calendar_date("date", *date)?;
                validate::text("text", text, Limit::TEXT)?;
            }
            Body::Transparency { text, window } => {
                validate::text("text", text, Limit::TEXT)?;
                if let Some(w) = window {
                    validate::window(w.from, w.to)?;
                }
            }
            Body::Unknown { .. } => {}
        }
        Ok(())
    }
}
