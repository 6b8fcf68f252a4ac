//! The rules every piece of text, date and time in an entry must meet.

use chrono::{DateTime, Datelike, NaiveDate, Utc};

use super::ModelError;

/// The most characters a field may hold. Generous for a journal, small enough that one
/// entry can never swamp a phone or the sync.
#[derive(Clone, Copy, Debug)]
pub struct Limit(pub usize);

impl Limit {
    pub const TEXT: Limit = Limit(4000);
    pub const AGREEMENT: Limit = Limit(500);
    pub const NOTE: Limit = Limit(1000);
    pub const NAME: Limit = Limit(60);
}

/// Earliest and latest years a date may name. Anything outside is a typo or a broken
/// clock, not a memory.
pub const FIRST_YEAR: i32 = 2000;
pub const LAST_YEAR: i32 = 2200;

/// The longest a plan's time window may span.
pub const LONGEST_WINDOW_DAYS: i64 = 31;

/// Trims `value` and checks it is neither empty nor too long.
pub fn text(field: &'static str, value: &str, limit: Limit) -> Result<String, ModelError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(ModelError::EmptyText { field });
    }
    let chars = trimmed.chars().count();
    if chars > limit.0 {
        return Err(ModelError::TextTooLong { field, chars, limit: limit.0 });
    }
    Ok(trimmed.to_owned())
}

/// Like [`text`], but an empty value means "not given".
pub fn optional_text(field: &'static str, value: Option<&str>, limit: Limit) -> Result<Option<String>, ModelError> {
    match value {
        Some(v) if !v.trim().is_empty() => text(field, v, limit).map(Some),
        _ => Ok(None),
    }
}

pub fn calendar_date(field: &'static str, date: NaiveDate) -> Result<(), ModelError> {
    if (FIRST_YEAR..=LAST_YEAR).contains(&date.year()) {
        Ok(())
    } else {
        Err(ModelError::DateOutOfRange { field, value: date.to_string() })
    }
}

pub fn timestamp(field: &'static str, at: DateTime<Utc>) -> Result<(), ModelError> {
    if (FIRST_YEAR..=LAST_YEAR).contains(&at.year()) {
        Ok(())
    } else {
        Err(ModelError::DateOutOfRange { field, value: at.to_rfc3339() })
    }
}

/// A date a person gives for a check-in: sane, and not after tomorrow (phones in two time
/// zones may be a day apart).
pub fn not_in_future(field: &'static str, date: NaiveDate, today: NaiveDate) -> Result<(), ModelError> {
    calendar_date(field, date)?;
    if date > today + chrono::Days::new(1) {
        return Err(ModelError::DateInFuture { field, value: date.to_string() });
    }
    Ok(())
}

/// A plan's time window, from `from` to `to`.
pub fn window(from: DateTime<Utc>, to: DateTime<Utc>) -> Result<(), ModelError> {
    timestamp("from", from)?;
    timestamp("to", to)?;
    if to <= from {
        return Err(ModelError::WindowEndsBeforeStart);
    }
    if (to - from).num_days() > LONGEST_WINDOW_DAYS {
        return Err(ModelError::WindowTooLong { days: LONGEST_WINDOW_DAYS });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn text_is_trimmed_and_must_not_be_blank() {
        assert_eq!(text("text", "  hello \n", Limit::TEXT).unwrap(), "hello");
        assert_eq!(text("text", " \t\n", Limit::TEXT), Err(ModelError::EmptyText { field: "text" }));
    }

    #[test]
    fn text_over_the_limit_is_refused_by_characters_not_bytes() {
        let at_limit = "é".repeat(500);
        assert!(text("text", &at_limit, Limit::AGREEMENT).is_ok());
        let over = "é".repeat(501);
        assert_eq!(
            text("text", &over, Limit::AGREEMENT),
            Err(ModelError::TextTooLong { field: "text", chars: 501, limit: 500 })
        );
    }

    #[test]
    fn optional_text_treats_blank_as_absent() {
        assert_eq!(optional_text("note", Some("  "), Limit::NOTE).unwrap(), None);
        assert_eq!(optional_text("note", None, Limit::NOTE).unwrap(), None);
        assert_eq!(optional_text("note", Some(" x "), Limit::NOTE).unwrap(), Some("x".into()));
    }

    #[test]
    fn dates_outside_the_sane_range_are_refused() {
        let d = NaiveDate::from_ymd_opt(1999, 12, 31).unwrap();
        assert!(calendar_date("date", d).is_err());
        let today = NaiveDate::from_ymd_opt(2026, 5, 1).unwrap();
        assert!(not_in_future("date", today + chrono::Days::new(1), today).is_ok());
        assert!(not_in_future("date", today + chrono::Days::new(2), today).is_err());
    }

    #[test]
    fn a_window_must_end_after_it_starts_and_not_run_for_months() {
        let from = Utc.with_ymd_and_hms(2026, 5, 1, 19, 0, 0).unwrap();
        assert!(window(from, from + chrono::Duration::hours(3)).is_ok());
        assert_eq!(window(from, from - chrono::Duration::hours(1)), Err(ModelError::WindowEndsBeforeStart));
        assert!(matches!(window(from, from + chrono::Duration::days(40)), Err(ModelError::WindowTooLong { .. })));
    }
}
