//! Tests for the licence domain types: one table per type, then properties.

use std::fmt::Debug;

use proptest::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use time::Date;
use time::macros::date;

use super::{
    DateError, LicenceClass, LicenceClasses, LicenceClassesError, LicenceNumber,
    LicenceNumberError, LicenceState, PhotoDigest, PhotoDigestError, Points, PointsError,
    UnknownLicenceClass, UnknownLicenceState, Validity, ValidityError, format_date,
    iso7064_mod11_2_check, parse_date,
};

use LicenceClass::{A1, C1, C2, D};
use LicenceNumberError::{BirthDate, CheckCharacter, Length, NotDigit, Region, Sequence};

// Licence numbers.

#[track_caller]
fn check_number(input: &str, expected: Result<(), LicenceNumberError>) {
    let parsed = input.parse::<LicenceNumber>();
    assert_eq!(parsed.clone().map(|_| ()), expected, "{input:?}");
    assert_eq!(LicenceNumber::try_from(input.to_owned()), parsed);
    if let Ok(number) = parsed {
        assert_eq!(number.as_str(), input);
        assert_eq!(number.to_string(), input);
    }
}

#[test]
fn number_published_example() {
    check_number("11010519491231002X", Ok(()))
}
#[test]
fn number_digit_check() {
    check_number("440304199001010011", Ok(()))
}
#[test]
fn number_leap_day() {
    check_number("110105200002290013", Ok(()))
}
#[test]
fn number_earliest_year() {
    check_number("000000190001010009", Ok(()))
}
#[test]
fn number_latest_year() {
    check_number("999999209912319993", Ok(()))
}
#[test]
fn number_wrong_check_digit() {
    check_number(
        "440304199001010012",
        Err(CheckCharacter {
            expected: '1',
            found: '2',
        }),
    )
}
#[test]
fn number_digit_for_x() {
    check_number(
        "110105194912310020",
        Err(CheckCharacter {
            expected: 'X',
            found: '0',
        }),
    )
}
#[test]
fn number_x_for_digit() {
    check_number(
        "44030419900101001X",
        Err(CheckCharacter {
            expected: '1',
            found: 'X',
        }),
    )
}
#[test]
fn number_lowercase_x() {
    check_number(
        "11010519491231002x",
        Err(CheckCharacter {
            expected: 'X',
            found: 'x',
        }),
    )
}
#[test]
fn number_multibyte_check() {
    check_number(
        "11010519491231002中",
        Err(CheckCharacter {
            expected: 'X',
            found: '中',
        }),
    )
}
#[test]
fn number_feb_29_non_leap() {
    check_number("110105202302290014", Err(BirthDate("20230229".into())))
}
#[test]
fn number_feb_29_1900() {
    check_number("110105190002290017", Err(BirthDate("19000229".into())))
}
#[test]
fn number_feb_30() {
    check_number("110105202402300013", Err(BirthDate("20240230".into())))
}
#[test]
fn number_month_13() {
    check_number("110105202413010011", Err(BirthDate("20241301".into())))
}
#[test]
fn number_day_0() {
    check_number("110105202401000019", Err(BirthDate("20240100".into())))
}
#[test]
fn number_year_1899() {
    check_number("110105189912310015", Err(BirthDate("18991231".into())))
}
#[test]
fn number_year_2100() {
    check_number("110105210001010015", Err(BirthDate("21000101".into())))
}
#[test]
fn number_empty() {
    check_number("", Err(Length { found: 0 }))
}
#[test]
fn number_17_chars() {
    check_number("11010519491231002", Err(Length { found: 17 }))
}
#[test]
fn number_19_chars() {
    check_number("11010519491231002X0", Err(Length { found: 19 }))
}
#[test]
fn number_15_digit_old_format() {
    check_number("110105491231002", Err(Length { found: 15 }))
}
#[test]
fn number_trailing_space() {
    check_number("11010519491231002X ", Err(Length { found: 19 }))
}
#[test]
fn number_letter() {
    check_number(
        "11010A19491231002X",
        Err(NotDigit {
            position: 5,
            found: 'A',
        }),
    )
}
#[test]
fn number_space() {
    check_number(
        " 1010519491231002X",
        Err(NotDigit {
            position: 0,
            found: ' ',
        }),
    )
}
#[test]
fn number_x_inside() {
    check_number(
        "1101051949123100X2",
        Err(NotDigit {
            position: 16,
            found: 'X',
        }),
    )
}
#[test]
fn number_fullwidth_digit() {
    check_number(
        "１1010519491231002X",
        Err(NotDigit {
            position: 0,
            found: '１',
        }),
    )
}

#[track_caller]
fn check_parts(
    region: u32,
    birth: Date,
    sequence: u16,
    expected: Result<&str, LicenceNumberError>,
) {
    let number = LicenceNumber::from_parts(region, birth, sequence);
    assert_eq!(
        number.as_ref().map(LicenceNumber::as_str),
        expected.as_deref()
    );
    if let Ok(number) = number {
        assert_eq!(
            (number.region(), number.birth_date(), number.sequence()),
            (region, birth, sequence)
        );
    }
}

#[test]
fn parts_published_example() {
    check_parts(110105, date!(1949 - 12 - 31), 2, Ok("11010519491231002X"))
}
#[test]
fn parts_zero_padded() {
    check_parts(0, date!(1900 - 01 - 01), 0, Ok("000000190001010009"))
}
#[test]
fn parts_largest() {
    check_parts(
        999_999,
        date!(2099 - 12 - 31),
        999,
        Ok("999999209912319993"),
    )
}
#[test]
fn parts_region_too_long() {
    check_parts(1_000_000, date!(1990 - 01 - 01), 1, Err(Region(1_000_000)))
}
#[test]
fn parts_sequence_too_long() {
    check_parts(110105, date!(1990 - 01 - 01), 1000, Err(Sequence(1000)))
}
#[test]
fn parts_born_1899() {
    check_parts(
        110105,
        date!(1899 - 12 - 31),
        1,
        Err(BirthDate("1899-12-31".into())),
    )
}
#[test]
fn parts_born_2100() {
    check_parts(
        110105,
        date!(2100 - 01 - 01),
        1,
        Err(BirthDate("2100-01-01".into())),
    )
}

#[track_caller]
fn check_mod11(body: &[u8; 17], expected: Option<char>) {
    assert_eq!(iso7064_mod11_2_check(body), expected);
}

#[test]
fn mod11_x() {
    check_mod11(b"11010519491231002", Some('X'))
}
#[test]
fn mod11_digit() {
    check_mod11(b"44030419900101001", Some('1'))
}
#[test]
fn mod11_zeros() {
    check_mod11(b"00000000000000000", Some('1'))
}
#[test]
fn mod11_not_ascii_digits() {
    check_mod11(&[1; 17], None)
}

// Classes.

#[track_caller]
fn check_classes(input: &str, expected: Result<&str, LicenceClassesError>) {
    let classes = input.parse::<LicenceClasses>();
    assert_eq!(
        classes.map(|set| set.to_string()),
        expected.map(str::to_owned),
        "{input:?}"
    );
}

#[test]
fn classes_one() {
    check_classes("C1", Ok("C1"))
}
#[test]
fn classes_spaces() {
    check_classes("C1 C2", Ok("C1 C2"))
}
#[test]
fn classes_commas() {
    check_classes("C1,C2", Ok("C1 C2"))
}
#[test]
fn classes_comma_space() {
    check_classes("C1, C2", Ok("C1 C2"))
}
#[test]
fn classes_sorted() {
    check_classes("P E A1 C6 B2", Ok("A1 B2 C6 E P"))
}
#[test]
fn classes_all() {
    check_classes(
        "A1 A2 A3 B1 B2 C1 C2 C3 C4 C5 C6 D E F M N P",
        Ok("A1 A2 A3 B1 B2 C1 C2 C3 C4 C5 C6 D E F M N P"),
    )
}
#[test]
fn classes_empty() {
    check_classes("", Err(LicenceClassesError::Empty))
}
#[test]
fn classes_only_separators() {
    check_classes(" , ", Err(LicenceClassesError::Empty))
}
#[test]
fn classes_lowercase() {
    check_classes("C1 c2", Err(UnknownLicenceClass("c2".into()).into()))
}
#[test]
fn classes_unknown() {
    check_classes("C1 C7", Err(UnknownLicenceClass("C7".into()).into()))
}
#[test]
fn classes_run_together() {
    check_classes("C1C2", Err(UnknownLicenceClass("C1C2".into()).into()))
}
#[test]
fn classes_tab() {
    check_classes("C1\tC2", Err(UnknownLicenceClass("C1\tC2".into()).into()))
}
#[test]
fn classes_duplicate() {
    check_classes("C1 C2 C1", Err(LicenceClassesError::Duplicate(C1)))
}

#[track_caller]
fn check_class_list(classes: &[LicenceClass], expected: Result<&str, LicenceClassesError>) {
    let set = LicenceClasses::new(classes);
    assert_eq!(
        set.clone().map(|set| set.to_string()),
        expected.map(str::to_owned)
    );
    if let Ok(set) = set {
        assert!(classes.iter().all(|&class| set.contains(class)));
        assert_eq!(set.iter().count(), classes.len());
    }
}

#[test]
fn class_list_unsorted() {
    check_class_list(&[D, C1], Ok("C1 D"))
}
#[test]
fn class_list_empty() {
    check_class_list(&[], Err(LicenceClassesError::Empty))
}
#[test]
fn class_list_duplicate() {
    check_class_list(&[A1, A1], Err(LicenceClassesError::Duplicate(A1)))
}

#[test]
fn class_codes_round_trip() {
    for &class in LicenceClass::ALL {
        assert_eq!(class.as_str().parse(), Ok(class));
        assert_eq!(class.to_string(), class.as_str());
    }
}

#[test]
fn class_order_is_listed_order() {
    assert!(LicenceClass::ALL.is_sorted() && LicenceClass::ALL.len() == 17)
}

// States.

#[track_caller]
fn check_state(input: &str, expected: Result<LicenceState, UnknownLicenceState>) {
    let state = input.parse::<LicenceState>();
    assert_eq!(state, expected);
    if let Ok(state) = state {
        assert_eq!(state.to_string(), input);
    }
}

#[test]
fn state_normal() {
    check_state("normal", Ok(LicenceState::Normal))
}
#[test]
fn state_suspended() {
    check_state("suspended", Ok(LicenceState::Suspended))
}
#[test]
fn state_revoked() {
    check_state("revoked", Ok(LicenceState::Revoked))
}
#[test]
fn state_cancelled() {
    check_state("cancelled", Ok(LicenceState::Cancelled))
}
#[test]
fn state_expired() {
    check_state("expired", Ok(LicenceState::Expired))
}
#[test]
fn state_capitalised() {
    check_state("Normal", Err(UnknownLicenceState("Normal".into())))
}
#[test]
fn state_american_spelling() {
    check_state("canceled", Err(UnknownLicenceState("canceled".into())))
}

// Dates and validity.

#[track_caller]
fn check_date(input: &str, expected: Result<Date, DateError>) {
    let date = parse_date(input);
    assert_eq!(date, expected);
    if let Ok(date) = date {
        assert_eq!(format_date(date), input);
    }
}

#[test]
fn date_plain() {
    check_date("2024-03-05", Ok(date!(2024 - 03 - 05)))
}
#[test]
fn date_leap_day() {
    check_date("2024-02-29", Ok(date!(2024 - 02 - 29)))
}
#[test]
fn date_year_zero() {
    check_date("0000-01-01", Ok(date!(0000 - 01 - 01)))
}
#[test]
fn date_feb_29_non_leap() {
    check_date("2023-02-29", Err(DateError::Calendar("2023-02-29".into())))
}
#[test]
fn date_month_13() {
    check_date("2024-13-01", Err(DateError::Calendar("2024-13-01".into())))
}
#[test]
fn date_day_0() {
    check_date("2024-01-00", Err(DateError::Calendar("2024-01-00".into())))
}
#[test]
fn date_unpadded() {
    check_date("2024-3-05", Err(DateError::Format("2024-3-05".into())))
}
#[test]
fn date_slashes() {
    check_date("2024/03/05", Err(DateError::Format("2024/03/05".into())))
}
#[test]
fn date_compact() {
    check_date("20240305", Err(DateError::Format("20240305".into())))
}
#[test]
fn date_signed_year() {
    check_date("+024-03-05", Err(DateError::Format("+024-03-05".into())))
}
#[test]
fn date_trailing_space() {
    check_date("2024-03-05 ", Err(DateError::Format("2024-03-05 ".into())))
}
#[test]
fn date_with_time() {
    check_date(
        "2024-03-05T00:00:00Z",
        Err(DateError::Format("2024-03-05T00:00:00Z".into())),
    )
}
#[test]
fn date_empty() {
    check_date("", Err(DateError::Format("".into())))
}

#[track_caller]
fn check_validity(from: Date, until: Option<Date>, expected: Result<(), ValidityError>) {
    let validity = Validity::new(from, until);
    assert_eq!(validity.clone().map(|_| ()), expected);
    if let Ok(validity) = validity {
        assert_eq!(
            (validity.valid_from(), validity.valid_until()),
            (from, until)
        );
    }
}

#[test]
fn validity_ten_years() {
    check_validity(date!(2020 - 06 - 01), Some(date!(2030 - 06 - 01)), Ok(()))
}
#[test]
fn validity_one_day() {
    check_validity(date!(2020 - 06 - 01), Some(date!(2020 - 06 - 01)), Ok(()))
}
#[test]
fn validity_long_term() {
    check_validity(date!(2020 - 06 - 01), None, Ok(()))
}
#[test]
fn validity_reversed() {
    check_validity(
        date!(2020 - 06 - 01),
        Some(date!(2020 - 05 - 31)),
        Err(ValidityError::UntilBeforeFrom {
            valid_from: date!(2020 - 06 - 01),
            valid_until: date!(2020 - 05 - 31),
        }),
    )
}

#[track_caller]
fn check_covers(until: Option<Date>, date: Date, expected: bool) {
    let validity = Validity::new(date!(2020 - 06 - 01), until).unwrap();
    assert_eq!(validity.covers(date), expected);
}

#[test]
fn covers_first_day() {
    check_covers(Some(date!(2030 - 06 - 01)), date!(2020 - 06 - 01), true)
}
#[test]
fn covers_last_day() {
    check_covers(Some(date!(2030 - 06 - 01)), date!(2030 - 06 - 01), true)
}
#[test]
fn covers_not_before() {
    check_covers(Some(date!(2030 - 06 - 01)), date!(2020 - 05 - 31), false)
}
#[test]
fn covers_not_after() {
    check_covers(Some(date!(2030 - 06 - 01)), date!(2030 - 06 - 02), false)
}
#[test]
fn covers_long_term() {
    check_covers(None, date!(2099 - 12 - 31), true)
}
#[test]
fn covers_long_term_not_before() {
    check_covers(None, date!(2020 - 05 - 31), false)
}

#[track_caller]
fn check_unix_end(until: Option<Date>, expected: Option<i64>) {
    let validity = Validity::new(date!(1970 - 01 - 01), until).unwrap();
    assert_eq!(validity.until_unix_end(), expected);
}

#[test]
fn unix_end_epoch_day() {
    check_unix_end(Some(date!(1970 - 01 - 01)), Some(86_400))
}
#[test]
fn unix_end_year_end() {
    check_unix_end(Some(date!(2024 - 12 - 31)), Some(1_735_689_600))
}
#[test]
fn unix_end_long_term() {
    check_unix_end(None, None)
}

// Points.

#[track_caller]
fn check_points(input: u8, expected: Result<u8, PointsError>) {
    let points = Points::try_from(input);
    assert_eq!(points.map(Points::get), expected);
}

#[test]
fn points_zero() {
    check_points(0, Ok(0))
}
#[test]
fn points_twelve() {
    check_points(12, Ok(12))
}
#[test]
fn points_thirteen() {
    check_points(13, Err(PointsError(13)))
}
#[test]
fn points_max() {
    check_points(u8::MAX, Err(PointsError(u8::MAX)))
}

// Photo digests.

const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

#[track_caller]
fn check_digest(input: &str, expected: Result<PhotoDigest, PhotoDigestError>) {
    let digest = input.parse::<PhotoDigest>();
    assert_eq!(digest, expected);
    if let Ok(digest) = digest {
        assert_eq!(digest.to_string(), input);
    }
}

#[test]
fn digest_of_empty() {
    check_digest(EMPTY_SHA256, Ok(PhotoDigest::of(b"")))
}
#[test]
fn digest_of_photo() {
    check_digest(
        "55c64d0fcd6f9d5f7c828093857e3fdfda68478bb4e9bd24d481ef391c7804e8",
        Ok(PhotoDigest::of(b"photo")),
    )
}
#[test]
fn digest_uppercase() {
    check_digest(
        &EMPTY_SHA256.to_uppercase(),
        Err(PhotoDigestError::NotHex {
            position: 0,
            found: 'E',
        }),
    )
}
#[test]
fn digest_short() {
    check_digest(
        &EMPTY_SHA256[1..],
        Err(PhotoDigestError::Length { found: 63 }),
    )
}
#[test]
fn digest_not_hex() {
    check_digest(
        &EMPTY_SHA256.replace('e', "g"),
        Err(PhotoDigestError::NotHex {
            position: 0,
            found: 'g',
        }),
    )
}

// Serde.

#[track_caller]
fn check_json<T: Serialize + DeserializeOwned + PartialEq + Debug>(value: T, json: &str) {
    assert_eq!(serde_json::to_string(&value).unwrap(), json);
    assert_eq!(serde_json::from_str::<T>(json).unwrap(), value);
}

#[track_caller]
fn check_json_rejected<T: DeserializeOwned + Debug>(json: &str, message: &str) {
    let error = serde_json::from_str::<T>(json).unwrap_err().to_string();
    assert!(
        error.contains(message),
        "{error:?} does not contain {message:?}"
    );
}

#[test]
fn json_number() {
    check_json(
        "11010519491231002X".parse::<LicenceNumber>().unwrap(),
        r#""11010519491231002X""#,
    )
}
#[test]
fn json_number_bad_check() {
    check_json_rejected::<LicenceNumber>(
        r#""110105194912310021""#,
        "check character is '1', expected 'X'",
    )
}
#[test]
fn json_number_lowercase_x() {
    check_json_rejected::<LicenceNumber>(r#""11010519491231002x""#, "check character is 'x'")
}
#[test]
fn json_class() {
    check_json(C1, r#""C1""#)
}
#[test]
fn json_class_lowercase() {
    check_json_rejected::<LicenceClass>(r#""c1""#, "unknown variant")
}
#[test]
fn json_classes() {
    check_json(LicenceClasses::new(&[C2, A1]).unwrap(), r#"["A1","C2"]"#)
}
#[test]
fn json_classes_empty() {
    check_json_rejected::<LicenceClasses>("[]", "no licence class given")
}
#[test]
fn json_classes_duplicate() {
    check_json_rejected::<LicenceClasses>(r#"["C1","C1"]"#, "licence class C1 given more than once")
}
#[test]
fn json_classes_unknown() {
    check_json_rejected::<LicenceClasses>(r#"["C7"]"#, "unknown variant")
}
#[test]
fn json_state() {
    check_json(LicenceState::Cancelled, r#""cancelled""#)
}
#[test]
fn json_validity() {
    check_json(
        Validity::new(date!(2020 - 06 - 01), Some(date!(2030 - 06 - 01))).unwrap(),
        r#"{"valid_from":"2020-06-01","valid_until":"2030-06-01"}"#,
    )
}
#[test]
fn json_validity_long_term() {
    check_json(
        Validity::long_term(date!(2020 - 06 - 01)),
        r#"{"valid_from":"2020-06-01"}"#,
    )
}
#[test]
fn json_validity_null_until() {
    assert_eq!(
        serde_json::from_str::<Validity>(r#"{"valid_from":"2020-06-01","valid_until":null}"#)
            .unwrap(),
        Validity::long_term(date!(2020 - 06 - 01))
    )
}
#[test]
fn json_validity_reversed() {
    check_json_rejected::<Validity>(
        r#"{"valid_from":"2020-06-01","valid_until":"2020-05-31"}"#,
        "valid until 2020-05-31 is before valid from 2020-06-01",
    )
}
#[test]
fn json_validity_bad_date() {
    check_json_rejected::<Validity>(
        r#"{"valid_from":"2020-6-1"}"#,
        "date \"2020-6-1\" is not written YYYY-MM-DD",
    )
}
#[test]
fn json_points() {
    check_json(Points::try_from(6).unwrap(), "6")
}
#[test]
fn json_points_too_many() {
    check_json_rejected::<Points>("13", "points 13 out of range 0 to 12")
}
#[test]
fn json_digest() {
    check_json(PhotoDigest::of(b""), &format!("\"{EMPTY_SHA256}\""))
}
#[test]
fn json_digest_with_escapes() {
    // JSON may escape any character: the text is then not the input's bytes.
    let escaped = format!("\"\\u0065{}\"", &EMPTY_SHA256[1..]);
    let digest: PhotoDigest = serde_json::from_str(&escaped).unwrap();
    assert_eq!(digest, PhotoDigest::of(b""));
    check_json_rejected::<PhotoDigest>("5", "invalid type: integer `5`, expected a string");
}
#[test]
fn json_digest_uppercase() {
    check_json_rejected::<PhotoDigest>(
        &format!("\"{}\"", EMPTY_SHA256.to_uppercase()),
        "expected a lowercase hex digit",
    )
}

// Properties.

fn any_birth_date() -> impl Strategy<Value = Date> {
    let first = date!(1900 - 01 - 01).to_julian_day();
    let last = date!(2099 - 12 - 31).to_julian_day();
    (first..=last).prop_map(|day| Date::from_julian_day(day).unwrap())
}

fn any_number() -> impl Strategy<Value = LicenceNumber> {
    (0..=999_999u32, any_birth_date(), 0..=999u16).prop_map(|(region, birth, sequence)| {
        LicenceNumber::from_parts(region, birth, sequence).unwrap()
    })
}

proptest! {
    #[test]
    fn from_parts_parses_back(region in 0..=999_999u32, birth in any_birth_date(), sequence in 0..=999u16) {
        let number = LicenceNumber::from_parts(region, birth, sequence).unwrap();
        prop_assert_eq!(number.as_str().parse::<LicenceNumber>(), Ok(number.clone()));
        prop_assert_eq!((number.region(), number.birth_date(), number.sequence()), (region, birth, sequence));
    }

    #[test]
    fn any_single_substitution_is_caught(number in any_number(), position in 0..18usize, replacement in "[0-9X]") {
        let mut text = number.as_str().to_owned();
        prop_assume!(text[position..=position] != replacement);
        text.replace_range(position..=position, &replacement);
        prop_assert!(text.parse::<LicenceNumber>().is_err(), "{} accepted", text);
    }

    #[test]
    fn parsing_any_string_does_not_panic(text in "\\PC{0,20}") {
        let _ = text.parse::<LicenceNumber>();
        let _ = text.parse::<LicenceClasses>();
        let _ = text.parse::<PhotoDigest>();
        let _ = parse_date(&text);
    }

    #[test]
    fn classes_round_trip(classes in proptest::sample::subsequence(LicenceClass::ALL.to_vec(), 1..=17).prop_shuffle()) {
        let set = LicenceClasses::new(&classes).unwrap();
        prop_assert_eq!(set.to_string().parse::<LicenceClasses>(), Ok(set));
        prop_assert_eq!(Vec::from(set).len(), classes.len());
    }

    #[test]
    fn digest_parsing_matches_a_character_by_character_reading(text in "[0-9a-fA-Fg€]{62,66}") {
        let reference = || {
            let found = text.chars().count();
            if found != 64 {
                return Err(PhotoDigestError::Length { found });
            }
            let mut bytes = [0u8; 32];
            for (position, c) in text.chars().enumerate() {
                let nibble = c.to_digit(16).filter(|_| !c.is_ascii_uppercase());
                let Some(nibble) = nibble else {
                    return Err(PhotoDigestError::NotHex { position, found: c });
                };
                bytes[position / 2] = (bytes[position / 2] << 4) | nibble as u8;
            }
            Ok(PhotoDigest::from_bytes(bytes))
        };
        prop_assert_eq!(text.parse::<PhotoDigest>(), reference());
    }

    #[test]
    fn a_digest_with_one_character_not_a_lowercase_digit_is_refused(
        bytes in any::<[u8; 32]>(),
        position in 0..64usize,
        found in "[^0-9a-f]",
    ) {
        let mut text = PhotoDigest::from_bytes(bytes).to_string();
        text.replace_range(position..=position, &found);
        let found = found.chars().next().unwrap();
        prop_assert_eq!(text.parse::<PhotoDigest>(), Err(PhotoDigestError::NotHex { position, found }));
    }

    #[test]
    fn digest_round_trip(bytes in any::<[u8; 32]>()) {
        let digest = PhotoDigest::from_bytes(bytes);
        prop_assert_eq!(digest.to_string().parse::<PhotoDigest>(), Ok(digest));
    }

    #[test]
    fn dates_are_written_as_the_formatting_machinery_writes_them(day in (date!(0000 - 01 - 01).to_julian_day()..=date!(9999 - 12 - 31).to_julian_day())) {
        let date = Date::from_julian_day(day).unwrap();
        let reference = format!("{:04}-{:02}-{:02}", date.year(), u8::from(date.month()), date.day());
        prop_assert_eq!(format_date(date), reference.clone());
        let validity = Validity::long_term(date);
        prop_assert_eq!(serde_json::to_string(&validity).unwrap(), format!(r#"{{"valid_from":"{reference}"}}"#));
    }

    #[test]
    fn validities_round_trip(from in any_birth_date(), days in proptest::option::of(0..20_000i64)) {
        let until = days.map(|days| from + time::Duration::days(days));
        let validity = Validity::new(from, until).unwrap();
        let json = serde_json::to_string(&validity).unwrap();
        prop_assert_eq!(serde_json::from_str::<Validity>(&json).unwrap(), validity);
    }

    #[test]
    fn date_round_trip(day in (date!(0000 - 01 - 01).to_julian_day()..=date!(9999 - 12 - 31).to_julian_day())) {
        let date = Date::from_julian_day(day).unwrap();
        prop_assert_eq!(parse_date(&format_date(date)), Ok(date));
    }
}
