//! When deploys may happen: weekly windows and blackout dates, in a named time zone.
//!
//! Windows are wall-clock time in the schedule's IANA time zone, evaluated with the time
//! zone database (jiff), so they follow daylight saving time: `09:00-17:00` in
//! `America/Toronto` opens at 09:00 local on both sides of a change, whatever the UTC
//! offset.
//!
//! - `from` is inclusive and `to` exclusive: `09:00-17:00` is open at 09:00:00 and at
//!   16:59:59, closed at 17:00:00. `to = "24:00"` means the end of the day.
//! - `from` later than `to` crosses midnight: `{ days = "fri", from = "22:00", to = "02:00" }`
//!   opens Friday 22:00 and closes Saturday 02:00. `days` names the day a window opens.
//!   `from` equal to `to` is refused as ambiguous (write `00:00`-`24:00` for a whole day).
//! - On the day clocks spring forward the skipped hour does not exist: a window inside it
//!   (`02:00-03:00` on 2026-03-08 in Toronto) is not open that day, and one spanning it
//!   (`01:00-04:00`) is open two real hours. On the day clocks fall back the repeated hour
//!   happens twice, and a window containing it is open both times.
//! - Blackout dates are calendar dates in the same time zone: `2026-12-24` blocks from
//!   local midnight to local midnight, whatever time it is in UTC. A window crossing
//!   midnight into a blackout date closes at that midnight.
//! - No windows means any time (except blackout dates).

use std::collections::BTreeSet;
use std::fmt;

use jiff::civil::{Date, DateTime, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ZonedDateTime};

/// A value in a schedule that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error("`{text}` names no weekday: write days like \"mon-fri\", \"sat,sun\" or \"mon,wed\"")]
    NoDays { text: String },
    #[error(
        "`{word}` in `{text}` is not a weekday: use mon, tue, wed, thu, fri, sat, sun \
         (or full names), ranges like mon-fri and commas"
    )]
    BadDay { text: String, word: String },
    #[error("`{text}` is not a time of day: {why}")]
    BadTime { text: String, why: &'static str },
    #[error(
        "the window {from}-{to} is empty or a whole day: from and to are equal; \
         write from = \"00:00\", to = \"24:00\" for a whole day"
    )]
    EqualEnds { from: String, to: String },
    #[error("`{name}` is not an IANA time zone name{}", suggestion.as_ref().map(|s| format!("; did you mean `{s}`?")).unwrap_or_default())]
    UnknownTimeZone {
        name: String,
        suggestion: Option<String>,
    },
    #[error(
        "`{name}` is a fixed UTC offset without daylight saving time, not a region's clock; \
         write the region, like `{example}`"
    )]
    FixedAbbreviation { name: String, example: &'static str },
    #[error("`{text}` is not a date: {why}")]
    BadDate { text: String, why: String },
}

/// A set of weekdays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Weekdays(u8);

const DAY_NAMES: [(&str, &str); 7] = [
    ("mon", "monday"),
    ("tue", "tuesday"),
    ("wed", "wednesday"),
    ("thu", "thursday"),
    ("fri", "friday"),
    ("sat", "saturday"),
    ("sun", "sunday"),
];
const DAY_LABELS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

fn offset(day: Weekday) -> usize {
    // 0 for Monday .. 6 for Sunday, so always a valid index.
    usize::try_from(day.to_monday_zero_offset()).unwrap_or(0)
}

impl Weekdays {
    /// Every day of the week.
    pub const ALL: Weekdays = Weekdays(0b111_1111);

    /// Parses `mon-fri`, `sat,sun`, `mon,wed-fri`, `fri-mon` (wrapping), case-insensitive,
    /// with three-letter or full names.
    pub fn parse(text: &str) -> Result<Weekdays, WindowError> {
        let day = |word: &str| {
            let w = word.trim().to_ascii_lowercase();
            DAY_NAMES
                .iter()
                .position(|(short, long)| w == *short || w == *long)
                .ok_or_else(|| WindowError::BadDay {
                    text: text.to_string(),
                    word: word.trim().to_string(),
                })
        };
        let mut bits = 0u8;
        for part in text.split(',').filter(|p| !p.trim().is_empty()) {
            match part.split_once('-') {
                Some((first, last)) => {
                    let (first, last) = (day(first)?, day(last)?);
                    let mut d = first;
                    loop {
                        bits |= 1 << d;
                        if d == last {
                            break;
                        }
                        d = (d + 1) % 7;
                    }
                }
                None => bits |= 1 << day(part)?,
            }
        }
        if bits == 0 {
            return Err(WindowError::NoDays {
                text: text.to_string(),
            });
        }
        Ok(Weekdays(bits))
    }

    pub fn contains(self, day: Weekday) -> bool {
        self.0 & (1 << offset(day)) != 0
    }
}

impl fmt::Display for Weekdays {
    /// `Mon-Fri`, `Sat, Sun`, `Mon, Wed-Fri`, `every day`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Weekdays::ALL {
            return f.write_str("every day");
        }
        let mut runs: Vec<String> = Vec::new();
        let mut d = 0;
        while d < 7 {
            if self.0 & (1 << d) == 0 {
                d += 1;
                continue;
            }
            let start = d;
            while d + 1 < 7 && self.0 & (1 << (d + 1)) != 0 {
                d += 1;
            }
            runs.push(match d - start {
                0 => DAY_LABELS[start].to_string(),
                1 => format!("{}, {}", DAY_LABELS[start], DAY_LABELS[d]),
                _ => format!("{}-{}", DAY_LABELS[start], DAY_LABELS[d]),
            });
            d += 1;
        }
        f.write_str(&runs.join(", "))
    }
}

/// A wall-clock time with minute precision, `00:00` to `24:00` (minutes since midnight).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClockTime(u16);

impl ClockTime {
    const END_OF_DAY: u16 = 24 * 60;

    /// Parses `HH:MM` (24-hour; `H:MM` and `HH:MM:00` are accepted too). `24:00` is
    /// accepted here; [`Window::new`] allows it only as `to`.
    pub fn parse(text: &str) -> Result<ClockTime, WindowError> {
        let bad = |why| WindowError::BadTime {
            text: text.to_string(),
            why,
        };
        let mut parts = text.split(':');
        let (Some(h), Some(m)) = (parts.next(), parts.next()) else {
            return Err(bad("write it as HH:MM in 24-hour time, like \"09:00\""));
        };
        if let Some(s) = parts.next()
            && s != "00"
        {
            return Err(bad("windows are set in whole minutes; drop the seconds"));
        }
        if parts.next().is_some() {
            return Err(bad("write it as HH:MM in 24-hour time, like \"09:00\""));
        }
        let number = |s: &str, max_len| {
            (!s.is_empty() && s.len() <= max_len && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse::<u16>().ok())
                .flatten()
        };
        let hour = number(h, 2).ok_or_else(|| bad("the hour is not a number"))?;
        let minute = if m.len() == 2 { number(m, 2) } else { None }
            .ok_or_else(|| bad("the minutes must be two digits"))?;
        if minute > 59 {
            return Err(bad("the minutes must be 00-59"));
        }
        if hour > 24 || (hour == 24 && minute != 0) {
            return Err(bad(
                "the hour must be 00-23 (or 24:00 for the end of the day)",
            ));
        }
        Ok(ClockTime(hour * 60 + minute))
    }

    fn of(datetime: DateTime) -> ClockTime {
        let minutes = i32::from(datetime.hour()) * 60 + i32::from(datetime.minute());
        ClockTime(u16::try_from(minutes).unwrap_or(0))
    }

    fn hour_minute(self) -> (i8, i8) {
        // At most 24 and 59, so the conversions cannot fail.
        let h = i8::try_from(self.0 / 60).unwrap_or(0);
        let m = i8::try_from(self.0 % 60).unwrap_or(0);
        (h, m)
    }
}

impl fmt::Display for ClockTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

/// A weekly window: on `days`, from `from` (inclusive) to `to` (exclusive), local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    days: Weekdays,
    from: ClockTime,
    to: ClockTime,
}

impl Window {
    /// A window; `from` later than `to` crosses midnight, equal ends are refused.
    pub fn new(days: Weekdays, from: ClockTime, to: ClockTime) -> Result<Window, WindowError> {
        if from.0 == ClockTime::END_OF_DAY {
            return Err(WindowError::BadTime {
                text: from.to_string(),
                why: "a window cannot open at 24:00; write 00:00 on the next day",
            });
        }
        if from == to {
            return Err(WindowError::EqualEnds {
                from: from.to_string(),
                to: to.to_string(),
            });
        }
        Ok(Window { days, from, to })
    }

    /// Parses the three config strings (`days` absent: every day).
    pub fn parse(days: Option<&str>, from: &str, to: &str) -> Result<Window, WindowError> {
        let days = days.map_or(Ok(Weekdays::ALL), Weekdays::parse)?;
        Window::new(days, ClockTime::parse(from)?, ClockTime::parse(to)?)
    }

    /// Whether the window crosses midnight into the next day.
    pub fn crosses_midnight(&self) -> bool {
        self.from > self.to
    }

    /// Whether a local wall-clock time falls inside the window.
    pub fn contains(&self, local: DateTime) -> bool {
        let time = ClockTime::of(local);
        let day = local.weekday();
        if self.crosses_midnight() {
            (self.days.contains(day) && time >= self.from)
                || (self.days.contains(day.previous()) && time < self.to)
        } else {
            self.days.contains(day) && self.from <= time && time < self.to
        }
    }
}

impl fmt::Display for Window {
    /// `Mon-Fri 09:00-17:00`, `Fri 22:00-02:00 (next day)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}-{}", self.days, self.from, self.to)?;
        if self.crosses_midnight() {
            f.write_str(" (next day)")?;
        }
        Ok(())
    }
}

/// Looks up an IANA time zone name, refusing the fixed-offset abbreviations people
/// mistake for their region's clock and suggesting a close name for typos.
pub fn time_zone(name: &str) -> Result<TimeZone, WindowError> {
    let example = match name.to_ascii_uppercase().as_str() {
        "EST" => Some("America/New_York"),
        "MST" => Some("America/Denver"),
        "HST" => Some("Pacific/Honolulu"),
        _ => None,
    };
    if let Some(example) = example {
        return Err(WindowError::FixedAbbreviation {
            name: name.to_string(),
            example,
        });
    }
    TimeZone::get(name).map_err(|_| WindowError::UnknownTimeZone {
        name: name.to_string(),
        suggestion: closest_zone_name(name),
    })
}

fn closest_zone_name(name: &str) -> Option<String> {
    let wanted = name.to_ascii_lowercase();
    jiff::tz::db()
        .available()
        .map(|n| n.as_str().to_string())
        .map(|n| (edit_distance(&wanted, &n.to_ascii_lowercase()), n))
        .filter(|(d, _)| *d <= 3)
        .min()
        .map(|(_, n)| n)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            let value = (previous + cost).min(row[j] + 1).min(row[j + 1] + 1);
            previous = row[j + 1];
            row[j + 1] = value;
        }
    }
    row[b.len()]
}

/// Parses a calendar date written `YYYY-MM-DD`.
pub fn parse_date(text: &str) -> Result<Date, WindowError> {
    let bad = |why: String| WindowError::BadDate {
        text: text.to_string(),
        why,
    };
    let shape = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if !shape {
        return Err(bad("write it as YYYY-MM-DD, like 2026-12-24".into()));
    }
    let (year, month, day) = (
        text[0..4].parse::<i16>().unwrap_or(0),
        text[5..7].parse::<i8>().unwrap_or(0),
        text[8..10].parse::<i8>().unwrap_or(0),
    );
    if !(1..=12).contains(&month) {
        return Err(bad(format!("there is no month {month}")));
    }
    Date::new(year, month, day).map_err(|_| match Date::new(year, month, 1) {
        Ok(first) => bad(format!(
            "{} has {} days",
            first.strftime("%B %Y"),
            first.days_in_month()
        )),
        Err(_) => bad(format!("the year {year} is out of range")),
    })
}

/// Windows and blackout dates in one time zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    zone_name: String,
    zone: TimeZone,
    windows: Vec<Window>,
    blackout: BTreeSet<Date>,
}

/// Why a moment is not open for deploys, as facts for a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Closed {
    /// Outside every window; `next` is when one opens next (if within a year).
    OutsideWindows {
        now: ZonedDateTime,
        next: Option<ZonedDateTime>,
    },
    /// The local date is a blackout date; `next` is when deploys may resume.
    Blackout {
        date: Date,
        now: ZonedDateTime,
        next: Option<ZonedDateTime>,
    },
}

impl Schedule {
    /// A schedule in the named IANA time zone.
    pub fn new(
        zone_name: &str,
        windows: Vec<Window>,
        blackout: impl IntoIterator<Item = Date>,
    ) -> Result<Schedule, WindowError> {
        Ok(Schedule {
            zone: time_zone(zone_name)?,
            zone_name: zone_name.to_string(),
            windows,
            blackout: blackout.into_iter().collect(),
        })
    }

    pub fn zone_name(&self) -> &str {
        &self.zone_name
    }

    pub fn windows(&self) -> &[Window] {
        &self.windows
    }

    /// `Mon-Fri 09:00-17:00, Sat 10:00-12:00 America/Toronto`.
    pub fn describe_windows(&self) -> String {
        let windows: Vec<String> = self.windows.iter().map(Window::to_string).collect();
        format!("{} {}", windows.join(", "), self.zone_name)
    }

    /// The moment in the schedule's time zone.
    pub fn local(&self, now: Timestamp) -> ZonedDateTime {
        now.to_zoned_datetime(self.zone.clone())
    }

    /// Whether deploys may happen at `now`.
    pub fn is_open(&self, now: Timestamp) -> bool {
        self.is_open_at(&self.local(now))
    }

    /// Every reason deploys may not happen at `now`; empty when they may.
    pub fn check(&self, now: Timestamp) -> Vec<Closed> {
        let local = self.local(now);
        let in_blackout = self.blackout.contains(&local.date());
        let in_window = self.in_window(&local);
        let mut closed = Vec::new();
        if in_blackout || !in_window {
            let next = self.next_opening(now);
            if in_blackout {
                closed.push(Closed::Blackout {
                    date: local.date(),
                    now: local.clone(),
                    next: next.clone(),
                });
            }
            if !in_window {
                closed.push(Closed::OutsideWindows { now: local, next });
            }
        }
        closed
    }

    /// The first moment after `now` (within about a year) at which deploys may happen:
    /// a window opening on a non-blackout day, or the midnight a blackout date ends.
    pub fn next_opening(&self, now: Timestamp) -> Option<ZonedDateTime> {
        let mut date = self.local(now).date();
        for _ in 0..400 {
            // Deploys can open when a window does, or at midnight (the end of a blackout
            // date, possibly inside a window that crossed midnight).
            let starts = self
                .windows
                .iter()
                .filter(|w| w.days.contains(date.weekday()))
                .map(|w| w.from)
                .chain([ClockTime(0)]);
            let earliest = starts
                .filter_map(|start| {
                    let (h, m) = start.hour_minute();
                    // A start inside a skipped hour lands after it (jiff's "compatible"
                    // choice); the window may then be over, which `is_open_at` sees.
                    date.at(h, m, 0, 0)
                        .to_zoned_datetime(self.zone.clone())
                        .ok()
                })
                .filter(|z| z.timestamp() > now && self.is_open_at(z))
                .min();
            if earliest.is_some() {
                return earliest;
            }
            date = date.tomorrow().ok()?;
        }
        None
    }

    fn in_window(&self, local: &ZonedDateTime) -> bool {
        self.windows.is_empty() || self.windows.iter().any(|w| w.contains(local.datetime()))
    }

    fn is_open_at(&self, local: &ZonedDateTime) -> bool {
        !self.blackout.contains(&local.date()) && self.in_window(local)
    }
}

/// `Sat 10:12 EST`.
pub(crate) fn short_time(z: &ZonedDateTime) -> String {
    z.strftime("%a %H:%M %Z").to_string()
}

/// `Mon 2026-03-09 09:00 EDT`.
pub(crate) fn long_time(z: &ZonedDateTime) -> String {
    z.strftime("%a %Y-%m-%d %H:%M %Z").to_string()
}

#[cfg(test)]
mod tests {
    /// Machines without tzdata (slim CI images) still know the zones: the database is
    /// compiled in.
    #[test]
    fn the_time_zone_database_is_bundled() {
        let db = jiff::tz::TimeZoneDatabase::bundled();
        assert!(db.get("America/Toronto").is_ok());
        assert!(db.get("Europe/Berlin").is_ok());
    }
}
