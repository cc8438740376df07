//! Durations as a person reads them in progress lines, summaries and tables (`2m07s`, and
//! `9d02h` for the age of a drill). In a leaf module, so that every stage that talks to people
//! formats time alike.

/// Seconds for people: `0.3s`, `6.5s`, `2m07s`, `1h05m`.
pub fn human(secs: f64) -> String {
    if secs < 60.0 {
        return format!("{secs:.1}s");
    }
    let s = secs.round() as u64;
    if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    }
}

/// Long spans for people: `9d02h` from a day on, else as `human`.
pub fn human_long(secs: f64) -> String {
    let s = secs.round() as u64;
    if s < 86_400 {
        return human(secs);
    }
    format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3600)
}

#[cfg(test)]
mod tests {
    #[test]
    fn long_spans_in_days() {
        assert_eq!(
            super::human_long(9.0 * 86_400.0 + 2.0 * 3600.0 + 59.0),
            "9d02h"
        );
        assert_eq!(super::human_long(3700.0), "1h01m");
    }
}
