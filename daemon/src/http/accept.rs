//! Content negotiation for live status: JSON, or a signed receipt (`application/cwt`).
//! axum and the crates around it parse no `Accept` header into media ranges with weights,
//! and this one endpoint needs only to weigh two types, so the RFC 9110 §12.5.1 rules for
//! that are here.

use axum::http::HeaderMap;
use axum::http::header::ACCEPT;

/// The media type of a signed status receipt.
pub(crate) const CWT: &str = "application/cwt";

/// What a live-status answer is sent as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StatusMedia {
    /// `application/json`, as without an `Accept` header.
    Json,
    /// A signed receipt, `application/cwt`.
    Receipt,
    /// Neither is acceptable.
    Neither,
}

/// Chooses from the `Accept` headers: none → JSON; otherwise the type with the higher
/// weight, and at equal weight the one named more exactly (`application/cwt` over
/// `*/*`), JSON when still tied; neither when both weigh 0.
pub(crate) fn status_media(headers: &HeaderMap) -> StatusMedia {
    let mut values = headers.get_all(ACCEPT).iter().peekable();
    if values.peek().is_none() {
        return StatusMedia::Json;
    }
    let mut json = Weight::UNMATCHED;
    let mut cwt = Weight::UNMATCHED;
    for value in values {
        // A header that is not visible ASCII names nothing we serve.
        let Ok(text) = value.to_str() else { continue };
        for range in text.split(',') {
            let Some((media, q)) = parse_range(range) else {
                continue;
            };
            json.consider(&media, "application", "json", q);
            cwt.consider(&media, "application", "cwt", q);
        }
    }
    let (json, cwt) = (json.weight(), cwt.weight());
    if cwt.0 > 0 && cwt > json {
        StatusMedia::Receipt
    } else if json.0 > 0 {
        StatusMedia::Json
    } else {
        StatusMedia::Neither
    }
}

/// The most specific range matching one type so far: (specificity, weight in 1/1000).
#[derive(Clone, Copy)]
struct Weight(Option<(u8, u16)>);

impl Weight {
    const UNMATCHED: Weight = Weight(None);

    /// Takes `media` into account if it matches `kind/sub` more specifically than what
    /// matched before (a more specific range decides, RFC 9110 §12.5.1).
    fn consider(&mut self, media: &str, kind: &str, sub: &str, q: u16) {
        let specificity = match media.split_once('/') {
            Some(("*", "*")) => 1,
            Some((k, "*")) if k.eq_ignore_ascii_case(kind) => 2,
            Some((k, s)) if k.eq_ignore_ascii_case(kind) && s.eq_ignore_ascii_case(sub) => 3,
            _ => return,
        };
        if self.0.is_none_or(|(s, _)| specificity > s) {
            self.0 = Some((specificity, q));
        }
    }

    /// (weight, specificity): what an unmatched type weighs is 0.
    fn weight(self) -> (u16, u8) {
        self.0.map_or((0, 0), |(s, q)| (q, s))
    }
}

/// One media range: its `type/subtype` and its weight in thousandths (1000 without `q`).
fn parse_range(range: &str) -> Option<(String, u16)> {
    let mut parts = range.split(';');
    let media = parts.next()?.trim();
    if media.is_empty() || !media.contains('/') {
        return None;
    }
    let mut q = 1000;
    for parameter in parts {
        let Some((name, value)) = parameter.split_once('=') else {
            continue;
        };
        if name.trim().eq_ignore_ascii_case("q") {
            q = parse_q(value.trim())?;
        }
    }
    Some((media.to_owned(), q))
}

/// A `qvalue`: 0 to 1 with at most three decimals, in thousandths.
fn parse_q(text: &str) -> Option<u16> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths: u16 = format!("{fraction:0<3}").parse().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn media(accept: &[&str]) -> StatusMedia {
        let mut headers = HeaderMap::new();
        for value in accept {
            headers.append(ACCEPT, HeaderValue::from_str(value).unwrap());
        }
        status_media(&headers)
    }

    #[test]
    fn negotiates_json_receipt_or_neither() {
        assert_eq!(media(&[]), StatusMedia::Json);
        assert_eq!(media(&["application/json"]), StatusMedia::Json);
        assert_eq!(media(&["*/*"]), StatusMedia::Json);
        assert_eq!(media(&["application/*"]), StatusMedia::Json);
        assert_eq!(media(&["application/cwt"]), StatusMedia::Receipt);
        assert_eq!(media(&["APPLICATION/CWT"]), StatusMedia::Receipt);
        assert_eq!(media(&["application/cwt, */*;q=0.1"]), StatusMedia::Receipt);
        assert_eq!(
            media(&["application/json;q=0.5, application/cwt"]),
            StatusMedia::Receipt
        );
        assert_eq!(
            media(&["application/json, application/cwt"]),
            StatusMedia::Json
        );
        assert_eq!(
            media(&["application/cwt;q=0.4", "application/json;q=0.9"]),
            StatusMedia::Json
        );
        assert_eq!(media(&["text/html"]), StatusMedia::Neither);
        assert_eq!(media(&["application/cwt;q=0"]), StatusMedia::Neither);
        // Anything but JSON: the receipt is acceptable through */*.
        assert_eq!(
            media(&["*/*;q=0.8, application/json;q=0"]),
            StatusMedia::Receipt
        );
        assert_eq!(
            media(&["text/html,application/xhtml+xml,*/*;q=0.8"]),
            StatusMedia::Json
        );
    }

    #[test]
    fn weights_parse_as_rfc_9110_says() {
        assert_eq!(parse_q("1"), Some(1000));
        assert_eq!(parse_q("1.000"), Some(1000));
        assert_eq!(parse_q("0.5"), Some(500));
        assert_eq!(parse_q("0.125"), Some(125));
        assert_eq!(parse_q("0"), Some(0));
        assert_eq!(parse_q("1.5"), None);
        assert_eq!(parse_q("0.1234"), None);
        assert_eq!(parse_q("2"), None);
    }
}
