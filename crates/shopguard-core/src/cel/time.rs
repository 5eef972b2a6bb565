//! CEL's `google.protobuf.Timestamp` and `google.protobuf.Duration`: parsing, printing,
//! arithmetic with range checks, and the calendar accessors (`getHours`, `getDayOfWeek`, ...)
//! with an optional time zone.
//!
//! Ranges, as the specification has them: a timestamp lies in `0001-01-01T00:00:00Z` ..=
//! `9999-12-31T23:59:59.999999999Z`; a duration is a signed 64-bit count of nanoseconds
//! (about ±292 years). Leaving a range is an evaluation error, never a wrap.
//!
//! Time zones are fixed offsets (`+11:00`, `-02:30`, `02:00`), `UTC`, or IANA names
//! (`Australia/Sydney`), resolved with the tz database compiled into the binary (`jiff`'s
//! bundled copy): no file is read.

use std::fmt;

use super::value::{EvalError, EvalResult};

const NANOS_PER_SECOND: i128 = 1_000_000_000;
/// `0001-01-01T00:00:00Z` in seconds since the Unix epoch.
const MIN_TIMESTAMP_SECONDS: i64 = -62_135_596_800;
/// `9999-12-31T23:59:59Z` in seconds since the Unix epoch.
const MAX_TIMESTAMP_SECONDS: i64 = 253_402_300_799;

/// A point in time: seconds since the Unix epoch and a nanosecond part (0..1e9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    seconds: i64,
    nanos: u32,
}

/// A signed span of time, in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(i64);

fn range_error(what: &str) -> EvalError {
    EvalError::new(format!("{what} out of range"))
}

impl Timestamp {
    /// The timestamp this many nanoseconds after the Unix epoch, if it is in CEL's range.
    pub fn from_nanos(nanos: i128) -> EvalResult<Timestamp> {
        let seconds = nanos.div_euclid(NANOS_PER_SECOND);
        let part = nanos.rem_euclid(NANOS_PER_SECOND);
        let seconds = i64::try_from(seconds).map_err(|_| range_error("timestamp"))?;
        if !(MIN_TIMESTAMP_SECONDS..=MAX_TIMESTAMP_SECONDS).contains(&seconds) {
            return Err(range_error("timestamp"));
        }
        Ok(Timestamp {
            seconds,
            nanos: part as u32,
        })
    }

    /// The timestamp this many seconds after the Unix epoch.
    pub fn from_seconds(seconds: i64) -> EvalResult<Timestamp> {
        Timestamp::from_nanos(i128::from(seconds) * NANOS_PER_SECOND)
    }

    /// The timestamp this many milliseconds after the Unix epoch (how shopguard stores times).
    pub fn from_millis(millis: i64) -> EvalResult<Timestamp> {
        Timestamp::from_nanos(i128::from(millis) * 1_000_000)
    }

    /// Nanoseconds since the Unix epoch.
    pub fn nanos(self) -> i128 {
        i128::from(self.seconds) * NANOS_PER_SECOND + i128::from(self.nanos)
    }

    /// Whole seconds since the Unix epoch (rounded down).
    pub fn seconds(self) -> i64 {
        self.seconds
    }

    /// Parses an RFC 3339 timestamp (`2009-02-13T23:31:30Z`, `...30.5+01:00`).
    pub fn parse(text: &str) -> EvalResult<Timestamp> {
        parse_rfc3339(text)
            .ok_or_else(|| EvalError::new(format!("invalid timestamp '{text}'")))
            .and_then(|nanos| nanos)
    }

    /// `self + duration`, failing outside the range.
    pub fn checked_add(self, duration: Duration) -> EvalResult<Timestamp> {
        Timestamp::from_nanos(self.nanos() + i128::from(duration.0))
    }

    /// `self - duration`, failing outside the range.
    pub fn checked_sub(self, duration: Duration) -> EvalResult<Timestamp> {
        Timestamp::from_nanos(self.nanos() - i128::from(duration.0))
    }

    /// `self - other`, failing when the span does not fit a duration.
    pub fn since(self, other: Timestamp) -> EvalResult<Duration> {
        Duration::from_nanos(self.nanos() - other.nanos())
    }

    /// A calendar field of the timestamp, in UTC or in the time zone `zone`.
    pub fn field(self, field: CalendarField, zone: Option<&str>) -> EvalResult<i64> {
        let offset = match zone {
            None => 0,
            Some(zone) => zone_offset(zone, self)?,
        };
        let local = self.seconds + offset;
        let days = local.div_euclid(86_400);
        let second_of_day = local.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        Ok(match field {
            CalendarField::FullYear => year,
            CalendarField::Month => month - 1,
            CalendarField::Date => day,
            CalendarField::DayOfMonth => day - 1,
            CalendarField::DayOfWeek => (days + 4).rem_euclid(7),
            CalendarField::DayOfYear => days - days_from_civil(year, 1, 1),
            CalendarField::Hours => second_of_day / 3_600,
            CalendarField::Minutes => second_of_day % 3_600 / 60,
            CalendarField::Seconds => second_of_day % 60,
            CalendarField::Milliseconds => i64::from(self.nanos / 1_000_000),
        })
    }
}

/// A calendar field read by an accessor such as `getHours()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CalendarField {
    /// `getFullYear`
    FullYear,
    /// `getMonth`, 0-based
    Month,
    /// `getDate`, 1-based day of the month
    Date,
    /// `getDayOfMonth`, 0-based
    DayOfMonth,
    /// `getDayOfWeek`, 0 for Sunday
    DayOfWeek,
    /// `getDayOfYear`, 0-based
    DayOfYear,
    /// `getHours`
    Hours,
    /// `getMinutes`
    Minutes,
    /// `getSeconds`
    Seconds,
    /// `getMilliseconds`
    Milliseconds,
}

impl CalendarField {
    /// The field an accessor method reads, by the method's name.
    pub fn from_method(name: &str) -> Option<CalendarField> {
        Some(match name {
            "getFullYear" => CalendarField::FullYear,
            "getMonth" => CalendarField::Month,
            "getDate" => CalendarField::Date,
            "getDayOfMonth" => CalendarField::DayOfMonth,
            "getDayOfWeek" => CalendarField::DayOfWeek,
            "getDayOfYear" => CalendarField::DayOfYear,
            "getHours" => CalendarField::Hours,
            "getMinutes" => CalendarField::Minutes,
            "getSeconds" => CalendarField::Seconds,
            "getMilliseconds" => CalendarField::Milliseconds,
            _ => return None,
        })
    }
}

impl Duration {
    /// A duration of this many nanoseconds, if it fits.
    pub fn from_nanos(nanos: i128) -> EvalResult<Duration> {
        i64::try_from(nanos)
            .map(Duration)
            .map_err(|_| range_error("duration"))
    }

    /// A duration of this many seconds, if it fits.
    pub fn from_seconds(seconds: i64) -> EvalResult<Duration> {
        Duration::from_nanos(i128::from(seconds) * NANOS_PER_SECOND)
    }

    /// Nanoseconds.
    pub fn nanos(self) -> i64 {
        self.0
    }

    /// `self + other`, failing on overflow.
    pub fn checked_add(self, other: Duration) -> EvalResult<Duration> {
        Duration::from_nanos(i128::from(self.0) + i128::from(other.0))
    }

    /// `self - other`, failing on overflow.
    pub fn checked_sub(self, other: Duration) -> EvalResult<Duration> {
        Duration::from_nanos(i128::from(self.0) - i128::from(other.0))
    }

    /// A component read by `getHours()`, `getMinutes()`, `getSeconds()` (whole units in the
    /// span) or `getMilliseconds()` (the millisecond part of the second).
    pub fn field(self, field: CalendarField) -> EvalResult<i64> {
        Ok(match field {
            CalendarField::Hours => self.0 / 3_600_000_000_000,
            CalendarField::Minutes => self.0 / 60_000_000_000,
            CalendarField::Seconds => self.0 / 1_000_000_000,
            CalendarField::Milliseconds => self.0 % 1_000_000_000 / 1_000_000,
            other => {
                return Err(EvalError::new(format!(
                    "no such overload: duration has no {other:?}"
                )))
            }
        })
    }

    /// Parses a duration as CEL writes it: an optional sign, then numbers with units
    /// (`h`, `m`, `s`, `ms`, `us`, `µs`, `ns`), as in `1h30m`, `-1.5s`, `0`.
    pub fn parse(text: &str) -> EvalResult<Duration> {
        parse_duration(text).ok_or_else(|| EvalError::new(format!("invalid duration '{text}'")))?
    }
}

fn parse_duration(text: &str) -> Option<EvalResult<Duration>> {
    let (negative, mut rest) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Some(Ok(Duration(0)));
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let whole_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let whole = &rest[..whole_len];
        rest = &rest[whole_len..];
        let mut fraction = "";
        if let Some(after_dot) = rest.strip_prefix('.') {
            let fraction_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
            fraction = &after_dot[..fraction_len];
            rest = &after_dot[fraction_len..];
        }
        if whole.is_empty() && fraction.is_empty() {
            return None;
        }
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(rest.len(), |(index, _)| index);
        let unit: i128 = match &rest[..unit_len] {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => NANOS_PER_SECOND,
            "m" => 60 * NANOS_PER_SECOND,
            "h" => 3_600 * NANOS_PER_SECOND,
            _ => return None,
        };
        rest = &rest[unit_len..];
        let whole_value: i128 = if whole.is_empty() {
            0
        } else {
            // Twenty digits of hours still fit an i128 once scaled to nanoseconds.
            match whole.parse::<i128>() {
                Ok(value) if whole.len() <= 20 => value,
                _ => return Some(Err(range_error("duration"))),
            }
        };
        let mut part = whole_value * unit;
        let mut scale = unit;
        for digit in fraction.bytes().take(30) {
            scale /= 10;
            part += i128::from(digit - b'0') * scale;
        }
        total += part;
        if total > i128::from(i64::MAX) + 1 {
            return Some(Err(range_error("duration")));
        }
    }
    Some(Duration::from_nanos(if negative { -total } else { total }))
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let shifted_year = if month <= 2 { year - 1 } else { year };
    let era = shifted_year.div_euclid(400);
    let year_of_era = shifted_year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The proleptic Gregorian date (year, month 1..=12, day 1..=31) of a day since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Reads `count` ASCII digits at `at`.
fn digits(bytes: &[u8], at: usize, count: usize) -> Option<i64> {
    let slice = bytes.get(at..at + count)?;
    slice.iter().try_fold(0i64, |value, byte| {
        byte.is_ascii_digit()
            .then(|| value * 10 + i64::from(byte - b'0'))
    })
}

/// `None` for text that is not RFC 3339; `Some(Err)` for a valid form out of range.
fn parse_rfc3339(text: &str) -> Option<EvalResult<Timestamp>> {
    let bytes = text.as_bytes();
    let year = digits(bytes, 0, 4)?;
    if bytes.get(4) != Some(&b'-') {
        // Five-digit years are well-formed but beyond the range.
        return bytes
            .get(4)
            .is_some_and(u8::is_ascii_digit)
            .then(|| Err(range_error("timestamp")));
    }
    let month = digits(bytes, 5, 2)?;
    let day = digits(bytes, 8, 2)?;
    let hour = digits(bytes, 11, 2)?;
    let minute = digits(bytes, 14, 2)?;
    let second = digits(bytes, 17, 2)?;
    if bytes[7] != b'-'
        || !matches!(bytes[10], b'T' | b't')
        || bytes[13] != b':'
        || bytes[16] != b':'
    {
        return None;
    }
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let mut at = 19;
    let mut nanos: i128 = 0;
    if bytes.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        let mut scale = NANOS_PER_SECOND;
        while let Some(digit) = bytes.get(at).filter(|byte| byte.is_ascii_digit()) {
            scale /= 10;
            nanos += i128::from(digit - b'0') * scale;
            at += 1;
        }
        if at == start || at - start > 9 {
            return None;
        }
    }
    let offset_seconds = match bytes.get(at)? {
        b'Z' | b'z' if at + 1 == bytes.len() => 0,
        sign @ (b'+' | b'-') if at + 6 == bytes.len() && bytes[at + 3] == b':' => {
            let hours = digits(bytes, at + 1, 2)?;
            let minutes = digits(bytes, at + 4, 2)?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let magnitude = hours * 3_600 + minutes * 60;
            if *sign == b'-' {
                -magnitude
            } else {
                magnitude
            }
        }
        _ => return None,
    };
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second
        - offset_seconds;
    Some(Timestamp::from_nanos(
        i128::from(seconds) * NANOS_PER_SECOND + nanos,
    ))
}

/// The offset from UTC, in seconds, of `zone` at the instant `at`.
fn zone_offset(zone: &str, at: Timestamp) -> EvalResult<i64> {
    if zone.eq_ignore_ascii_case("UTC") || zone.eq_ignore_ascii_case("Z") {
        return Ok(0);
    }
    let bytes = zone.as_bytes();
    let (sign, numbers) = match bytes.first() {
        Some(b'+') => (1, &bytes[1..]),
        Some(b'-') => (-1, &bytes[1..]),
        _ => (1, bytes),
    };
    if numbers.len() == 5 && numbers[2] == b':' {
        if let (Some(hours), Some(minutes)) = (digits(numbers, 0, 2), digits(numbers, 3, 2)) {
            if hours <= 23 && minutes <= 59 {
                return Ok(sign * (hours * 3_600 + minutes * 60));
            }
        }
        return Err(EvalError::new(format!("invalid time zone '{zone}'")));
    }
    let named = jiff::tz::TimeZone::get(zone)
        .map_err(|_| EvalError::new(format!("unknown time zone '{zone}'")))?;
    let instant =
        jiff::Timestamp::new(at.seconds, at.nanos as i32).map_err(|_| range_error("timestamp"))?;
    Ok(i64::from(named.to_offset(instant).seconds()))
}

/// Writes a nanosecond part as a fraction without trailing zeros (nothing when zero).
fn write_fraction(f: &mut fmt::Formatter<'_>, nanos: u32) -> fmt::Result {
    if nanos == 0 {
        return Ok(());
    }
    let digits = format!("{nanos:09}");
    write!(f, ".{}", digits.trim_end_matches('0'))
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC, as `string(timestamp)` prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.seconds.div_euclid(86_400);
        let second_of_day = self.seconds.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
            second_of_day / 3_600,
            second_of_day % 3_600 / 60,
            second_of_day % 60
        )?;
        write_fraction(f, self.nanos)?;
        f.write_str("Z")
    }
}

impl fmt::Display for Duration {
    /// Seconds with a fraction, as `string(duration)` prints it: `1.5s`, `-90s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let magnitude = self.0.unsigned_abs();
        if self.0 < 0 {
            f.write_str("-")?;
        }
        write!(f, "{}", magnitude / 1_000_000_000)?;
        write_fraction(f, (magnitude % 1_000_000_000) as u32)?;
        f.write_str("s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_round_trip_over_the_whole_range() {
        for days in (-719_162..=2_932_896).step_by(97) {
            let (year, month, day) = civil_from_days(days);
            assert_eq!(days_from_civil(year, month, day), days);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-719_162), (1, 1, 1));
    }

    #[test]
    fn timestamps_parse_print_and_keep_their_range() {
        let time = Timestamp::parse("2009-02-13T23:31:30.120Z").unwrap();
        assert_eq!(time.seconds(), 1_234_567_890);
        assert_eq!(time.to_string(), "2009-02-13T23:31:30.12Z");
        let shifted = Timestamp::parse("2009-02-14T00:31:30+01:00").unwrap();
        assert_eq!(shifted.seconds(), 1_234_567_890);
        assert!(Timestamp::parse("0000-12-31T23:59:59Z").is_err());
        assert!(Timestamp::parse("2009-02-30T00:00:00Z").is_err());
        assert!(Timestamp::parse("2009-02-13 23:31:30").is_err());
        assert!(Timestamp::parse("").is_err());
        assert!(Timestamp::parse("9999-12-31T23:59:59.999999999Z").is_ok());
    }

    #[test]
    fn durations_parse_and_print() {
        assert_eq!(Duration::parse("1h30m").unwrap().nanos(), 5_400_000_000_000);
        assert_eq!(Duration::parse("-1.5s").unwrap().to_string(), "-1.5s");
        assert_eq!(Duration::parse("0").unwrap().nanos(), 0);
        assert_eq!(Duration::parse("10m").unwrap().to_string(), "600s");
        assert!(Duration::parse("1d").is_err());
        assert!(Duration::parse("s").is_err());
        assert!(Duration::parse("-").is_err());
        assert!(Duration::parse("320000000000s").is_err());
        assert!(Duration::parse("99999999999999999999999999999999999h").is_err());
        assert!(Duration::parse("999999999999999999999999999999h").is_err());
        assert!(Duration::parse("99999999999999999999h99999999999999999999h").is_err());
    }

    #[test]
    fn accessors_follow_the_time_zone() {
        let time = Timestamp::parse("2009-02-13T23:31:30Z").unwrap();
        assert_eq!(time.field(CalendarField::DayOfWeek, None).unwrap(), 5);
        assert_eq!(time.field(CalendarField::DayOfYear, None).unwrap(), 43);
        assert_eq!(
            time.field(CalendarField::Date, Some("Australia/Sydney"))
                .unwrap(),
            14
        );
        assert_eq!(
            time.field(CalendarField::Minutes, Some("Asia/Kathmandu"))
                .unwrap(),
            16
        );
        assert_eq!(time.field(CalendarField::Hours, Some("02:00")).unwrap(), 1);
        assert!(time.field(CalendarField::Hours, Some("Mars/Base")).is_err());
    }
}
