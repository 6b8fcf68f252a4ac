//! What a person writes, before it becomes an entry, and the rules for turning it into one
//! or for editing an entry with it.

use chrono::{DateTime, NaiveDate, Utc};

use super::ModelError;
use super::entry::{AgreementStatus, Body, CheckIn, Entry, Outcome, SafetySide, TimeWindow};
use super::fields::{Fields, sort_check_ins};
use super::ids::{CheckInId, EntryId, PersonId};
use super::validate::{self, Limit};

/// A new entry, or new words for an existing one, as typed. Nothing is trusted until
/// [`Draft::into_body`] has checked it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Draft {
    SafetyNeed {
        side: SafetySide,
        text: String,
    },
    Reflection {
        feeling: String,
        needing: Option<String>,
        understanding: Option<String>,
    },
    Agreement {
        text: String,
    },
    /// Today's check-in. The day is the author's phone's day when it is written.
    CheckIn {
        text: String,
    },
    Transparency {
        text: String,
        window: Option<TimeWindow>,
    },
}

impl Draft {
    /// Checks and trims the draft into the body of a new entry by `author` on `today`.
    pub fn into_body(self, author: PersonId, today: NaiveDate) -> Result<Body, ModelError> {
        Ok(match self {
            Draft::SafetyNeed { side, text } => {
                Body::SafetyNeed { side, text: validate::text("text", &text, Limit::TEXT)? }
            }
            Draft::Reflection { feeling, needing, understanding } => Body::Reflection {
                feeling: validate::text("feeling", &feeling, Limit::TEXT)?,
                needing: validate::optional_text("needing", needing.as_deref(), Limit::TEXT)?,
                understanding: validate::optional_text("understanding", understanding.as_deref(), Limit::TEXT)?,
            },
            Draft::Agreement { text } => Body::Agreement {
                text: validate::text("text", &text, Limit::AGREEMENT)?,
                proposed_by: author,
                status: AgreementStatus::Active,
                check_ins: Vec::new(),
            },
            Draft::CheckIn { text } => {
                validate::calendar_date("date", today)?;
                Body::DailyCheckIn { date: today, text: validate::text("text", &text, Limit::TEXT)? }
            }
            Draft::Transparency { text, window } => {
                if let Some(w) = window {
                    validate::window(w.from, w.to)?;
                }
                Body::Transparency { text: validate::text("text", &text, Limit::TEXT)?, window }
            }
        })
    }
}

/// Truncates a clock reading to the millisecond, the precision entries are stored with,
/// so that an entry reads back exactly as it was written.
pub fn stored_time(now: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
}

impl Entry {
    /// A new private entry.
    pub fn create(draft: Draft, author: PersonId, now: DateTime<Utc>, today: NaiveDate) -> Result<Entry, ModelError> {
        let now = stored_time(now);
        validate::timestamp("created_at", now)?;
        Ok(Entry {
            id: EntryId::new(),
            author,
            created_at: now,
            updated_at: now,
            archived: false,
            shared: false,
            waiting: false,
            shared_before: false,
            body: draft.into_body(author, today)?,
            extra: Fields::new(),
        })
    }

    /// New words for this entry, by its author. The kind can't change; what isn't words
    /// (an agreement's check-ins, a check-in's day) is kept.
    pub fn edit(&mut self, draft: Draft, by: PersonId, now: DateTime<Utc>) -> Result<(), ModelError> {
        self.check_author(by)?;
        // The day passed here is ignored: an edited check-in keeps its own day.
        let new = draft.into_body(self.author, self.created_at.date_naive())?;
        self.body = match (std::mem::replace(&mut self.body, Body::Unknown { kind: String::new() }), new) {
            (Body::SafetyNeed { .. }, b @ Body::SafetyNeed { .. })
            | (Body::Reflection { .. }, b @ Body::Reflection { .. }) => b,
            (Body::Transparency { .. }, b @ Body::Transparency { .. }) => b,
            (Body::Agreement { proposed_by, status, check_ins, .. }, Body::Agreement { text, .. }) => {
                Body::Agreement { text, proposed_by, status, check_ins }
            }
            (Body::DailyCheckIn { date, .. }, Body::DailyCheckIn { text, .. }) => Body::DailyCheckIn { date, text },
            (old, _) => {
                self.body = old;
                return Err(ModelError::KindMismatch);
            }
        };
        self.touch(now);
        Ok(())
    }

    /// Records how an agreement went. Either partner may check in on any agreement.
    pub fn check_in(
        &mut self,
        outcome: Outcome,
        note: Option<&str>,
        by: PersonId,
        now: DateTime<Utc>,
        today: NaiveDate,
    ) -> Result<CheckIn, ModelError> {
        let note = validate::optional_text("note", note, Limit::NOTE)?;
        validate::not_in_future("date", today, today)?;
        let Body::Agreement { status, check_ins, .. } = &mut self.body else {
            return Err(ModelError::NotAnAgreement);
        };
        if *status == AgreementStatus::Retired {
            return Err(ModelError::AgreementRetired);
        }
        let check_in = CheckIn { id: CheckInId::new(), date: today, outcome, note, by, at: stored_time(now) };
        check_ins.push(check_in.clone());
        sort_check_ins(check_ins);
        self.touch(now);
        Ok(check_in)
    }

    /// Retires or reactivates an agreement. Agreements belong to both partners, so either
    /// may do this.
    pub fn set_agreement_status(&mut self, new: AgreementStatus, now: DateTime<Utc>) -> Result<(), ModelError> {
        let Body::Agreement { status, .. } = &mut self.body else {
            return Err(ModelError::NotAnAgreement);
        };
        *status = new;
        self.touch(now);
        Ok(())
    }

    /// Sets the entry aside, or brings it back. Only its author can.
    pub fn set_archived(&mut self, archived: bool, by: PersonId, now: DateTime<Utc>) -> Result<(), ModelError> {
        self.check_author(by)?;
        self.archived = archived;
        self.touch(now);
        Ok(())
    }

    /// Only an entry's author may change its words, set it aside, share or unshare it:
    /// nobody can hide or rewrite what the other wrote.
    pub fn check_author(&self, by: PersonId) -> Result<(), ModelError> {
        if self.author == by { Ok(()) } else { Err(ModelError::NotYourEntry) }
    }

    fn touch(&mut self, now: DateTime<Utc>) {
        self.updated_at = stored_time(now).max(self.updated_at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 4, 9, 0, 0).unwrap()
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, 4).unwrap()
    }

    #[test]
    fn a_new_entry_is_private_trimmed_and_stamped() {
        let me = PersonId::new();
        let e = Entry::create(Draft::CheckIn { text: "  a walk together ".into() }, me, now(), today()).unwrap();
        assert!(!e.shared && !e.archived);
        assert_eq!(e.body, Body::DailyCheckIn { date: today(), text: "a walk together".into() });
        assert_eq!(e.created_at, now());
    }

    #[test]
    fn editing_keeps_what_is_not_words() {
        let me = PersonId::new();
        let mut e = Entry::create(Draft::Agreement { text: "Call at lunch".into() }, me, now(), today()).unwrap();
        e.check_in(Outcome::Kept, None, me, now(), today()).unwrap();
        e.edit(Draft::Agreement { text: "Text at lunch".into() }, me, now() + chrono::Duration::hours(1)).unwrap();
        let Body::Agreement { text, check_ins, proposed_by, .. } = &e.body else { panic!() };
        assert_eq!((text.as_str(), check_ins.len(), *proposed_by), ("Text at lunch", 1, me));
        assert_eq!(e.updated_at, now() + chrono::Duration::hours(1));
    }

    #[test]
    fn an_edit_cannot_change_the_kind_or_come_from_the_partner() {
        let me = PersonId::new();
        let mut e = Entry::create(Draft::CheckIn { text: "x".into() }, me, now(), today()).unwrap();
        let before = e.clone();
        assert_eq!(e.edit(Draft::Agreement { text: "y".into() }, me, now()), Err(ModelError::KindMismatch));
        assert_eq!(e.edit(Draft::CheckIn { text: "y".into() }, PersonId::new(), now()), Err(ModelError::NotYourEntry));
        assert_eq!(e, before);
    }

    #[test]
    fn either_partner_checks_in_but_not_on_a_retired_agreement() {
        let (me, you) = (PersonId::new(), PersonId::new());
        let mut e =
            Entry::create(Draft::Agreement { text: "Phones away at dinner".into() }, me, now(), today()).unwrap();
        e.check_in(Outcome::Missed, Some("  "), you, now(), today()).unwrap();
        e.set_agreement_status(AgreementStatus::Retired, now()).unwrap();
        assert_eq!(e.check_in(Outcome::Kept, None, me, now(), today()), Err(ModelError::AgreementRetired));
        let Body::Agreement { check_ins, .. } = &e.body else { panic!() };
        assert_eq!((check_ins[0].by, check_ins[0].note.clone()), (you, None));
    }

    #[test]
    fn a_reflection_needs_a_feeling() {
        let err = Draft::Reflection { feeling: " ".into(), needing: Some("rest".into()), understanding: None }
            .into_body(PersonId::new(), today())
            .unwrap_err();
        assert_eq!(err, ModelError::EmptyText { field: "feeling" });
    }
}
