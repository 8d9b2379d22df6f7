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

/// `GET /admin/v1/nodes`: every node serving this state. This node only, for now: nodes
/// sharing a PostgreSQL database are to report themselves here through the store.
pub(crate) async fn nodes(State(state): State<AppState>) -> Response {
    let service = &state.service;
    let queue = service.queue_report();
    let settings = service.throttles.settings();
    json_response(
        StatusCode::OK,
        &json!({"nodes": [{
            "name": "local",
            "this": true,
            "version": env!("CARGO_PKG_VERSION"),
            "started_at": service.started_at,
            "store": service.store.readiness()["engine"].clone(),
            "healthy": service.store.healthy(),
            "queue_depth": queue.depth,
            "in_flight": queue.in_flight,
            "drain_rate_target": if settings.paused { 0.0 } else { settings.drain.rate },
            "drain_rate_measured": queue.drain_rate,
            "paused": settings.paused,
            "signing_held": queue.signing_held,
        }]}),
    )
}
