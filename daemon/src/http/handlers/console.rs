//! What the operator console reads beyond the throttle API: the last minutes second by
//! second with the recent operator changes from the audit chain, the nodes serving, and the "what if" that
//! replays observed arrivals with proposed settings (operator role, admin listener).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use crate::http::codec::{json_response, settings_change};
use crate::http::problem::Problem;
use crate::http::state::AppState;

/// `?seconds=` of `GET /admin/v1/history`.
#[derive(Deserialize)]
pub(crate) struct HistoryQuery {
    #[serde(default)]
    seconds: Option<usize>,
}

/// Operator changes the trail lists.
const TRAIL: usize = 50;

/// `GET /admin/v1/history`: one point a second, oldest first, and the last operator
/// changes on the audit chain (throttle settings, pause and resume, API clients), newest
/// first.
pub(crate) async fn history(
    State(state): State<AppState>,
    Query(q): Query<HistoryQuery>,
) -> Result<Response, Problem> {
    let history = &state.service.history;
    let points = history.points(q.seconds.unwrap_or(600).clamp(1, 600));
    let changes = state.service.recent_changes(TRAIL).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "lanes": ["window", "reissue", "first"],
            "limits": crate::metrics::tally::LIMITS,
            "points": points,
            "changes": changes,
        }),
    ))
}

/// `POST /admin/v1/throttle/simulate`: the body of `PATCH /admin/v1/throttle`, simulated
/// over the observed arrivals and not applied.
pub(crate) async fn simulate(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let changes = settings_change(body)?;
    let what_if = state.service.what_if(&changes).await?;
    Ok(json_response(StatusCode::OK, &json!(what_if)))
}

/// `GET /admin/v1/nodes`: every node serving this state (on PostgreSQL, every node that
/// beat on the database, live, silent or left), and the cluster's drain target.
pub(crate) async fn nodes(State(state): State<AppState>) -> Response {
    let service = &state.service;
    let (nodes, complete) = service.nodes().await;
    let settings = service.throttles.settings();
    json_response(
        StatusCode::OK,
        &json!({
            "nodes": nodes,
            "complete": complete,
            "drain_rate_target": if settings.paused { 0.0 } else { settings.drain.rate },
        }),
    )
}
