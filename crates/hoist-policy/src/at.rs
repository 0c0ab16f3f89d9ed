//! When a deploy that waits for its time may start: `--at-next-window` (the schedule's next
//! opening, or now when it is open) and `--at "2026-12-02T22:00"` (a wall-clock time in the
//! schedule's zone that must be in the future and open). Pure: the caller gives `now`.

use jiff::civil::DateTime;
use jiff::tz::{Disambiguation, TimeZone};
use jiff::{Timestamp, ZonedDateTime};

use crate::window::Schedule;

/// Why a deploy cannot be scheduled for the time asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AtError {
    #[error(
        "`{text}` is not a date and time: write it like \"2026-12-02T22:00\" (local time in {zone})"
    )]
    Unparsable { text: String, zone: String },
    #[error("{local} is in the past (it is now {now}); give a later time, or deploy now")]
    Past { local: String, now: String },
    #[error("{local} is outside {environment}'s deploy windows ({windows}){}", next.as_ref().map(|n| format!("; the next window opens {n}")).unwrap_or_default())]
    Closed {
        environment: String,
        local: String,
        windows: String,
        next: Option<String>,
    },
    #[error("{environment}'s deploy windows do not open within a year ({windows})")]
    NeverOpens {
        environment: String,
        windows: String,
    },
}

/// The time a scheduled deploy starts, and how to say it in the schedule's zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub at: Timestamp,
    pub local: ZonedDateTime,
}

impl Slot {
    /// `Wed 2026-12-02 22:00 CET`.
    pub fn describe(&self) -> String {
        crate::window::long_time(&self.local)
    }
}

fn zone_of(schedule: Option<&Schedule>) -> (String, TimeZone) {
    match schedule {
        Some(s) => (
            s.zone_name().to_string(),
            crate::window::time_zone(s.zone_name()).unwrap_or(TimeZone::UTC),
        ),
        None => ("UTC".to_string(), TimeZone::UTC),
    }
}

/// `--at-next-window`: now when deploys may happen now (no schedule, or inside a window),
/// else the schedule's next opening.
pub fn next_window(
    environment: &str,
    schedule: Option<&Schedule>,
    now: Timestamp,
) -> Result<Slot, AtError> {
    let (_, zone) = zone_of(schedule);
    let Some(schedule) = schedule.filter(|s| !s.is_open(now)) else {
        return Ok(Slot {
            at: now,
            local: now.to_zoned_datetime(zone),
        });
    };
    match schedule.next_opening(now) {
        Some(local) => Ok(Slot {
            at: local.timestamp(),
            local,
        }),
        None => Err(AtError::NeverOpens {
            environment: environment.to_string(),
            windows: schedule.describe_windows(),
        }),
    }
}

/// `--at TEXT`: `TEXT` (`2026-12-02T22:00`, seconds optional) as wall-clock time in the
/// schedule's zone (UTC without a schedule). A time repeated by a clock change is its first
/// occurrence; one skipped by it is refused by jiff's "compatible" rule as the hour after.
/// Refused when it is not after `now` or deploys may not happen then.
pub fn at_time(
    environment: &str,
    schedule: Option<&Schedule>,
    text: &str,
    now: Timestamp,
) -> Result<Slot, AtError> {
    let (zone_name, zone) = zone_of(schedule);
    let unparsable = || AtError::Unparsable {
        text: text.to_string(),
        zone: zone_name.clone(),
    };
    let civil: DateTime = text.trim().parse().map_err(|_| unparsable())?;
    let local = zone
        .to_ambiguous_zoned_datetime(civil)
        .disambiguate(Disambiguation::Compatible)
        .map_err(|_| unparsable())?;
    let at = local.timestamp();
    if at <= now {
        return Err(AtError::Past {
            local: crate::window::long_time(&local),
            now: crate::window::long_time(&now.to_zoned_datetime(zone)),
        });
    }
    if let Some(schedule) = schedule
        && !schedule.is_open(at)
    {
        return Err(AtError::Closed {
            environment: environment.to_string(),
            local: crate::window::long_time(&local),
            windows: schedule.describe_windows(),
            next: schedule
                .next_opening(at)
                .map(|n| crate::window::long_time(&n)),
        });
    }
    Ok(Slot { at, local })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::Window;

    fn ts(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn toronto_weekdays_9_to_17() -> Schedule {
        let window = Window::parse(Some("mon-fri"), "09:00", "17:00").unwrap();
        Schedule::new("America/Toronto", vec![window], []).unwrap()
    }

    #[test]
    fn inside_a_window_the_next_window_is_now() {
        let s = toronto_weekdays_9_to_17();
        // Wed 2026-12-02 10:00 EST.
        let now = ts("2026-12-02T15:00:00Z");
        assert_eq!(next_window("production", Some(&s), now).unwrap().at, now);
        assert_eq!(next_window("production", None, now).unwrap().at, now);
    }

    #[test]
    fn after_friday_closing_the_next_window_is_monday_morning() {
        let s = toronto_weekdays_9_to_17();
        // Fri 2026-12-04 18:00 EST.
        let slot = next_window("production", Some(&s), ts("2026-12-04T23:00:00Z")).unwrap();
        assert_eq!(slot.at, ts("2026-12-07T14:00:00Z"));
        assert_eq!(slot.describe(), "Mon 2026-12-07 09:00 EST");
    }

    #[test]
    fn the_next_window_across_spring_forward_opens_at_local_nine_in_daylight_time() {
        let s = toronto_weekdays_9_to_17();
        // Fri 2026-03-06 18:00 EST; clocks spring forward on Sun 2026-03-08.
        let slot = next_window("production", Some(&s), ts("2026-03-06T23:00:00Z")).unwrap();
        assert_eq!(slot.describe(), "Mon 2026-03-09 09:00 EDT");
        assert_eq!(slot.at, ts("2026-03-09T13:00:00Z"));
    }

    #[test]
    fn the_next_window_across_fall_back_opens_at_local_nine_in_standard_time() {
        let s = toronto_weekdays_9_to_17();
        // Fri 2026-10-30 18:00 EDT; clocks fall back on Sun 2026-11-01.
        let slot = next_window("production", Some(&s), ts("2026-10-30T22:00:00Z")).unwrap();
        assert_eq!(slot.describe(), "Mon 2026-11-02 09:00 EST");
        assert_eq!(slot.at, ts("2026-11-02T14:00:00Z"));
    }

    #[test]
    fn a_window_inside_the_skipped_hour_is_not_open_that_day_and_opens_the_next() {
        let window = Window::parse(None, "02:00", "03:00").unwrap();
        let s = Schedule::new("America/Toronto", vec![window], []).unwrap();
        // Sun 2026-03-08 01:00 EST: 02:00-03:00 does not exist today.
        let slot = next_window("production", Some(&s), ts("2026-03-08T06:00:00Z")).unwrap();
        assert_eq!(slot.describe(), "Mon 2026-03-09 02:00 EDT");
    }

    #[test]
    fn at_is_read_in_the_schedules_zone() {
        let s = toronto_weekdays_9_to_17();
        let slot = at_time(
            "production",
            Some(&s),
            "2026-12-07T10:30",
            ts("2026-12-05T12:00:00Z"),
        )
        .unwrap();
        assert_eq!(slot.at, ts("2026-12-07T15:30:00Z"));
        // Without a schedule it is UTC.
        let slot = at_time(
            "staging",
            None,
            "2026-12-07T10:30",
            ts("2026-12-05T12:00:00Z"),
        )
        .unwrap();
        assert_eq!(slot.at, ts("2026-12-07T10:30:00Z"));
    }

    #[test]
    fn at_in_the_past_outside_a_window_or_unreadable_is_refused_with_what_to_do() {
        let s = toronto_weekdays_9_to_17();
        let now = ts("2026-12-05T12:00:00Z");
        let past = at_time("production", Some(&s), "2026-12-02T10:00", now).unwrap_err();
        assert!(matches!(past, AtError::Past { .. }), "{past}");
        assert!(past.to_string().contains("in the past"), "{past}");
        let closed = at_time("production", Some(&s), "2026-12-07T20:00", now).unwrap_err();
        assert_eq!(
            closed.to_string(),
            "Mon 2026-12-07 20:00 EST is outside production's deploy windows \
             (Mon-Fri 09:00-17:00 America/Toronto); the next window opens Tue 2026-12-08 09:00 EST"
        );
        let bad = at_time("production", Some(&s), "tomorrow", now).unwrap_err();
        assert!(bad.to_string().contains("America/Toronto"), "{bad}");
    }

    #[test]
    fn at_on_the_repeated_hour_of_fall_back_is_its_first_occurrence() {
        let window = Window::parse(None, "00:00", "24:00").unwrap();
        let s = Schedule::new("America/Toronto", vec![window], []).unwrap();
        let slot = at_time(
            "production",
            Some(&s),
            "2026-11-01T01:30",
            ts("2026-10-30T00:00:00Z"),
        )
        .unwrap();
        // 01:30 EDT (UTC-4), not 01:30 EST.
        assert_eq!(slot.at, ts("2026-11-01T05:30:00Z"));
    }
}
