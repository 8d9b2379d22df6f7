//! The admin listener's notification routes: subscriptions, dead letters and replay.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use keys::UnixTime;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::domain::access::Caller;
use crate::domain::notify::{self, Subscription};
use crate::http::codec::{json_body, json_response};
use crate::http::problem::Problem;
use crate::http::state::AppState;
use crate::service::webhooks::NewSubscription;
use crate::store::{Delivery, OutboxFigures};

/// Most dead letters one call lists.
const MAX_DEAD_LETTERS: usize = 1_000;

/// A subscription as the admin API shows it: never its secret.
fn subscription_json(s: &Subscription, figures: Option<&OutboxFigures>) -> Value {
    let mut body = json!({
        "id": s.id,
        "url": s.url,
        "events": s.events.iter().map(|e| e.as_str()).collect::<Vec<_>>(),
        "client": s.client,
        "created_at": s.created_at,
    });
    if let (Some(f), Some(map)) = (figures, body.as_object_mut()) {
        map.insert("written".into(), json!(f.written));
        map.insert("pending".into(), json!(f.pending));
        map.insert("dead".into(), json!(f.dead));
        map.insert("oldest_pending_at".into(), json!(f.oldest_pending));
    }
    body
}

fn dead_letter_json(d: &Delivery) -> Value {
    json!({
        "subscription": d.key.subscription,
        "webhook_id": notify::message_id(d.key.sequence),
        "type": d.event.kind.as_str(),
        "licence": d.event.licence.as_str(),
        "at": d.event.at,
        "attempts": d.attempts,
        "last_error": d.last_error,
    })
}

/// `GET /admin/v1/webhooks`: every subscription with what is written, owed and dead.
pub(crate) async fn list(State(state): State<AppState>) -> Result<Response, Problem> {
    let subscriptions: Vec<Value> = state
        .service
        .subscriptions()
        .await?
        .iter()
        .map(|(s, f)| subscription_json(s, f.as_ref()))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({ "subscriptions": subscriptions }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewBody {
    url: String,
    events: Vec<String>,
    #[serde(default)]
    client: Option<String>,
    secret: String,
}

/// `POST /admin/v1/webhooks` `{"url", "events", "client"?, "secret"}`: 201 with the
/// subscription (its secret is not echoed).
pub(crate) async fn add(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let body: NewBody = json_body(body)?;
    let new = NewSubscription {
        url: body.url,
        events: body.events,
        client: body.client,
        secret: body.secret,
    };
    let subscription = state.service.add_subscription(&caller, new).await?;
    Ok(json_response(
        StatusCode::CREATED,
        &subscription_json(&subscription, None),
    ))
}

/// `DELETE /admin/v1/webhooks/{id}`: the subscription and every delivery owed to it.
pub(crate) async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let removed = state.service.remove_subscription(&caller, &id).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "removed": subscription_json(&removed, None) }),
    ))
}

/// `?subscription=&limit=` of `GET /admin/v1/webhooks/dead-letters`.
#[derive(Deserialize)]
pub(crate) struct DeadQuery {
    subscription: Option<String>,
    limit: Option<usize>,
}

/// `GET /admin/v1/webhooks/dead-letters`: deliveries given up, oldest event first.
pub(crate) async fn dead_letters(
    State(state): State<AppState>,
    query: Result<Query<DeadQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Problem> {
    let Query(query) = query.map_err(|e| Problem::bad_request(e.body_text()))?;
    let limit = query.limit.unwrap_or(100).clamp(1, MAX_DEAD_LETTERS);
    let dead: Vec<Value> = state
        .service
        .dead_letters(query.subscription.as_deref(), limit)
        .await?
        .iter()
        .map(dead_letter_json)
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({ "dead_letters": dead }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplayBody {
    since: u64,
    #[serde(default)]
    subscription: Option<String>,
}

/// `POST /admin/v1/webhooks/replay` `{"since": unix, "subscription"?}`: the dead letters
/// of events since then are delivered again.
pub(crate) async fn replay(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let body: ReplayBody = json_body(body)?;
    let replayed = state
        .service
        .replay(&caller, body.subscription, UnixTime(body.since))
        .await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "replayed": replayed }),
    ))
}
