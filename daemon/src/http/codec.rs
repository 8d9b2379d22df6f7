//! Between JSON and the service's values: request bodies parsed into typed requests (a
//! licence number checked, a base64 photo decoded, throttle settings typed), and the
//! service's answers written as the API's JSON.

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keys::UnixTime;
use keys::jwk::{HolderJwk, JwkError};
use keys::licence::LicenceNumber;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::domain::access::{ApiClient, LicenceField};
use crate::domain::application::{ApplicationState, Channel, PhotoSource, Ticket};
use crate::domain::issue::CredentialRecord;
use crate::domain::registry::LicenceRecord;
use crate::domain::throttle::estimate::WaitEstimate;
use crate::domain::throttle::settings::{Given, Moved, Setting, ThrottleSettings};
use crate::http::date::http_date;
use crate::http::problem::Problem;
use crate::service::intake::{ApplicationView, ApplyRequest, PhotoInput};
use crate::service::operators::QueueReport;

/// A request body as bytes, with the framework's refusal as a problem.
pub(crate) fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, Problem> {
    body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Problem::payload_too_large()
        } else {
            Problem::bad_request(r.body_text())
        }
    })
}

/// A JSON request body.
pub(crate) fn json_body<T: for<'de> Deserialize<'de>>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, Problem> {
    let bytes = body_bytes(body)?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Problem::bad_request(format!("invalid JSON body: {e}")))
}

/// A JSON answer.
pub(crate) fn json_response(status: StatusCode, value: &Value) -> Response {
    json_bytes_response(status, value)
}

thread_local! {
    /// Answers are serialized into this buffer and split off it: one allocation serves
    /// many answers.
    static ANSWER_BUFFER: std::cell::RefCell<bytes::BytesMut> =
        std::cell::RefCell::new(bytes::BytesMut::new());
}

/// A JSON answer serialized once into a reused buffer.
pub(crate) fn json_bytes_response(status: StatusCode, value: &impl Serialize) -> Response {
    use bytes::BufMut;
    let body = ANSWER_BUFFER.with_borrow_mut(|buffer| {
        if buffer.capacity() < 4096 {
            buffer.reserve(64 << 10);
        }
        // Serializing a tree of strings, numbers and maps into memory cannot fail.
        let _ = serde_json::to_writer(buffer.writer(), value);
        buffer.split().freeze()
    });
    let mut response = (status, axum::body::Body::from(body)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A ticket in a path: anything else is an unknown application.
pub(crate) fn parse_ticket(text: &str) -> Result<Ticket, Problem> {
    text.parse().map_err(|()| Problem::not_found("application"))
}

/// A licence number in a path or query.
pub(crate) fn parse_number(text: &str) -> Result<LicenceNumber, Problem> {
    text.parse()
        .map_err(|e| Problem::bad_request(format!("licence number: {e}")))
}

/// `POST /v1/applications` as sent.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApplyBody {
    licence_number: String,
    #[serde(default)]
    channel: Option<Channel>,
    photo_source: PhotoSource,
    /// The uploaded photo (base64, standard or URL-safe), for camera and album.
    #[serde(default)]
    photo: Option<String>,
    /// The holder's device key (an OKP Ed25519 public JWK) to bind the credential to.
    #[serde(default)]
    holder_key: Option<HolderJwk>,
}

/// `POST /v1/applications`: the licence number checked, the photo decoded.
pub(crate) fn apply_request(body: Result<Bytes, BytesRejection>) -> Result<ApplyRequest, Problem> {
    let body: ApplyBody = json_body(body)?;
    let licence = body
        .licence_number
        .parse()
        .map_err(|e| Problem::bad_request(format!("licence_number: {e}")))?;
    let photo = match (body.photo_source, body.photo.as_deref()) {
        (PhotoSource::OnFile, None) => PhotoInput::OnFile,
        (PhotoSource::OnFile, Some(_)) => {
            return Err(Problem::bad_request(
                "photo: not allowed with photo_source on_file",
            ));
        }
        (source, Some(encoded)) => PhotoInput::Upload {
            bytes: decode_base64(encoded)
                .ok_or_else(|| Problem::bad_request("photo: not base64"))?,
            source,
        },
        (_, None) => {
            return Err(Problem::bad_request(
                "photo: required with photo_source camera or album",
            ));
        }
    };
    // Kept in its minimal form (kty, crv, x): the same key always compares equal. An `x`
    // of the right shape that is no point of the curve is a 422: no schema can say it.
    let holder_key = body
        .holder_key
        .map(|jwk| {
            let shaped = URL_SAFE_NO_PAD.decode(&jwk.x).is_ok_and(|x| x.len() == 32);
            jwk.to_public_key().map_err(|e| match e {
                JwkError::BadKey if shaped => Problem::unprocessable(format!("holder_key: {e}")),
                e => Problem::bad_request(format!("holder_key: {e}")),
            })
        })
        .transpose()?
        .map(|key| HolderJwk::from_public_key(&key));
    Ok(ApplyRequest {
        licence,
        channel: body.channel,
        photo,
        holder_key,
    })
}

/// Base64 in any of the usual alphabets, padded or not.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};
    let text = text.trim();
    STANDARD
        .decode(text)
        .or_else(|_| URL_SAFE.decode(text))
        .or_else(|_| URL_SAFE_NO_PAD.decode(text))
        .ok()
}

/// `PATCH /admin/v1/throttle` with `{"drain.rate": 500, "client.mode": "shadow", …}`: the
/// names `edld throttle set` takes; values as JSON numbers, strings, booleans or null
/// (none), typed here without a round trip through text.
pub(crate) fn settings_change(
    body: Result<Bytes, BytesRejection>,
) -> Result<Vec<Setting>, Problem> {
    let changes: Map<String, Value> = json_body(body)?;
    changes
        .iter()
        .map(|(name, value)| {
            let given = match value {
                Value::String(s) => Given::Text(s),
                Value::Null => Given::Nothing,
                Value::Bool(b) => Given::Bool(*b),
                Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
                    (Some(u), _, _) => Given::Integer(i128::from(u)),
                    (None, Some(i), _) => Given::Integer(i128::from(i)),
                    (None, None, Some(f)) => Given::Float(f),
                    _ => return Err(Problem::unprocessable(format!("{name}: not a number"))),
                },
                Value::Array(_) | Value::Object(_) => {
                    return Err(Problem::unprocessable(format!(
                        "{name}: a number, text, true/false or null"
                    )));
                }
            };
            Setting::new(name, given).map_err(|e| Problem::unprocessable(e.to_string()))
        })
        .collect()
}

/// A wait estimate as JSON: `{"kind": "unknown"}` or a range in whole seconds.
pub(crate) fn estimate_json(estimate: WaitEstimate) -> Value {
    match estimate {
        WaitEstimate::Unknown => json!({"kind": "unknown"}),
        WaitEstimate::Range { low, high } => json!({
            "kind": "range",
            "low": low.as_secs(),
            "high": high.as_secs() + u64::from(high.subsec_nanos() > 0),
        }),
    }
}

/// The QR text of a stored credential.
pub(crate) fn qr_text(credential: &CredentialRecord) -> Result<String, Problem> {
    let bytes = URL_SAFE_NO_PAD
        .decode(&credential.token)
        .map_err(|e| Problem::internal(format!("stored token: {e}")))?;
    Ok(keys::qr::encode(&bytes))
}

/// An application as its client sees it.
pub(crate) fn application_json(view: &ApplicationView) -> Value {
    let app = &view.application;
    let ticket = app.ticket;
    let mut body = json!({
        "ticket": ticket.to_string(),
        "licence_number": app.licence.as_str(),
        "channel": app.channel,
        "state": app.state.name(),
        "created_at": app.created_at,
        "updated_at": app.updated_at,
    });
    let Some(map) = body.as_object_mut() else {
        return body;
    };
    if let Some(position) = view.position {
        map.insert("position".into(), json!(position));
    }
    if let Some(estimate) = view.estimate {
        map.insert("wait_seconds".into(), estimate_json(estimate));
    }
    if let ApplicationState::Queued { lane, .. } = &app.state {
        map.insert("lane".into(), json!(lane));
    }
    if let Some(opening) = view.opening_at {
        map.insert("opening_at".into(), json!(opening));
    }
    if let ApplicationState::Rejected { reason } = &app.state {
        map.insert("reason".into(), json!(reason));
    }
    if let Some(c) = &view.credential {
        let base = format!("/v1/applications/{ticket}");
        map.insert("credential".into(), credential_json(c, &base));
    }
    body
}

/// A credential as the app gets it: token, QR text and image links under `base`.
pub(crate) fn credential_json(c: &CredentialRecord, base: &str) -> Value {
    json!({
        "id": c.id,
        "token": c.token,
        "qr_text": qr_text(c).unwrap_or_default(),
        "qr_png": format!("{base}/qr.png"),
        "qr_svg": format!("{base}/qr.svg"),
        "issued_at": c.issued_at,
        "expires_at": c.expires_at,
        "superseded": c.superseded,
    })
}

/// The fields of a licence a role may see, serialized in name order without building a
/// JSON tree.
pub(crate) struct LicenceView<'a> {
    /// The licence.
    pub record: &'a LicenceRecord,
    /// The fields to show.
    pub fields: &'a [LicenceField],
}

impl Serialize for LicenceView<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let r = self.record;
        let mut map = serializer.serialize_map(Some(self.fields.len()))?;
        // Name order: authority, classes, name, number, photo, points, state, validity.
        for field in [
            LicenceField::Authority,
            LicenceField::Classes,
            LicenceField::Name,
            LicenceField::Number,
            LicenceField::Photo,
            LicenceField::Points,
            LicenceField::State,
            LicenceField::Validity,
        ] {
            if !self.fields.contains(&field) {
                continue;
            }
            match field {
                LicenceField::Authority => map.serialize_entry("authority", &r.authority)?,
                LicenceField::Classes => map.serialize_entry("classes", &r.classes)?,
                LicenceField::Name => map.serialize_entry("name", &r.name)?,
                LicenceField::Number => map.serialize_entry("number", &r.number)?,
                LicenceField::Photo => map.serialize_entry("photo", &r.photo)?,
                LicenceField::Points => map.serialize_entry("points", &r.points)?,
                LicenceField::State => map.serialize_entry("state", &r.state)?,
                LicenceField::Validity => map.serialize_entry("validity", &r.validity)?,
            }
        }
        map.end()
    }
}

/// The queue for operators.
pub(crate) fn queue_json(report: &QueueReport) -> Value {
    let lanes: Map<String, Value> = report
        .lanes
        .iter()
        .map(|(lane, depth, rate)| {
            (
                lane.as_str().to_owned(),
                json!({"depth": depth, "drain_rate_per_second": rate}),
            )
        })
        .collect();
    json!({
        "depth": report.depth,
        "waiting_for_opening": report.waiting_for_opening,
        "lanes": lanes,
        "drain_rate_per_second": report.drain_rate,
        "paused": report.paused,
        "signing_held": report.signing_held,
        "in_flight": report.in_flight,
        "issued": report.issued,
        "accepted": report.accepted,
    })
}

/// The throttle settings in force: typed, flat as `throttle set` names them, the queue,
/// and (after a change) what moved.
pub(crate) fn throttle_json(
    settings: &ThrottleSettings,
    queue: &QueueReport,
    moved: Option<&[Moved]>,
) -> Value {
    let flat: Map<String, Value> = settings
        .entries()
        .into_iter()
        .map(|(name, value)| (name.to_owned(), json!(value)))
        .collect();
    let mut body = json!({
        "settings": settings,
        "values": flat,
        "queue": queue_json(queue),
    });
    if let (Some(moved), Some(map)) = (moved, body.as_object_mut()) {
        let changed: Map<String, Value> = moved
            .iter()
            .map(|m| (m.name.to_owned(), json!({"old": m.old, "new": m.new})))
            .collect();
        map.insert("changed".into(), Value::Object(changed));
    }
    body
}

/// An API client.
pub(crate) fn client_json(client: &ApiClient) -> Value {
    let mut body = json!({
        "name": client.name,
        "role": client.role.as_str(),
        "created_at": client.created_at,
    });
    if let (false, Some(map)) = (client.delegates.is_empty(), body.as_object_mut()) {
        map.insert("delegates".into(), json!(client.delegates));
    }
    body
}

/// Bytes that HTTP caches may keep: a strong ETag (304 for `If-None-Match`),
/// `Cache-Control: public, max-age`, and `Last-Modified` when known.
pub(crate) fn cached_bytes(
    request: &HeaderMap,
    etag: &str,
    content_type: &'static str,
    max_age: u64,
    last_modified: Option<UnixTime>,
    bytes: Vec<u8>,
) -> Response {
    let not_modified = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        Body::from(bytes).into_response()
    };
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
        h.insert(header::CACHE_CONTROL, v);
    }
    if let Some(Ok(v)) = last_modified.map(|t| HeaderValue::from_str(&http_date(t))) {
        h.insert(header::LAST_MODIFIED, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_stay_typed() {
        let body = Ok(Bytes::from_static(
            br#"{"drain.rate": 2.5, "drain.burst": 10.0, "paused": true, "opening_at": null}"#,
        ));
        let settings = settings_change(body).unwrap();
        assert!(settings.contains(&Setting::DrainRate(2.5)));
        assert!(settings.contains(&Setting::DrainBurst(10)));
        assert!(settings.contains(&Setting::Paused(true)));
        assert!(settings.contains(&Setting::OpeningAt(None)));
    }
}
