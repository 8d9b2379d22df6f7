//! Times and durations as operators write them: RFC 3339 timestamps with an offset
//! (`2025-07-01T00:00:00Z`) and durations such as `30d` or `1d12h`.

use keys::UnixTime;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The `not_after` of a key with no planned end: 9999-12-31T23:59:59Z, the last second an
/// RFC 3339 timestamp can name. Rotation replaces it with a real end.
pub(crate) const OPEN_ENDED: UnixTime = UnixTime(253_402_300_799);

const MINUTE: u64 = 60;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;
const WEEK: u64 = 7 * DAY;

/// Parses an RFC 3339 timestamp with an offset, at or after the Unix epoch.
pub(crate) fn parse_timestamp(text: &str) -> Result<UnixTime, String> {
    let parsed = OffsetDateTime::parse(text, &Rfc3339).map_err(|_| {
        format!("{text:?} is not an RFC 3339 time with an offset, e.g. 2025-07-01T00:00:00Z")
    })?;
    u64::try_from(parsed.unix_timestamp())
        .map(UnixTime)
        .map_err(|_| format!("{text:?} is before 1970"))
}

/// Parses a duration: one or more groups of a number and a unit, `s`, `m`, `h`, `d` or
/// `w`, e.g. `30d`, `12h`, `1d12h`. Returns seconds.
pub(crate) fn parse_duration(text: &str) -> Result<u64, String> {
    let bad = || format!("{text:?} is not a duration such as 30d, 12h, 90m or 1d12h");
    let mut total: u64 = 0;
    let mut number: Option<u64> = None;
    for c in text.chars() {
        if let Some(digit) = c.to_digit(10) {
            let n = number.unwrap_or(0);
            number = Some(
                n.checked_mul(10)
                    .and_then(|n| n.checked_add(u64::from(digit)))
                    .ok_or_else(bad)?,
            );
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => MINUTE,
            'h' => HOUR,
            'd' => DAY,
            'w' => WEEK,
            _ => return Err(bad()),
        };
        let n = number.take().ok_or_else(bad)?;
        total = n
            .checked_mul(unit)
            .and_then(|s| total.checked_add(s))
            .ok_or_else(bad)?;
    }
    if number.is_some() || text.is_empty() {
        return Err(bad());
    }
    Ok(total)
}

/// Writes a duration in the largest exact units, e.g. `30d`, `1d12h`, `0s`.
pub(crate) fn format_duration(seconds: u64) -> String {
    if seconds == 0 {
        return "0s".into();
    }
    let mut rest = seconds;
    let mut out = String::new();
    for (unit, name) in [(DAY, 'd'), (HOUR, 'h'), (MINUTE, 'm'), (1, 's')] {
        if rest >= unit {
            out.push_str(&format!("{}{name}", rest / unit));
            rest %= unit;
        }
    }
    out
}

/// A key window's end as people read it: the time, or `open-ended`.
pub(crate) fn format_end(end: UnixTime) -> String {
    if end >= OPEN_ENDED {
        "open-ended".into()
    } else {
        end.to_string()
    }
}

/// How far `then` is from `now`, e.g. `in 29d23h` or `3h ago`.
pub(crate) fn relative(then: UnixTime, now: UnixTime) -> String {
    if then == now {
        "now".into()
    } else if then > now {
        format!("in {}", format_duration(rough(then.since(now))))
    } else {
        format!("{} ago", format_duration(rough(now.since(then))))
    }
}

/// Rounds a span down to its two largest units, which is all a person reads.
fn rough(seconds: u64) -> u64 {
    let unit = if seconds >= DAY {
        HOUR
    } else if seconds >= HOUR {
        MINUTE
    } else {
        1
    };
    seconds - seconds % unit
}

#[cfg(test)]
mod tests;
