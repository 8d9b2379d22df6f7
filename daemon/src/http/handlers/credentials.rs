//! Credentials: live status (audited for relying parties, fields by role), refresh, and a
//! licence's current credential for the app.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::json;

use crate::domain::access::{Caller, LicenceField, licence_fields};
use crate::domain::audit::Purpose;
use crate::http::accept::{CWT, StatusMedia, status_media};
use crate::http::codec::{
    LicenceView, credential_json, json_bytes_response, json_response, parse_number, qr_text,
};
use crate::http::handlers::applications::{png, svg};
use crate::http::problem::Problem;
use crate::http::state::AppState;
use crate::service::lookup::StatusView;

/// `?purpose=` on a live status lookup.
#[derive(Deserialize)]
pub(crate) struct LookupQuery {
    #[serde(default)]
    purpose: Option<String>,
}

/// `GET /v1/credentials/{id}/status`: JSON, or with `Accept: application/cwt` a signed
/// receipt (relying parties only).
pub(crate) async fn live_status(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(query): Query<LookupQuery>,
) -> Result<Response, Problem> {
    let purpose = lookup_purpose(&headers, query.purpose)?;
    match status_media(&headers) {
        StatusMedia::Json => json_status(&state, &caller, &id, purpose.as_ref()).await,
        StatusMedia::Receipt => {
            let receipt = state
                .service
                .status_receipt(&caller, &id, purpose.as_ref())
                .await?;
            Ok(([(header::CONTENT_TYPE, CWT)], receipt).into_response())
        }
        StatusMedia::Neither => Err(Problem::not_acceptable(
            "live status is application/json or a signed receipt, application/cwt",
        )),
    }
}

/// Live status as JSON, for a caller allowed to look it up (`http::live` answers most
/// lookups through this without the router).
pub(crate) async fn json_status(
    state: &AppState,
    caller: &Caller,
    id: &str,
    purpose: Option<&Purpose>,
) -> Result<Response, Problem> {
    let view = state.service.live_status(caller, id, purpose).await?;
    let answer = StatusAnswer {
        view: &view,
        fields: licence_fields(caller.role),
    };
    Ok(json_bytes_response(StatusCode::OK, &answer))
}

/// The live-status answer, serialized straight from the view (members in name order, as
/// every JSON answer has them), without a JSON tree in between.
struct StatusAnswer<'a> {
    view: &'a StatusView,
    fields: &'static [LicenceField],
}

impl Serialize for StatusAnswer<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(4))?;
        map.serialize_entry("checked_at", &self.view.checked_at)?;
        map.serialize_entry("credential_id", &self.view.credential.id)?;
        map.serialize_entry(
            "licence",
            &LicenceView {
                record: &self.view.licence,
                fields: self.fields,
            },
        )?;
        map.serialize_entry("status", self.view.status.as_str())?;
        map.end()
    }
}

/// The purpose a lookup declares: the `X-Edl-Purpose` header, else the `purpose` query
/// parameter (the header is for programs, the parameter for people with a browser). What
/// `audit::Purpose` refuses is a 400 wherever it is, even in a parameter the header
/// overrides; so are a header that is not visible ASCII and more than one header. axum's
/// `Query` decodes percent-escapes that are not UTF-8 into U+FFFD, which `Purpose`
/// refuses: invalid encodings never reach the audit log.
pub(crate) fn lookup_purpose(
    headers: &HeaderMap,
    query: Option<String>,
) -> Result<Option<Purpose>, Problem> {
    let parse = |text: &str| {
        text.parse::<Purpose>()
            .map_err(|e| Problem::bad_request(e.to_string()))
    };
    let from_query = query.as_deref().map(parse).transpose()?;
    let mut values = headers.get_all("x-edl-purpose").iter();
    match (values.next(), values.next()) {
        (Some(_), Some(_)) => Err(Problem::bad_request(
            "X-Edl-Purpose: one header, not several",
        )),
        (Some(value), None) => value
            .to_str()
            .map_err(|_| Problem::bad_request("X-Edl-Purpose: not visible ASCII"))
            .and_then(parse)
            .map(Some),
        (None, _) => Ok(from_query),
    }
}

/// `POST /v1/credentials/{id}/refresh`.
pub(crate) async fn refresh(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let record = state.service.refresh(&caller, &id).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "id": record.id,
            "token": record.token,
            "qr_text": qr_text(&record)?,
            "issued_at": record.issued_at,
            "expires_at": record.expires_at,
        }),
    ))
}

/// `GET /v1/licences/{number}/credential`: the licence's current credential, whoever
/// applied for it.
pub(crate) async fn current(
    State(state): State<AppState>,
    caller: Caller,
    Path(number): Path<String>,
) -> Result<Response, Problem> {
    let number = parse_number(&number)?;
    let credential = state.service.current_credential(&caller, &number).await?;
    let base = format!("/v1/licences/{number}/credential");
    Ok(json_response(
        StatusCode::OK,
        &credential_json(&credential, &base),
    ))
}

/// `GET /v1/licences/{number}/credential/qr.png`.
pub(crate) async fn current_qr_png(
    State(state): State<AppState>,
    caller: Caller,
    Path(number): Path<String>,
) -> Result<Response, Problem> {
    let number = parse_number(&number)?;
    let credential = state.service.current_credential(&caller, &number).await?;
    png(&qr_text(&credential)?)
}

/// `GET /v1/licences/{number}/credential/qr.svg`.
pub(crate) async fn current_qr_svg(
    State(state): State<AppState>,
    caller: Caller,
    Path(number): Path<String>,
) -> Result<Response, Problem> {
    let number = parse_number(&number)?;
    let credential = state.service.current_credential(&caller, &number).await?;
    svg(&qr_text(&credential)?)
}
