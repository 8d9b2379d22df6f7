//! Applications: `POST /v1/applications` (202 once durable, with its ticket, position and
//! wait estimate; 429 or 503 when admission refuses), and reading one back with its QR
//! images, for the client that made it.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::domain::access::Caller;
use crate::domain::throttle::estimate::WaitEstimate;
use crate::http::codec::{application_json, apply_request, json_response, parse_ticket, qr_text};
use crate::http::problem::Problem;
use crate::http::render;
use crate::http::state::AppState;
use crate::service::intake::ApplicationView;

/// `POST /v1/applications`.
pub(crate) async fn apply(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let request = apply_request(body)?;
    let view = state.service.apply(&caller, request).await?;
    let ticket = view.application.ticket;
    let status = if view.existing {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    let mut response = json_response(status, &application_json(&view));
    if let Ok(v) = HeaderValue::from_str(&format!("/v1/applications/{ticket}")) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(poll_hint(&view)));
    Ok(response)
}

/// `GET /v1/applications/{ticket}`.
pub(crate) async fn application(
    State(state): State<AppState>,
    caller: Caller,
    Path(ticket): Path<String>,
) -> Result<Response, Problem> {
    let view = state.service.view(&caller, parse_ticket(&ticket)?).await?;
    let mut response = json_response(StatusCode::OK, &application_json(&view));
    if view.application.state.is_open() {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(poll_hint(&view)));
    }
    Ok(response)
}

/// `GET /v1/applications/{ticket}/qr.png`.
pub(crate) async fn qr_png(
    State(state): State<AppState>,
    caller: Caller,
    Path(ticket): Path<String>,
) -> Result<Response, Problem> {
    let credential = state
        .service
        .issued(&caller, parse_ticket(&ticket)?)
        .await?;
    png(&qr_text(&credential)?)
}

/// `GET /v1/applications/{ticket}/qr.svg`.
pub(crate) async fn qr_svg(
    State(state): State<AppState>,
    caller: Caller,
    Path(ticket): Path<String>,
) -> Result<Response, Problem> {
    let credential = state
        .service
        .issued(&caller, parse_ticket(&ticket)?)
        .await?;
    svg(&qr_text(&credential)?)
}

/// A QR code as PNG.
pub(crate) fn png(text: &str) -> Result<Response, Problem> {
    let png = render::png(text).map_err(Problem::internal)?;
    Ok(([(header::CONTENT_TYPE, "image/png")], png).into_response())
}

/// A QR code as SVG.
pub(crate) fn svg(text: &str) -> Result<Response, Problem> {
    let svg = render::svg(text).map_err(Problem::internal)?;
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}

/// Seconds until polling is worthwhile: a quarter of the expected wait (the estimate the
/// view already holds), jittered so that clients accepted together do not poll together.
fn poll_hint(view: &ApplicationView) -> u64 {
    use rand_core::RngCore;
    let expected = view.estimate.and_then(WaitEstimate::midpoint);
    let jitter = f64::from(rand_core::OsRng.next_u32()) / f64::from(u32::MAX);
    crate::domain::throttle::lanes::poll_after(expected, jitter)
}
