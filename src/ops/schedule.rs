//! When a runbook's drills are due: its `schedule`, a 5-field cron read in UTC (croner, the
//! same parser that checked it), turned into the next times after a moment.

use chrono::{DateTime, Utc};

/// The next `count` times strictly after `after` that match `cron`.
pub fn next(cron: &str, after: DateTime<Utc>, count: usize) -> Result<Vec<DateTime<Utc>>, String> {
    let cron: croner::Cron = cron.parse().map_err(|e| format!("{e}"))?;
    Ok(cron.iter_after(after).take(count).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[test]
    fn sundays_at_three() {
        // 2026-11-22 is a Sunday; 03:00 has passed at 05:00.
        let times = next("0 3 * * 0", at("2026-11-22T05:00:00Z"), 3).expect("parses");
        assert_eq!(
            times,
            vec![
                at("2026-11-29T03:00:00Z"),
                at("2026-12-06T03:00:00Z"),
                at("2026-12-13T03:00:00Z")
            ]
        );
    }

    #[test]
    fn strictly_after_and_across_a_year_end() {
        let times = next("30 23 31 12 *", at("2026-12-31T23:30:00Z"), 2).expect("parses");
        assert_eq!(
            times,
            vec![at("2027-12-31T23:30:00Z"), at("2028-12-31T23:30:00Z")]
        );
        let times = next("*/15 * * * *", at("2026-11-22T10:07:00Z"), 2).expect("parses");
        assert_eq!(
            times,
            vec![at("2026-11-22T10:15:00Z"), at("2026-11-22T10:30:00Z")]
        );
    }
}
