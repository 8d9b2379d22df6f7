//! The admin listener's operator routes: the queue, the throttles, API clients and the
//! audit logs.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::domain::access::{Caller, Role};
use crate::domain::throttle::settings::Setting;
use crate::http::codec::{
    client_json, json_body, json_response, parse_number, queue_json, settings_change, throttle_json,
};
use crate::http::problem::Problem;
use crate::http::state::AppState;

/// `GET /admin/v1/queue`.
pub(crate) async fn queue(State(state): State<AppState>) -> Response {
    json_response(StatusCode::OK, &queue_json(&state.service.queue_report()))
}

/// `GET /admin/v1/throttle`: every setting in force, and the queue.
pub(crate) async fn throttle_show(State(state): State<AppState>) -> Response {
    let service = &state.service;
    let body = throttle_json(&service.throttles.settings(), &service.queue_report(), None);
    json_response(StatusCode::OK, &body)
}

/// `PATCH /admin/v1/throttle` with `{"drain.rate": 500, "client.mode": "shadow", …}`.
pub(crate) async fn throttle_set(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let changes = settings_change(body)?;
    change_throttle(&state, &caller, &changes).await
}

/// `POST /admin/v1/throttle/pause`.
pub(crate) async fn throttle_pause(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, Problem> {
    change_throttle(&state, &caller, &[Setting::Paused(true)]).await
}

/// `POST /admin/v1/throttle/resume`.
pub(crate) async fn throttle_resume(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, Problem> {
    change_throttle(&state, &caller, &[Setting::Paused(false)]).await
}

async fn change_throttle(
    state: &AppState,
    caller: &Caller,
    changes: &[Setting],
) -> Result<Response, Problem> {
    let changed = state.service.change_throttle(caller, changes).await?;
    let body = throttle_json(
        &changed.settings,
        &state.service.queue_report(),
        Some(&changed.moved),
    );
    Ok(json_response(StatusCode::OK, &body))
}

/// `GET /admin/v1/clients`.
pub(crate) async fn clients_list(State(state): State<AppState>) -> Response {
    let clients: Vec<Value> = state
        .service
        .clients
        .list()
        .iter()
        .map(client_json)
        .collect();
    json_response(StatusCode::OK, &json!({ "clients": clients }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewClient {
    name: String,
    role: String,
}

/// `POST /admin/v1/clients` `{"name": …, "role": …}`: 201 with the new API key, which is
/// shown this once (only its hash is kept).
pub(crate) async fn clients_add(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let body: NewClient = json_body(body)?;
    let role = Role::from_name(&body.role).ok_or_else(|| {
        Problem::unprocessable(format!(
            "role: one of {}",
            Role::ALL.map(Role::as_str).join(", ")
        ))
    })?;
    let (client, api_key) = state.service.add_client(&caller, &body.name, role).await?;
    let mut reply = client_json(&client);
    if let Some(map) = reply.as_object_mut() {
        map.insert("api_key".into(), json!(api_key));
    }
    let mut response = json_response(StatusCode::CREATED, &reply);
    // The key must not linger in caches between here and the operator.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `DELETE /admin/v1/clients/{name}`.
pub(crate) async fn clients_revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Response, Problem> {
    let client = state.service.revoke_client(&caller, &name).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "revoked": client_json(&client) }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Delegates {
    delegates: Vec<String>,
}

/// `PUT /admin/v1/clients/{name}/delegates` `{"delegates": [names]}`: the clients that may
/// read the applications this client made.
pub(crate) async fn clients_delegates(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let body: Delegates = json_body(body)?;
    let client = state
        .service
        .set_delegates(&caller, &name, body.delegates)
        .await?;
    Ok(json_response(StatusCode::OK, &client_json(&client)))
}

/// `?licence=` of `GET /admin/v1/audit`.
#[derive(Deserialize)]
pub(crate) struct AuditQuery {
    licence: String,
}

/// `GET /admin/v1/audit?licence=N`: who looked up the licence (client, role, purpose,
/// time) and every change made to it, from both audit logs.
pub(crate) async fn audit_query(
    State(state): State<AppState>,
    Query(query): Query<AuditQuery>,
) -> Result<Response, Problem> {
    let number = parse_number(&query.licence)?;
    let service = &state.service;
    let report = crate::service::audit::query(
        service.store.as_ref(),
        service.lookups.path(),
        number.as_str(),
    )
    .await?;
    let body = serde_json::to_value(&report).map_err(Problem::internal)?;
    Ok(json_response(StatusCode::OK, &body))
}

/// `GET /admin/v1/audit/verify`: both hash chains checked from the first record; the
/// first break, if any. Reads both logs whole.
pub(crate) async fn audit_verify(State(state): State<AppState>) -> Result<Response, Problem> {
    let service = &state.service;
    let report =
        crate::service::audit::verify(service.store.as_ref(), service.lookups.path()).await?;
    let body = serde_json::to_value(&report).map_err(Problem::internal)?;
    Ok(json_response(StatusCode::OK, &body))
}
