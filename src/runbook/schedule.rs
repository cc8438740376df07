//! When a runbook's drills are due. A `schedule` is a 5-field cron (croner, the parser the
//! checker uses too), read in UTC unless it starts with a zone: `"TZ=Europe/Berlin 0 3 * * 0"`
//! (`CRON_TZ=` is accepted as well, as cronie and Kubernetes spell it). Zones are IANA names
//! (chrono-tz); in a zone with daylight saving, a time inside the hour skipped in spring runs
//! when the clocks have moved on (03:00 for 02:30 in Berlin), as Vixie cron does, so no drill
//! is lost to the change (croner's resolution).

use std::fmt;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// A parsed `schedule`.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The five cron fields, as written.
    pub cron: String,
    /// The zone the fields are read in; UTC when none was given.
    pub zone: Option<Tz>,
    parsed: croner::Cron,
}

/// Why a schedule was refused, with a hint for the checker's diagnostic.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    pub message: String,
    pub hint: String,
}

impl Schedule {
    /// Parses `"[TZ=Zone ]m h dom mon dow"`.
    pub fn parse(text: &str) -> Result<Schedule, Invalid> {
        let text = text.trim();
        let (zone, cron) = match text
            .strip_prefix("CRON_TZ=")
            .or_else(|| text.strip_prefix("TZ="))
        {
            Some(rest) => {
                let (name, cron) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
                let zone: Tz = name.parse().map_err(|_| Invalid {
                    message: format!("unknown time zone `{name}`"),
                    hint: "an IANA zone name, e.g. \"TZ=Europe/Berlin 0 3 * * 0\"".into(),
                })?;
                (Some(zone), cron.trim())
            }
            None => (None, text),
        };
        if cron.split_whitespace().count() != 5 {
            return Err(Invalid {
                message: "a schedule has 5 fields: minute hour day-of-month month day-of-week"
                    .into(),
                hint: "for example \"0 3 * * 0\": every Sunday at 03:00 UTC".into(),
            });
        }
        let parsed: croner::Cron = cron.parse().map_err(|e| Invalid {
            message: format!("not a valid cron schedule: {e}"),
            hint: "5 fields: minute hour day-of-month month day-of-week, e.g. \"0 3 * * 0\"".into(),
        })?;
        Ok(Schedule {
            cron: cron.split_whitespace().collect::<Vec<_>>().join(" "),
            zone,
            parsed,
        })
    }

    /// The cron's five fields.
    pub(crate) fn fields(&self) -> Vec<&str> {
        self.cron.split_whitespace().collect()
    }

    /// The zone's IANA name, `UTC` when none was given.
    pub fn zone_name(&self) -> &str {
        self.zone.map_or("UTC", |z| z.name())
    }

    /// The next `count` times strictly after `after`.
    pub fn next(&self, after: DateTime<Utc>, count: usize) -> Vec<DateTime<Utc>> {
        match self.zone {
            Some(zone) => self
                .parsed
                .iter_after(after.with_timezone(&zone))
                .take(count)
                .map(|t| t.with_timezone(&Utc))
                .collect(),
            None => self.parsed.iter_after(after).take(count).collect(),
        }
    }
}

impl Schedule {
    /// How many times fall in `(after, until]`, and the last of them; walked lazily, so a
    /// daemon that looks every second pays for the times that passed, not for a fixed window.
    pub(crate) fn due(
        &self,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> (usize, Option<DateTime<Utc>>) {
        let fold = |(n, last): (usize, Option<DateTime<Utc>>), t: DateTime<Utc>| {
            (n + 1, last.max(Some(t)))
        };
        match self.zone {
            Some(zone) => self
                .parsed
                .iter_after(after.with_timezone(&zone))
                .map(|t| t.with_timezone(&Utc))
                .take_while(|t| *t <= until)
                .fold((0, None), fold),
            None => self
                .parsed
                .iter_after(after)
                .take_while(|t| *t <= until)
                .fold((0, None), fold),
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.zone {
            Some(z) => write!(f, "TZ={} {}", z.name(), self.cron),
            None => f.write_str(&self.cron),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An RFC 3339 time (the Unix epoch if it is not one).
    pub(crate) fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    fn next(text: &str, after: &str, count: usize) -> Vec<DateTime<Utc>> {
        Schedule::parse(text)
            .expect("parses")
            .next(at(after), count)
    }

    #[test]
    fn sundays_at_three() {
        // 2026-11-22 is a Sunday; 03:00 has passed at 05:00.
        assert_eq!(
            next("0 3 * * 0", "2026-11-22T05:00:00Z", 3),
            vec![
                at("2026-11-29T03:00:00Z"),
                at("2026-12-06T03:00:00Z"),
                at("2026-12-13T03:00:00Z")
            ]
        );
    }

    #[test]
    fn strictly_after_and_across_a_year_end() {
        assert_eq!(
            next("30 23 31 12 *", "2026-12-31T23:30:00Z", 2),
            vec![at("2027-12-31T23:30:00Z"), at("2028-12-31T23:30:00Z")]
        );
        assert_eq!(
            next("*/15 * * * *", "2026-11-22T10:07:00Z", 2),
            vec![at("2026-11-22T10:15:00Z"), at("2026-11-22T10:30:00Z")]
        );
    }

    #[test]
    fn a_zone_moves_the_times_with_its_offset() {
        // Berlin is UTC+1 in winter and UTC+2 in summer: 03:00 local is 02:00 or 01:00 UTC.
        assert_eq!(
            next("TZ=Europe/Berlin 0 3 * * 0", "2026-11-22T05:00:00Z", 1),
            vec![at("2026-11-29T02:00:00Z")]
        );
        assert_eq!(
            next("CRON_TZ=Europe/Berlin 0 3 * * 0", "2026-06-01T00:00:00Z", 1),
            vec![at("2026-06-07T01:00:00Z")]
        );
        // New York, 09:30 local on weekdays, across the end of daylight saving (2026-11-01).
        assert_eq!(
            next(
                "TZ=America/New_York 30 9 * * 1-5",
                "2026-10-30T00:00:00Z",
                2
            ),
            vec![at("2026-10-30T13:30:00Z"), at("2026-11-02T14:30:00Z")]
        );
    }

    #[test]
    fn a_time_skipped_by_daylight_saving_runs_after_the_change() {
        // 2027-03-28 02:30 does not exist in Berlin (clocks go from 02:00 to 03:00): that
        // day's drill runs at 03:00 CEST (01:00 UTC), not never.
        assert_eq!(
            next("TZ=Europe/Berlin 30 2 * * *", "2027-03-27T00:00:00Z", 3),
            vec![
                at("2027-03-27T01:30:00Z"),
                at("2027-03-28T01:00:00Z"),
                at("2027-03-29T00:30:00Z")
            ]
        );
    }

    #[test]
    fn due_counts_the_times_passed_and_names_the_last() {
        let s = Schedule::parse("TZ=Europe/Berlin 0 * * * *").expect("parses");
        assert_eq!(
            s.due(at("2026-11-30T07:00:00Z"), at("2026-11-30T10:20:00Z")),
            (3, Some(at("2026-11-30T10:00:00Z")))
        );
        assert_eq!(
            s.due(at("2026-11-30T07:00:00Z"), at("2026-11-30T07:59:59Z")),
            (0, None)
        );
    }

    #[test]
    fn bad_schedules_say_why() {
        let e = Schedule::parse("TZ=Mars/Olympus 0 3 * * 0").expect_err("refused");
        assert_eq!(e.message, "unknown time zone `Mars/Olympus`");
        let e = Schedule::parse("0 3 * *").expect_err("refused");
        assert!(e.message.contains("5 fields"), "{e:?}");
        let e = Schedule::parse("TZ=UTC").expect_err("refused");
        assert!(e.message.contains("5 fields"), "{e:?}");
        let e = Schedule::parse("0 25 * * *").expect_err("refused");
        assert!(e.message.starts_with("not a valid cron"), "{e:?}");
    }

    #[test]
    fn displays_as_written_but_normalised() {
        let s = Schedule::parse("CRON_TZ=Asia/Tokyo  0  3 * * 0").expect("parses");
        assert_eq!(s.to_string(), "TZ=Asia/Tokyo 0 3 * * 0");
        assert_eq!(s.zone_name(), "Asia/Tokyo");
        assert_eq!(s.fields(), vec!["0", "3", "*", "*", "0"]);
    }
}
