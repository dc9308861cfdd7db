//! The daily reset schedule: a local time of day in a time zone.

use chrono::{DateTime, Days, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// When the trading day rolls over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DailySchedule {
    time: NaiveTime,
    tz: Tz,
}

impl DailySchedule {
    /// A schedule at `time` in the zone named `tz`.
    ///
    /// # Errors
    /// When `tz` is not an IANA time zone name.
    pub fn new(time: NaiveTime, tz: &str) -> Result<Self, String> {
        let tz: Tz = tz.parse().map_err(|_| format!("`{tz}` is not a time zone such as Asia/Kolkata or UTC"))?;
        Ok(Self { time, tz })
    }

    fn at_on(&self, day: chrono::NaiveDate) -> Option<DateTime<Utc>> {
        self.tz.from_local_datetime(&day.and_time(self.time)).earliest().map(|t| t.with_timezone(&Utc))
    }

    /// The last reset at or before `now`.
    #[must_use]
    pub fn last(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let today = now.with_timezone(&self.tz).date_naive();
        [Some(today), today.checked_sub_days(Days::new(1)), today.checked_sub_days(Days::new(2))]
            .into_iter()
            .flatten()
            .filter_map(|d| self.at_on(d))
            .find(|t| *t <= now)
            .unwrap_or(now)
    }

    /// The first reset after `now`.
    #[must_use]
    pub fn next(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let today = now.with_timezone(&self.tz).date_naive();
        [Some(today), today.checked_add_days(Days::new(1)), today.checked_add_days(Days::new(2))]
            .into_iter()
            .flatten()
            .filter_map(|d| self.at_on(d))
            .find(|t| *t > now)
            .unwrap_or(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kolkata_0335_is_2205_utc() {
        let s = DailySchedule::new(NaiveTime::from_hms_opt(3, 35, 0).unwrap(), "Asia/Kolkata").unwrap();
        let now: DateTime<Utc> = "2026-01-10T12:00:00Z".parse().unwrap();
        assert_eq!(s.last(now).to_rfc3339(), "2026-01-09T22:05:00+00:00");
        assert_eq!(s.next(now).to_rfc3339(), "2026-01-10T22:05:00+00:00");
        let at: DateTime<Utc> = "2026-01-10T22:05:00Z".parse().unwrap();
        assert_eq!(s.last(at), at);
        assert!(DailySchedule::new(NaiveTime::MIN, "Mars/Base").is_err());
    }
}
