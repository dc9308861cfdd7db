//! Timestamps as market data files write them: ISO-8601 / RFC 3339 (with `Z`, an offset or
//! fractional seconds), a bare date, or epoch seconds or milliseconds. The common
//! `YYYY-MM-DDTHH:MM:SSZ` layout is parsed and written by hand because it is on the hot path of
//! every CSV row; anything else goes through chrono.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, Utc};

/// Epoch values at or above this are milliseconds (1e11 seconds is the year 5138; 1e11
/// milliseconds is March 1973).
const MILLIS_THRESHOLD: u64 = 100_000_000_000;

/// Parses a timestamp: `2024-01-01T00:00:00Z`, `2024-01-01T05:30:00+05:30`,
/// `2024-01-01T00:00:00.250Z`, `2024-01-01 00:00:00` (no offset means UTC), `2024-01-01`, or an
/// epoch in seconds or milliseconds (told apart by magnitude: 100,000,000,000 and above are
/// milliseconds).
#[must_use]
pub fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    parse_bytes(text.as_bytes())
}

pub(crate) fn parse_bytes(s: &[u8]) -> Option<DateTime<Utc>> {
    if let Some(time) = fixed_utc(s) {
        return Some(time);
    }
    if !s.is_empty() && s.len() <= 19 && s.iter().all(u8::is_ascii_digit) {
        let n = s.iter().try_fold(0u64, |n, b| n.checked_mul(10)?.checked_add(u64::from(b - b'0')))?;
        let n = i64::try_from(n).ok()?;
        return if n >= MILLIS_THRESHOLD as i64 {
            DateTime::from_timestamp_millis(n)
        } else {
            DateTime::from_timestamp(n, 0)
        };
    }
    let text = std::str::from_utf8(s).ok()?.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Some(time.with_timezone(&Utc));
    }
    for layout in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, layout) {
            return Some(naive.and_utc());
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)).map(|n| n.and_utc())
}

/// Parses timestamps of consecutive rows, remembering the last `YYYY-MM-DD` of the fixed layout:
/// rows of one day share it, and only the time of day is then read.
#[derive(Debug, Default)]
pub(crate) struct TimeParser {
    day: Option<([u8; 10], NaiveDate)>,
}

impl TimeParser {
    pub(crate) fn parse(&mut self, s: &[u8]) -> Option<DateTime<Utc>> {
        if let (Some((day, date)), Some((head, clock))) = (&self.day, fixed_layout(s))
            && head == day
        {
            let num = |i: usize| two_digits(&clock[i..i + 2]);
            let time = NaiveTime::from_hms_opt(num(0)?, num(3)?, num(6)?)?;
            return Some(NaiveDateTime::new(*date, time).and_utc());
        }
        let time = parse_bytes(s)?;
        if let Some((head, _)) = fixed_layout(s) {
            let mut day = [0; 10];
            day.copy_from_slice(head);
            self.day = Some((day, time.date_naive()));
        }
        Some(time)
    }
}

/// The date and the `HH:MM:SS` of a `YYYY-MM-DDTHH:MM:SSZ` timestamp.
fn fixed_layout(s: &[u8]) -> Option<(&[u8], &[u8])> {
    (s.len() == 20 && s[10] == b'T' && s[13] == b':' && s[16] == b':' && s[19] == b'Z').then(|| (&s[..10], &s[11..19]))
}

fn two_digits(s: &[u8]) -> Option<u32> {
    match s {
        [a @ b'0'..=b'9', b @ b'0'..=b'9'] => Some(u32::from(a - b'0') * 10 + u32::from(b - b'0')),
        _ => None,
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` without chrono's general parser; `None` for anything else (including
/// leap seconds, left to chrono).
fn fixed_utc(s: &[u8]) -> Option<DateTime<Utc>> {
    if s.len() != 20 || s[4] != b'-' || s[7] != b'-' || s[10] != b'T' || s[13] != b':' || s[16] != b':' || s[19] != b'Z'
    {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<u32> {
        s[from..to].iter().try_fold(0u32, |n, b| b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0')))
    };
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let days = days_from_civil(i64::from(year), month, day);
    let secs = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    DateTime::from_timestamp(secs, 0)
}

const fn is_leap(year: u32) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

const fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
const fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01 (H. Hinnant's `civil_from_days`).
const fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = if month <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 };
    (year, month, day)
}

/// Appends a time as `YYYY-MM-DDTHH:MM:SSZ`, with fractional seconds only when it has them.
pub(crate) fn write_timestamp(out: &mut Vec<u8>, time: DateTime<Utc>) {
    let secs = time.timestamp();
    let days = secs.div_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    if time.timestamp_subsec_nanos() != 0 || !(0..=9999).contains(&year) {
        out.extend_from_slice(time.to_rfc3339_opts(SecondsFormat::AutoSi, true).as_bytes());
        return;
    }
    let of_day = secs.rem_euclid(86_400);
    let two = |out: &mut Vec<u8>, v: i64| out.extend_from_slice(&[b'0' + (v / 10) as u8, b'0' + (v % 10) as u8]);
    two(out, year / 100);
    two(out, year % 100);
    out.push(b'-');
    two(out, i64::from(month));
    out.push(b'-');
    two(out, i64::from(day));
    out.push(b'T');
    two(out, of_day / 3600);
    out.push(b':');
    two(out, of_day / 60 % 60);
    out.push(b':');
    two(out, of_day % 60);
    out.push(b'Z');
}

/// A time as the CSV writer writes it.
#[must_use]
pub fn format_timestamp(time: DateTime<Utc>) -> String {
    let mut out = Vec::with_capacity(20);
    write_timestamp(&mut out, time);
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn every_layout_a_user_may_have() {
        let want = utc("2024-01-01T00:00:00Z");
        for text in [
            "2024-01-01T00:00:00Z",
            "2024-01-01T05:30:00+05:30",
            "2024-01-01T00:00:00.000Z",
            "2024-01-01 00:00:00",
            "2024-01-01T00:00:00",
            "2024-01-01 00:00",
            "2024-01-01",
            "1704067200",
            "1704067200000",
        ] {
            assert_eq!(parse_timestamp(text), Some(want), "{text}");
        }
        assert_eq!(parse_timestamp("2024-01-01T00:00:00.250Z"), Some(utc("2024-01-01T00:00:00.250Z")));
    }

    #[test]
    fn impossible_dates_are_refused() {
        for text in ["2023-02-29T00:00:00Z", "2024-13-01T00:00:00Z", "2024-01-01T24:00:00Z", "yesterday", "", "12a"] {
            assert_eq!(parse_timestamp(text), None, "{text}");
        }
        assert_eq!(parse_timestamp("2024-02-29T23:59:59Z"), Some(utc("2024-02-29T23:59:59Z")));
    }

    #[test]
    fn the_day_cache_reads_the_time_of_day_and_refuses_what_chrono_refuses() {
        let mut parser = TimeParser::default();
        assert_eq!(parser.parse(b"2024-01-01T00:00:00Z"), Some(utc("2024-01-01T00:00:00Z")));
        assert_eq!(parser.parse(b"2024-01-01T23:59:59Z"), Some(utc("2024-01-01T23:59:59Z")));
        assert_eq!(parser.parse(b"2024-01-01T24:00:00Z"), None);
        assert_eq!(parser.parse(b"2024-01-01T1x:00:00Z"), None);
        assert_eq!(parser.parse(b"2024-01-02T00:00:01Z"), Some(utc("2024-01-02T00:00:01Z")));
        assert_eq!(parser.parse(b"1704067200"), Some(utc("2024-01-01T00:00:00Z")));
        assert_eq!(parser.parse(b"2024-01-02T00:00:02Z"), Some(utc("2024-01-02T00:00:02Z")));
    }

    proptest! {
        #[test]
        fn the_fast_path_agrees_with_chrono(secs in -62_000_000_000i64..253_402_300_799, nanos in prop_oneof![Just(0u32), 0u32..1_000_000_000]) {
            let time = DateTime::from_timestamp(secs, nanos).unwrap();
            let text = format_timestamp(time);
            prop_assert_eq!(parse_timestamp(&text), Some(time), "{}", text);
            if nanos == 0 && secs >= 0 {
                prop_assert_eq!(text, time.to_rfc3339_opts(SecondsFormat::Secs, true));
            }
        }
    }
}
