//! The steadiness picture: how agreements went, week by week. It shows a pattern, never a
//! score: no streaks, nothing to break.

use chrono::{Datelike, Days, NaiveDate};

use super::entry::{Body, Entry, Outcome};

/// How many weeks the picture covers, ending with this week.
pub const WEEKS: usize = 12;

/// One week of check-ins on agreements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Week {
    /// The Monday the week starts on.
    pub starts: NaiveDate,
    pub kept: u32,
    pub missed: u32,
    pub renegotiated: u32,
}

/// The last [`WEEKS`] weeks up to the week holding `today`, oldest first, counting every
/// check-in on every agreement in `entries` (retired and set-aside ones too: they were
/// practised).
pub fn weekly(entries: &[Entry], today: NaiveDate) -> Vec<Week> {
    let this_monday = today - Days::new(u64::from(today.weekday().num_days_from_monday()));
    let first = this_monday - Days::new(7 * (WEEKS as u64 - 1));
    let mut weeks: Vec<Week> = (0..WEEKS)
        .map(|i| Week { starts: first + Days::new(7 * i as u64), kept: 0, missed: 0, renegotiated: 0 })
        .collect();
    for entry in entries {
        let Body::Agreement { check_ins, .. } = &entry.body else { continue };
        for c in check_ins {
            if c.date < first || c.date > this_monday + Days::new(6) {
                continue;
            }
            let index = ((c.date - first).num_days() / 7) as usize;
            let Some(week) = weeks.get_mut(index) else { continue };
            match c.outcome {
                Outcome::Kept => week.kept += 1,
                Outcome::Missed => week.missed += 1,
                Outcome::Renegotiated => week.renegotiated += 1,
            }
        }
    }
    weeks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CheckIn, CheckInId, Draft, PersonId};
    use chrono::{TimeZone, Utc};

    #[test]
    fn check_ins_are_counted_in_their_week_and_old_ones_are_left_out() {
        let me = PersonId::new();
        let now = Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap();
        let today = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap(); // a Thursday
        let mut e = Entry::create(Draft::Agreement { text: "Walk".into() }, me, now, today).unwrap();
        let Body::Agreement { check_ins, .. } = &mut e.body else { unreachable!() };
        let at = |y, m, d, outcome| CheckIn {
            id: CheckInId::new(),
            date: NaiveDate::from_ymd_opt(y, m, d).unwrap(),
            outcome,
            note: None,
            by: me,
            at: now,
        };
        check_ins.push(at(2026, 11, 23, Outcome::Kept)); // this week's Monday
        check_ins.push(at(2026, 11, 26, Outcome::Missed));
        check_ins.push(at(2026, 11, 22, Outcome::Kept)); // last week's Sunday
        check_ins.push(at(2026, 9, 7, Outcome::Renegotiated)); // the first week shown
        check_ins.push(at(2026, 9, 6, Outcome::Kept)); // too old
        let weeks = weekly(&[e], today);
        assert_eq!(weeks.len(), WEEKS);
        assert_eq!(
            weeks[11],
            Week { starts: NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(), kept: 1, missed: 1, renegotiated: 0 }
        );
        assert_eq!((weeks[10].kept, weeks[10].missed), (1, 0));
        assert_eq!(weeks[0].starts, NaiveDate::from_ymd_opt(2026, 9, 7).unwrap());
        assert_eq!(weeks[0].renegotiated, 1);
        let total: u32 = weeks.iter().map(|w| w.kept + w.missed + w.renegotiated).sum();
        assert_eq!(total, 4);
    }
}
