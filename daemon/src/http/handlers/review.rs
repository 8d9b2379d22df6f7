//! Review: the uploads waiting, a photo, approve and reject (reviewer role).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::domain::access::{Caller, LicenceField};
use crate::domain::photo::Outcome;
use crate::http::codec::{LicenceView, application_json, json_body, json_response, parse_ticket};
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
    let now = state.service.clock.now();
    let items: Vec<Value> = apps
        .iter()
        .map(|item| {
            let a = &item.application;
            let mut body = json!({
                "ticket": a.ticket.to_string(),
                "licence_number": a.licence.as_str(),
                "created_at": a.created_at,
                "age_seconds": now.0.saturating_sub(a.created_at.0),
                "channel": a.channel,
                "photo": format!("/v1/applications/{}/photo", a.ticket),
            });
            if let Some(map) = body.as_object_mut() {
                if let Some(record) = &item.licence {
                    map.insert(
                        "licence".into(),
                        json!(LicenceView {
                            record,
                            fields: REVIEWER_FIELDS
                        }),
                    );
                }
                if let Some(outcome) = &item.precheck {
                    map.insert("precheck".into(), precheck_json(outcome));
                }
            }
            body
        })
        .collect();
    Ok(json_response(StatusCode::OK, &json!({ "reviews": items })))
}

/// What a reviewer sees of the licence record: enough to judge the photo against the
/// person and the licence, not the points.
const REVIEWER_FIELDS: &[LicenceField] = &[
    LicenceField::Number,
    LicenceField::Name,
    LicenceField::Classes,
    LicenceField::Validity,
    LicenceField::Authority,
    LicenceField::State,
];

/// The pre-checks' outcome as the desk shows it: the outcome and every finding, the ones
/// that did not pass first.
fn precheck_json(outcome: &Outcome) -> Value {
    let name = match outcome {
        Outcome::Pass(_) => "pass",
        Outcome::Review(_) => "review",
        Outcome::Refuse(_) => "refuse",
    };
    let mut findings: Vec<_> = outcome.findings().to_vec();
    findings.sort_by_key(|f| std::cmp::Reverse(f.verdict));
    json!({ "outcome": name, "findings": findings })
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
