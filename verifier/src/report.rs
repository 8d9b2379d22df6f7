//! Verdicts for people and for programs. The human form leads with the verdict in capitals,
//! then who and what, then the status with its source and age, then notes; it works in a
//! UTF-8 terminal (Chinese labels when the locale is Chinese) and in a plain ASCII one,
//! with colour only on a terminal. The JSON form is one object per verdict, schema below.
//!
//! # JSON schema (version 1, stable: fields are only ever added)
//!
//! ```text
//! {
//!   "schema": 1,
//!   "line": 3,                          // batch only: 1-based input line
//!   "verdict": "valid" | "not_valid" | "indeterminate",
//!   "reason": null | "malformed" | "bad_signature" | "unknown_key" | "key_revoked"
//!           | "key_not_valid" | "not_yet_valid" | "expired" | "revoked" | "suspended"
//!           | "superseded" | "status_unknown" | "status_stale"
//!           | "not_presented_by_holder" | "presentation_expired",
//!   "detail": "one sentence",
//!   "checked_at": 1795000000,           // the terminal's clock, Unix seconds
//!   "credential": null | {              // only when the signature verified
//!     "id": "32 hex", "issuer": "…", "licence_number": "…", "name": "…",
//!     "classes": ["C1", …], "valid_from": "YYYY-MM-DD", "valid_until": "YYYY-MM-DD" | null,
//!     "authority": "…", "issued_at": n, "not_before": n, "expires_at": n,
//!     "key_id": "16 hex", "status_list": { "uri": "…", "index": n }
//!   },
//!   "status": {
//!     "value": "valid" | "suspended" | "revoked" | "superseded" | "expired" | "unknown",
//!     "source": "live" | "cached_list" | "none",
//!     "as_of": n | null,                // server's checked_at, or the list's iat
//!     "age_seconds": n | null,
//!     "max_age_seconds": n,
//!     "stale": bool,
//!     "list_expires_at": n | null
//!   },
//!   "presentation": {
//!     "presented": bool,                // shown as DL2: (a presentation), not DL1:
//!     "holder_bound": bool | null,      // the credential names a holder key (cnf)
//!     "bound": bool,                    // signed by that key: the holder's device showed it
//!     "fresh": bool,                    // its slot is current at the terminal's clock ± skew
//!     "slot_start": n | null,           // Unix seconds, DL2: only
//!     "slot_length": n | null           // seconds, DL2: only
//!   },
//!   "clock": null | { "offset_seconds": n, "reference": "live_status" | "status_list" | "last_sync" },
//!   "notes": ["…"]
//! }
//! ```
//!
//! `offset_seconds` is server time minus terminal time: positive when the terminal is behind.
//!
//! A batch line that is not even text gives `{"schema": 1, "line": n, "error": "…"}`.

use std::io::{self, Write};

use keys::UnixTime;
use keys::licence::format_date;
use serde::Serialize;

use crate::verdict::{
    ClockReference, Outcome, PresentationReport, Reason, StatusReport, StatusSource, StatusValue,
    Verdict, format_span, status_word,
};

/// The JSON schema version.
pub const SCHEMA: u32 = 1;

/// How to print for a person.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Style {
    /// ANSI colours (only on a terminal, and not with `NO_COLOR`).
    pub colour: bool,
    /// The terminal takes UTF-8; otherwise only ASCII is printed.
    pub utf8: bool,
    /// Chinese labels (a `zh` locale with UTF-8).
    pub chinese: bool,
}

impl Style {
    /// The style for a locale string such as `LC_ALL`/`LANG`'s value.
    pub fn for_locale(locale: Option<&str>, terminal: bool, no_colour: bool) -> Style {
        let locale = locale.unwrap_or_default().to_ascii_lowercase();
        let utf8 = locale.contains("utf-8") || locale.contains("utf8");
        Style {
            colour: terminal && !no_colour,
            utf8,
            chinese: utf8 && locale.starts_with("zh"),
        }
    }
}

/// Writes the verdict for a person.
pub fn write_human(
    out: &mut dyn Write,
    verdict: &Verdict,
    policy_max_age: u64,
    style: Style,
) -> io::Result<()> {
    let labels = if style.chinese { &ZH } else { &EN };
    let (word, local, colour) = match verdict.outcome {
        Outcome::Valid => ("VALID", "有效", "\x1b[1;97;42m"),
        Outcome::NotValid => ("NOT VALID", "无效", "\x1b[1;97;41m"),
        Outcome::Indeterminate => ("INDETERMINATE", "无法确定", "\x1b[1;30;43m"),
    };
    let mut headline = format!(" {word} ");
    if style.utf8 {
        headline = format!(" {word} {local} ");
    }
    let sentence = text(&verdict.detail, style);
    if style.colour {
        writeln!(out, "{colour}{headline}\x1b[0m  {sentence}")?;
    } else {
        writeln!(out, "=={headline}==  {sentence}")?;
    }
    if let Some(credential) = &verdict.credential {
        let claims = &credential.claims;
        let licence = &claims.licence;
        let until = licence
            .validity
            .valid_until()
            .map_or_else(|| labels.long_term.to_owned(), format_date);
        let rows = [
            (labels.name, text(&licence.name, style)),
            (labels.number, claims.licence_number.as_str().to_owned()),
            (labels.classes, licence.classes.to_string()),
            (
                labels.validity,
                format!("{} .. {until}", format_date(licence.validity.valid_from())),
            ),
            (labels.authority, text(&licence.authority, style)),
            (
                labels.credential,
                format!(
                    "{} ({} {}, {} {})",
                    claims.credential_id,
                    labels.expires,
                    claims.expires_at,
                    labels.key,
                    credential.key_id
                ),
            ),
        ];
        for (label, value) in rows {
            writeln!(out, "  {label} {value}")?;
        }
    }
    let status = match (verdict.status.source, verdict.outcome) {
        // The credential itself failed: its status was not looked at.
        (StatusSource::None, Outcome::NotValid) => "not checked".to_owned(),
        _ => status_line(&verdict.status, policy_max_age, verdict.checked_at),
    };
    if let Some(shown) = shown_line(&verdict.presentation, verdict.reason, style.chinese) {
        writeln!(out, "  {} {}", labels.shown, text(&shown, style))?;
    }
    writeln!(out, "  {} {status}", labels.status)?;
    for note in &verdict.notes {
        writeln!(out, "  {} {}", labels.note, text(note, style))?;
    }
    Ok(())
}

/// How the QR was shown, in words: whether the holder's device presented it just now,
/// or whether a copy would have passed as well.
pub(crate) fn shown_line(
    shown: &PresentationReport,
    reason: Option<Reason>,
    chinese: bool,
) -> Option<String> {
    let slot = shown.slot.map(|slot| {
        let start = slot.start().to_string();
        // The time of day is what an officer compares with a watch.
        let time = start.get(11..19).unwrap_or(&start).to_owned();
        if chinese {
            format!("时段 {time}，{} 秒", slot.length())
        } else {
            format!("slot {time}, {} s", slot.length())
        }
    });
    let slot = slot.unwrap_or_default();
    let line = match (shown.presented, shown.bound, shown.fresh, chinese) {
        (true, true, true, false) => format!("presented by the holder's device, fresh ({slot})"),
        (true, true, true, true) => format!("由持证人设备出示，实时有效（{slot}）"),
        (true, true, false, false) => {
            format!("presented by the holder's device but NOT fresh ({slot}): a replay")
        }
        (true, true, false, true) => format!("由持证人设备出示，但已过时（{slot}）：可能是重放"),
        (true, false, _, false) if reason == Some(Reason::NotPresentedByHolder) => {
            format!("presentation NOT signed by the holder's device ({slot})")
        }
        (true, false, _, true) if reason == Some(Reason::NotPresentedByHolder) => {
            format!("出示签名不是持证人设备的（{slot}）")
        }
        (true, false, _, false) => "presentation not checked".to_owned(),
        (true, false, _, true) => "出示未经核验".to_owned(),
        (false, ..) => match (shown.holder_bound?, chinese) {
            (true, false) => {
                "bound to the holder's device but shown alone: a screenshot would pass".to_owned()
            }
            (true, true) => "已绑定持证人设备，但未由设备出示：截屏也能通过".to_owned(),
            (false, false) => "bearer credential: a screenshot would pass".to_owned(),
            (false, true) => "未绑定持证人设备的凭证：截屏也能通过".to_owned(),
        },
    };
    Some(line)
}

pub(crate) fn status_line(status: &StatusReport, max_age: u64, now: UnixTime) -> String {
    let word = status_word(status.value);
    let age = status.age.map(format_span).unwrap_or_default();
    match (status.source, status.as_of) {
        (StatusSource::Live, Some(at)) => format!("{word} (live, checked {at})"),
        (StatusSource::CachedList, Some(at)) => {
            let mut line = format!("{word} (cached list signed {at}, {age} old)");
            if status.stale {
                line.push_str(&format!(
                    " - TOO OLD: the limit is {}",
                    format_span(max_age)
                ));
                if let Some(exp) = status.list_expires_at.filter(|&exp| now >= exp) {
                    line.push_str(&format!(", the list expired {exp}"));
                }
            }
            line
        }
        _ if status.value == StatusValue::Unknown => "not known".to_owned(),
        _ => word.to_owned(),
    }
}

/// ASCII terminals get `\u{…}` escapes for anything outside ASCII, so nothing is lost.
pub(crate) fn text(value: &str, style: Style) -> String {
    if style.utf8 {
        return value.chars().filter(|c| !c.is_control()).collect();
    }
    value
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c.to_string()
            } else {
                format!("\\u{{{:x}}}", u32::from(c))
            }
        })
        .collect()
}

struct Labels {
    name: &'static str,
    number: &'static str,
    classes: &'static str,
    validity: &'static str,
    authority: &'static str,
    credential: &'static str,
    status: &'static str,
    shown: &'static str,
    note: &'static str,
    long_term: &'static str,
    expires: &'static str,
    key: &'static str,
}

const EN: Labels = Labels {
    name: "Name       ",
    number: "Licence no.",
    classes: "Classes    ",
    validity: "Valid      ",
    authority: "Authority  ",
    credential: "Credential ",
    status: "Status     ",
    shown: "Shown      ",
    note: "Note:      ",
    long_term: "long-term",
    expires: "expires",
    key: "key",
};

const ZH: Labels = Labels {
    name: "姓名    ",
    number: "证号    ",
    classes: "准驾车型",
    validity: "有效期限",
    authority: "发证机关",
    credential: "电子凭证",
    status: "状态    ",
    shown: "出示方式",
    note: "注意    ",
    long_term: "长期",
    expires: "到期",
    key: "密钥",
};

/// The verdict as one JSON object (no newline), `line` set in batch mode.
pub fn to_json(verdict: &Verdict, max_status_age: u64, line: Option<u64>) -> String {
    let credential = verdict.credential.as_ref().map(|c| {
        let claims = &c.claims;
        let licence = &claims.licence;
        JsonCredential {
            id: claims.credential_id.to_string(),
            issuer: &claims.issuer,
            licence_number: claims.licence_number.as_str(),
            name: &licence.name,
            classes: licence.classes.iter().map(|c| c.as_str()).collect(),
            valid_from: format_date(licence.validity.valid_from()),
            valid_until: licence.validity.valid_until().map(format_date),
            authority: &licence.authority,
            issued_at: claims.issued_at.0,
            not_before: claims.not_before.0,
            expires_at: claims.expires_at.0,
            key_id: c.key_id.to_string(),
            status_list: JsonStatusRef {
                uri: &claims.status.uri,
                index: claims.status.index,
            },
        }
    });
    let status = &verdict.status;
    let json = JsonVerdict {
        schema: SCHEMA,
        line,
        verdict: verdict.outcome,
        reason: verdict.reason,
        detail: &verdict.detail,
        checked_at: verdict.checked_at.0,
        credential,
        status: JsonStatus {
            value: status.value,
            source: status.source,
            as_of: status.as_of.map(|t| t.0),
            age_seconds: status.age,
            max_age_seconds: max_status_age,
            stale: status.stale,
            list_expires_at: status.list_expires_at.map(|t| t.0),
        },
        presentation: JsonPresentation {
            presented: verdict.presentation.presented,
            holder_bound: verdict.presentation.holder_bound,
            bound: verdict.presentation.bound,
            fresh: verdict.presentation.fresh,
            slot_start: verdict.presentation.slot.map(|s| s.start().0),
            slot_length: verdict.presentation.slot.map(|s| s.length()),
        },
        clock: verdict.clock.map(|c| JsonClock {
            offset_seconds: c.seconds,
            reference: c.reference,
        }),
        notes: &verdict.notes,
    };
    // Serializing plain structs of strings and numbers into a String cannot fail.
    serde_json::to_string(&json).unwrap_or_default()
}

/// A batch line that could not even be turned into a verdict (I/O, not UTF-8).
pub fn error_json(line: u64, error: &str) -> String {
    #[derive(Serialize)]
    struct ErrorLine<'a> {
        schema: u32,
        line: u64,
        error: &'a str,
    }
    serde_json::to_string(&ErrorLine {
        schema: SCHEMA,
        line,
        error,
    })
    .unwrap_or_default()
}

#[derive(Serialize)]
struct JsonVerdict<'a> {
    schema: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<u64>,
    verdict: Outcome,
    reason: Option<Reason>,
    detail: &'a str,
    checked_at: u64,
    credential: Option<JsonCredential<'a>>,
    status: JsonStatus,
    presentation: JsonPresentation,
    clock: Option<JsonClock>,
    notes: &'a [String],
}

#[derive(Serialize)]
struct JsonCredential<'a> {
    id: String,
    issuer: &'a str,
    licence_number: &'a str,
    name: &'a str,
    classes: Vec<&'static str>,
    valid_from: String,
    valid_until: Option<String>,
    authority: &'a str,
    issued_at: u64,
    not_before: u64,
    expires_at: u64,
    key_id: String,
    status_list: JsonStatusRef<'a>,
}

#[derive(Serialize)]
struct JsonStatusRef<'a> {
    uri: &'a str,
    index: u64,
}

#[derive(Serialize)]
struct JsonStatus {
    value: StatusValue,
    source: StatusSource,
    as_of: Option<u64>,
    age_seconds: Option<u64>,
    max_age_seconds: u64,
    stale: bool,
    list_expires_at: Option<u64>,
}

#[derive(Serialize)]
struct JsonPresentation {
    presented: bool,
    holder_bound: Option<bool>,
    bound: bool,
    fresh: bool,
    slot_start: Option<u64>,
    slot_length: Option<u64>,
}

#[derive(Serialize)]
struct JsonClock {
    offset_seconds: i64,
    reference: ClockReference,
}

#[cfg(test)]
mod tests;
