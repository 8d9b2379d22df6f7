//! Review: the uploads waiting, a photo, approve and reject (reviewer role).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::domain::access::Caller;
use crate::http::codec::{application_json, json_body, json_response, parse_ticket};
use crate::http::problem::Problem;
use crate::http::state::AppState;

/// `?limit=` of `GET /v1/reviews`.
#[derive(Deserialize)]
pub(crate) struct ReviewQuery {
    #[serde(default)]
    limit: Option<usize>,
}

/// `GET /v1/reviews`: waiting uploads, oldest first.
pub(crate) async fn reviews(
    State(state): State<AppState>,
    Query(q): Query<ReviewQuery>,
) -> Result<Response, Problem> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let apps = state.service.reviews(limit).await?;
    let items: Vec<Value> = apps
        .iter()
        .map(|a| {
            json!({
                "ticket": a.ticket.to_string(),
                "licence_number": a.licence.as_str(),
                "created_at": a.created_at,
                "photo": format!("/v1/applications/{}/photo", a.ticket),
            })
        })
        .collect();
    Ok(json_response(StatusCode::OK, &json!({ "reviews": items })))
}

/// `GET /v1/applications/{ticket}/photo`.
pub(crate) async fn photo(
    State(state): State<AppState>,
    Path(ticket): Path<String>,
) -> Result<Response, Problem> {
    let (bytes, format) = state.service.photo(parse_ticket(&ticket)?).await?;
    Ok(([(header::CONTENT_TYPE, format.media_type())], bytes).into_response())
}

/// `POST /v1/applications/{ticket}/approve`.
pub(crate) async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    Path(ticket): Path<String>,
) -> Result<Response, Problem> {
    let view = state
        .service
        .review(&caller, parse_ticket(&ticket)?, None)
        .await?;
    Ok(json_response(StatusCode::OK, &application_json(&view)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RejectBody {
    reason: String,
}

/// `POST /v1/applications/{ticket}/reject` with `{"reason": …}`.
pub(crate) async fn reject(
    State(state): State<AppState>,
    caller: Caller,
    Path(ticket): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let body: RejectBody = json_body(body)?;
    let reason = body.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(Problem::unprocessable("reason: 1 to 500 characters"));
    }
    let view = state
        .service
        .review(&caller, parse_ticket(&ticket)?, Some(reason.to_owned()))
        .await?;
    Ok(json_response(StatusCode::OK, &application_json(&view)))
}
