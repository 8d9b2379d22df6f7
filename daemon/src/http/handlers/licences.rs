//! The registry: reading a licence record with its credentials, and changing it (registry
//! role).

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use keys::licence::{LicenceNumber, Points};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::domain::access::Caller;
use crate::domain::application::Ticket;
use crate::domain::issue::CredentialRecord;
use crate::domain::registry::{LicenceRecord, RegistryLine, StateAction};
use crate::http::codec::{json_body, json_response, parse_number};
use crate::http::problem::Problem;
use crate::http::state::AppState;
use crate::service::checks::MAX_PAGE;

/// `GET /v1/licences/{number}`.
pub(crate) async fn licence(
    State(state): State<AppState>,
    Path(number): Path<String>,
) -> Result<Response, Problem> {
    let number = parse_number(&number)?;
    let record = state
        .service
        .licence(&number)
        .await?
        .ok_or_else(|| Problem::not_found("licence"))?;
    let credentials = state.service.licence_credentials(&number).await?;
    Ok(answer(StatusCode::OK, &record, &credentials, None))
}

/// `PUT /v1/licences/{number}`: creates (201) or replaces (200) a record.
pub(crate) async fn put_licence(
    State(state): State<AppState>,
    caller: Caller,
    Path(number): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let line: RegistryLine = json_body(body)?;
    let record = line
        .into_record(Some(&number))
        .map_err(|e| Problem::unprocessable(e.to_string()))?;
    let changed = state.service.put_licence(&caller, record).await?;
    let status = if changed.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(answer(
        status,
        &changed.record,
        &changed.credentials,
        changed.reissue,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StateBody {
    action: StateAction,
}

/// `POST /v1/licences/{number}/state` with `{"action": "suspend" | …}`.
pub(crate) async fn licence_state(
    State(state): State<AppState>,
    caller: Caller,
    Path(number): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let number: LicenceNumber = parse_number(&number)?;
    let body: StateBody = json_body(body)?;
    let changed = state
        .service
        .change_state(&caller, &number, body.action)
        .await?;
    Ok(answer(
        StatusCode::OK,
        &changed.record,
        &changed.credentials,
        changed.reissue,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PointsBody {
    points: Points,
}

/// `PUT /v1/licences/{number}/points` with `{"points": n}`.
pub(crate) async fn licence_points(
    State(state): State<AppState>,
    caller: Caller,
    Path(number): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let number = parse_number(&number)?;
    let body: PointsBody = json_body(body)?;
    let changed = state
        .service
        .set_points(&caller, &number, body.points)
        .await?;
    Ok(answer(
        StatusCode::OK,
        &changed.record,
        &changed.credentials,
        changed.reissue,
    ))
}

/// A registry answer: the record, the licence's credentials, any re-issue.
fn answer(
    status: StatusCode,
    record: &LicenceRecord,
    credentials: &[CredentialRecord],
    reissue: Option<Ticket>,
) -> Response {
    let credentials: Vec<Value> = credentials
        .iter()
        .map(|c| json!({"id": c.id, "superseded": c.superseded, "expires_at": c.expires_at}))
        .collect();
    let mut body = json!({
        "licence": record,
        "credentials": credentials,
    });
    if let (Some(t), Some(map)) = (reissue, body.as_object_mut()) {
        map.insert("reissue_ticket".into(), json!(t.to_string()));
    }
    json_response(status, &body)
}

/// The query of `GET /v1/licences/{number}/lookups`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LookupsQuery {
    /// Only lookups numbered before this (the `next` cursor of the page before).
    before: Option<u64>,
    /// At most this many (1 to 100, default 20).
    limit: Option<usize>,
}

/// `GET /v1/licences/{number}/lookups`: who looked the licence's credentials up (client,
/// role, purpose, time), newest first, a page at a time.
pub(crate) async fn lookups(
    State(state): State<AppState>,
    caller: Caller,
    Path(number): Path<String>,
    query: Result<Query<LookupsQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    let number = parse_number(&number)?;
    let Query(query) = query.map_err(|e| Problem::bad_request(e.body_text()))?;
    let limit = query.limit.unwrap_or(20);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(Problem::bad_request(format!(
            "limit must be 1 to {MAX_PAGE}"
        )));
    }
    if query.before == Some(0) {
        return Err(Problem::bad_request("before must be at least 1"));
    }
    let page = state
        .service
        .licence_lookups(&caller, &number, query.before, limit)
        .await?;
    let items: Vec<Value> = page
        .records
        .iter()
        .map(|(seq, r)| {
            json!({
                "seq": seq,
                "at": r.at,
                "client": r.client,
                "role": r.role,
                "purpose": r.purpose,
                "credential": r.detail,
            })
        })
        .collect();
    let next = match (page.more, page.records.last()) {
        (true, Some((seq, _))) => Value::String(format!(
            "/v1/licences/{number}/lookups?before={seq}&limit={limit}"
        )),
        _ => Value::Null,
    };
    Ok(json_response(
        StatusCode::OK,
        &json!({ "licence": number.as_str(), "lookups": items, "next": next }),
    ))
}
