use super::*;

#[track_caller]
fn check_duration(text: &str, expected: Option<u64>) {
    assert_eq!(parse_duration(text).ok(), expected, "{text:?}");
    if let Some(seconds) = expected {
        assert_eq!(parse_duration(&format_duration(seconds)), Ok(seconds));
    }
}

#[test]
fn durations() {
    check_duration("30d", Some(30 * DAY));
    check_duration("12h", Some(12 * HOUR));
    check_duration("90m", Some(90 * MINUTE));
    check_duration("45s", Some(45));
    check_duration("2w", Some(2 * WEEK));
    check_duration("1d12h", Some(DAY + 12 * HOUR));
    check_duration("0s", Some(0));
    check_duration("", None);
    check_duration("30", None);
    check_duration("d", None);
    check_duration("30 d", None);
    check_duration("30D", None);
    check_duration("-1d", None);
    check_duration("1.5d", None);
    check_duration("99999999999999999999s", None);
    check_duration("999999999999999w", None);
}

#[test]
fn durations_are_written_in_the_largest_exact_units() {
    assert_eq!(format_duration(0), "0s");
    assert_eq!(format_duration(30 * DAY), "30d");
    assert_eq!(format_duration(DAY + 12 * HOUR + 5), "1d12h5s");
}

#[track_caller]
fn check_timestamp(text: &str, expected: Option<u64>) {
    assert_eq!(
        parse_timestamp(text).ok(),
        expected.map(UnixTime),
        "{text:?}"
    );
}

#[test]
fn timestamps() {
    check_timestamp("2025-01-01T00:00:00Z", Some(1_735_689_600));
    check_timestamp("2025-01-01T08:00:00+08:00", Some(1_735_689_600));
    check_timestamp("1970-01-01T00:00:00Z", Some(0));
    check_timestamp("9999-12-31T23:59:59Z", Some(OPEN_ENDED.0));
    check_timestamp("2025-01-01T00:00:00", None);
    check_timestamp("2025-01-01", None);
    check_timestamp("1969-12-31T23:59:59Z", None);
    check_timestamp("2025-02-30T00:00:00Z", None);
}

#[test]
fn relative_times() {
    let now = UnixTime(1_000_000);
    assert_eq!(relative(now, now), "now");
    assert_eq!(relative(now.plus(30 * DAY + 5), now), "in 30d");
    assert_eq!(relative(now.minus(3 * HOUR + 61), now), "3h1m ago");
    assert_eq!(format_end(OPEN_ENDED), "open-ended");
}
