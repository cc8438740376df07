//! Durations as a person reads them in progress lines, summaries and tables (`2m07s`). One
//! function in a leaf module, so that every stage that talks to people formats time alike.

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
