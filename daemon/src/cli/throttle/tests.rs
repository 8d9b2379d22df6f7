use super::readable;

#[track_caller]
fn check(name: &str, value: &str, expected: &str) {
    assert_eq!(readable(name, value), expected);
}

#[test]
fn slow_rates_show_their_period() {
    check(
        "licence.rate",
        "0.03333333333333333",
        "0.03333 (1 per 30 s)",
    );
    check("licence.rate", "0.5", "0.5 (1 per 2 s)");
    check("client.rate", "0.004", "0.004 (1 per 250 s)");
    check(
        "licence.rate",
        "0.000011574074074074073",
        "0.00001157 (1 per 86400 s)",
    );
}

#[test]
fn rates_of_one_and_more_show_four_significant_digits() {
    check("drain.rate", "1000", "1000");
    check("drain.rate", "2500", "2500");
    check("intake.rate", "20000", "20000");
    check("drain.rate", "123.4", "123.4");
    check("drain.rate", "3.14159265", "3.142");
    check("drain.rate", "1", "1");
}

#[test]
fn the_opening_time_is_also_shown_as_a_date() {
    check(
        "opening_at",
        "1900000000",
        "1900000000 (2030-03-17T17:46:40Z)",
    );
    check("opening_at", "none", "none");
}

#[test]
fn other_settings_are_shown_as_they_are() {
    check("drain.burst", "50", "50");
    check("client.mode", "shadow", "shadow");
    check("paused", "false", "false");
    // Not a number: shown as the daemon sent it.
    check("drain.rate", "fast", "fast");
}
