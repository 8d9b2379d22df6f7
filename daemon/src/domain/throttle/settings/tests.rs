use super::*;

#[track_caller]
fn check(name: &str, value: &str, expected: Result<&str, &str>) {
    let changed = ThrottleSettings::default().change(name, value);
    match expected {
        Ok(shown) => {
            let settings = changed.unwrap();
            let entry = settings.entries().into_iter().find(|(n, _)| *n == name);
            assert_eq!(entry.map(|(_, v)| v).as_deref(), Some(shown));
        }
        Err(message) => assert_eq!(changed.unwrap_err().to_string(), message),
    }
}

#[test]
fn rates_and_bursts() {
    check("drain.rate", "2500", Ok("2500"));
    check("drain.rate", "0.5", Ok("0.5"));
    check("drain.burst", "1", Ok("1"));
    check("client.rate", "10", Ok("10"));
    check("intake.burst", "7", Ok("7"));
    check("queue.max_wait", "600", Ok("600"));
    check("drain.max_in_flight", "64", Ok("64"));
}

#[test]
fn refusals_name_the_setting() {
    check(
        "drain.rate",
        "0",
        Err("drain.rate = \"0\": expected signatures per second (> 0)"),
    );
    check(
        "drain.burst",
        "0",
        Err("drain.burst = \"0\": expected signatures at once after an idle spell (>= 1)"),
    );
    check(
        "client.mode",
        "loud",
        Err("client.mode = \"loud\": expected off | shadow | enforce"),
    );
    check("speed", "1", Err("unknown setting \"speed\""));
    check(
        "drain.rate",
        "NaN",
        Err("drain.rate = \"NaN\": expected signatures per second (> 0)"),
    );
}

#[test]
fn modes_weights_opening_pause() {
    check("licence.mode", "shadow", Ok("shadow"));
    check("lanes.first", "0", Ok("0"));
    check("opening_at", "1900000000", Ok("1900000000"));
    check("opening_at", "2030-03-17T17:46:40Z", Ok("1900000000"));
    check("opening_at", "none", Ok("none"));
    check("paused", "true", Ok("true"));
    check(
        "paused",
        "yes",
        Err("paused = \"yes\": expected true | false"),
    );
}

#[test]
fn every_lane_at_zero_is_refused() {
    let s = ThrottleSettings::default()
        .change("lanes.window", "0")
        .and_then(|s| s.change("lanes.reissue", "0"))
        .unwrap();
    assert_eq!(s.change("lanes.first", "0"), Err(ChangeError::NoLane));
}

#[test]
fn entries_read_back() {
    let s = ThrottleSettings {
        opening_at: Some(5),
        ..ThrottleSettings::default()
    };
    let mut back = ThrottleSettings::default();
    for (name, value) in s.entries() {
        back = back.change(name, &value).unwrap();
    }
    assert_eq!(back, s);
    assert_eq!(s.entries().len(), NAMES.len());
}

#[test]
fn settings_round_trip_through_json() {
    // The store keeps them as JSON.
    let s = ThrottleSettings::default()
        .change("client.mode", "shadow")
        .unwrap();
    let json = serde_json::to_string(&s).unwrap();
    assert_eq!(serde_json::from_str::<ThrottleSettings>(&json).unwrap(), s);
}

#[test]
fn nodes_share_the_cluster_rates() {
    let s = ThrottleSettings::default();
    assert_eq!(s.share(1), s, "one node runs the settings as set");
    let half = s.share(2);
    assert_eq!(half.drain.rate * 2.0, s.drain.rate);
    assert_eq!(half.admission.intake.rate * 2.0, s.admission.intake.rate);
    assert_eq!(
        half.admission.client.per_second * 2.0,
        s.admission.client.per_second
    );
    assert_eq!(half.drain.burst, s.drain.burst / 2);
    // Bursts never fall below one; what is not a rate is not divided.
    let many = s.share(1_000);
    assert_eq!(many.admission.licence.burst, 1);
    assert_eq!(
        (many.max_in_flight, many.weights),
        (s.max_in_flight, s.weights)
    );
}
