//! The OpenAPI 3 document served at `GET /openapi.json`, written by hand from one table
//! of operations. A test checks that every route of both listeners is described here and
//! that nothing here lacks a route.

use serde_json::{Map, Value, json};

/// One described operation.
struct Operation {
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    tag: &'static str,
    /// Whether it needs `Authorization: Bearer`.
    auth: bool,
    /// Request body schema, if any.
    body: Option<&'static str>,
    /// Success status, content type and schema.
    ok: (u16, &'static str, &'static str),
    /// Error statuses it may answer (problem+json).
    errors: &'static [u16],
}

const JSON: &str = "application/json";

const OPERATIONS: &[Operation] = &[
    Operation {
        method: "get",
        path: "/healthz",
        summary: "Liveness",
        tag: "operations",
        auth: false,
        body: None,
        ok: (200, JSON, "Health"),
        errors: &[],
    },
    Operation {
        method: "get",
        path: "/readyz",
        summary: "Readiness: store open, trust list and status lists signed",
        tag: "operations",
        auth: false,
        body: None,
        ok: (200, JSON, "Health"),
        errors: &[503],
    },
    Operation {
        method: "get",
        path: "/metrics",
        summary: "Prometheus metrics",
        tag: "operations",
        auth: false,
        body: None,
        ok: (200, "application/openmetrics-text", "Text"),
        errors: &[],
    },
    Operation {
        method: "get",
        path: "/openapi.json",
        summary: "This document",
        tag: "operations",
        auth: false,
        body: None,
        ok: (200, JSON, "Any"),
        errors: &[],
    },
    Operation {
        method: "get",
        path: "/admin/v1/queue",
        summary: "Queue depth per lane and drain rate (admin listener)",
        tag: "admin",
        auth: false,
        body: None,
        ok: (200, JSON, "QueueStats"),
        errors: &[],
    },
    Operation {
        method: "get",
        path: "/admin/v1/throttle",
        summary: "Every throttle setting in force and the queue (admin listener, operator role)",
        tag: "admin",
        auth: true,
        body: None,
        ok: (200, JSON, "Throttle"),
        errors: &[401, 403],
    },
    Operation {
        method: "patch",
        path: "/admin/v1/throttle",
        summary: "Change throttle settings live: audited, durable, in force at once (operator role)",
        tag: "admin",
        auth: true,
        body: Some("ThrottleChange"),
        ok: (200, JSON, "Throttle"),
        errors: &[400, 401, 403, 422],
    },
    Operation {
        method: "post",
        path: "/admin/v1/throttle/pause",
        summary: "Pause draining (operator role)",
        tag: "admin",
        auth: true,
        body: None,
        ok: (200, JSON, "Throttle"),
        errors: &[401, 403],
    },
    Operation {
        method: "post",
        path: "/admin/v1/throttle/resume",
        summary: "Resume draining (operator role)",
        tag: "admin",
        auth: true,
        body: None,
        ok: (200, JSON, "Throttle"),
        errors: &[401, 403],
    },
    Operation {
        method: "get",
        path: "/v1/trust-list",
        summary: "The signed trust list (COSE_Sign1)",
        tag: "trust",
        auth: false,
        body: None,
        ok: (200, "application/edl-trust-list+cose", "Binary"),
        errors: &[],
    },
    Operation {
        method: "get",
        path: "/.well-known/jwks.json",
        summary: "The trust list's unrevoked keys as a JWKS",
        tag: "trust",
        auth: false,
        body: None,
        ok: (200, "application/jwk-set+json", "Any"),
        errors: &[],
    },
    Operation {
        method: "get",
        path: "/v1/status-lists",
        summary: "Every status list URI",
        tag: "trust",
        auth: false,
        body: None,
        ok: (200, JSON, "StatusLists"),
        errors: &[],
    },
    Operation {
        method: "get",
        path: "/v1/status-lists/{n}",
        summary: "A Status List Token; honours If-None-Match",
        tag: "trust",
        auth: false,
        body: None,
        ok: (200, "application/statuslist+cwt", "Binary"),
        errors: &[404],
    },
    Operation {
        method: "post",
        path: "/v1/applications",
        summary: "Apply for a credential (202 once durable; 200 with the open application if one exists)",
        tag: "applications",
        auth: true,
        body: Some("ApplyRequest"),
        ok: (202, JSON, "Application"),
        errors: &[400, 401, 403, 413, 422, 429, 503],
    },
    Operation {
        method: "get",
        path: "/v1/applications/{ticket}",
        summary: "State, position and wait estimate; the credential once issued",
        tag: "applications",
        auth: true,
        body: None,
        ok: (200, JSON, "Application"),
        errors: &[401, 403, 404],
    },
    Operation {
        method: "get",
        path: "/v1/applications/{ticket}/qr.png",
        summary: "The issued credential's QR code as PNG",
        tag: "applications",
        auth: true,
        body: None,
        ok: (200, "image/png", "Binary"),
        errors: &[401, 403, 404],
    },
    Operation {
        method: "get",
        path: "/v1/applications/{ticket}/qr.svg",
        summary: "The issued credential's QR code as SVG",
        tag: "applications",
        auth: true,
        body: None,
        ok: (200, "image/svg+xml", "Text"),
        errors: &[401, 403, 404],
    },
    Operation {
        method: "get",
        path: "/v1/applications/{ticket}/photo",
        summary: "The uploaded photo (reviewers)",
        tag: "review",
        auth: true,
        body: None,
        ok: (200, "image/jpeg", "Binary"),
        errors: &[401, 403, 404],
    },
    Operation {
        method: "post",
        path: "/v1/applications/{ticket}/approve",
        summary: "Approve the uploaded photo: the application joins the queue",
        tag: "review",
        auth: true,
        body: None,
        ok: (200, JSON, "Application"),
        errors: &[401, 403, 404, 409],
    },
    Operation {
        method: "post",
        path: "/v1/applications/{ticket}/reject",
        summary: "Reject the uploaded photo with a reason",
        tag: "review",
        auth: true,
        body: Some("RejectRequest"),
        ok: (200, JSON, "Application"),
        errors: &[400, 401, 403, 404, 409, 422],
    },
    Operation {
        method: "get",
        path: "/v1/reviews",
        summary: "Applications waiting for a photo review",
        tag: "review",
        auth: true,
        body: None,
        ok: (200, JSON, "Reviews"),
        errors: &[401, 403],
    },
    Operation {
        method: "get",
        path: "/v1/credentials/{id}/status",
        summary: "Live status, with the licence fields the caller's role may see",
        tag: "credentials",
        auth: true,
        body: None,
        ok: (200, JSON, "LiveStatus"),
        errors: &[401, 403, 404],
    },
    Operation {
        method: "post",
        path: "/v1/credentials/{id}/refresh",
        summary: "Re-sign with a new expiry (same id and status index)",
        tag: "credentials",
        auth: true,
        body: None,
        ok: (200, JSON, "Refreshed"),
        errors: &[401, 403, 404, 409],
    },
    Operation {
        method: "get",
        path: "/v1/licences/{number}",
        summary: "A licence record and its credentials",
        tag: "registry",
        auth: true,
        body: None,
        ok: (200, JSON, "LicenceChange"),
        errors: &[400, 401, 403, 404],
    },
    Operation {
        method: "put",
        path: "/v1/licences/{number}",
        summary: "Create or replace a licence record; a changed class, validity, authority, name or photo supersedes the credential and queues a re-issue",
        tag: "registry",
        auth: true,
        body: Some("LicenceInput"),
        ok: (200, JSON, "LicenceChange"),
        errors: &[400, 401, 403, 422],
    },
    Operation {
        method: "post",
        path: "/v1/licences/{number}/state",
        summary: "Suspend, revoke, cancel or reinstate",
        tag: "registry",
        auth: true,
        body: Some("StateRequest"),
        ok: (200, JSON, "LicenceChange"),
        errors: &[400, 401, 403, 404, 409],
    },
    Operation {
        method: "put",
        path: "/v1/licences/{number}/points",
        summary: "Set the penalty points (0 to 12)",
        tag: "registry",
        auth: true,
        body: Some("PointsRequest"),
        ok: (200, JSON, "LicenceChange"),
        errors: &[400, 401, 403, 404],
    },
];

/// The (method, path) pairs described, lowercase methods.
pub fn described() -> Vec<(String, String)> {
    OPERATIONS
        .iter()
        .map(|o| (o.method.to_owned(), o.path.to_owned()))
        .collect()
}

fn schema_ref(name: &str) -> Value {
    match name {
        "Binary" => json!({"type": "string", "format": "binary"}),
        "Text" => json!({"type": "string"}),
        "Any" => json!({"type": "object"}),
        other => json!({"$ref": format!("#/components/schemas/{other}")}),
    }
}

fn operation(o: &Operation) -> Value {
    let mut responses = Map::new();
    responses.insert(
        o.ok.0.to_string(),
        json!({"description": "success", "content": {o.ok.1: {"schema": schema_ref(o.ok.2)}}}),
    );
    if o.path == "/v1/applications" {
        responses.insert(
            "200".into(),
            json!({"description": "an open application already exists", "content": {JSON: {"schema": schema_ref("Application")}}}),
        );
    }
    if o.path == "/v1/status-lists/{n}" {
        responses.insert("304".into(), json!({"description": "not modified"}));
    }
    for status in o.errors {
        responses.insert(
            status.to_string(),
            json!({"description": "problem", "content": {"application/problem+json": {"schema": schema_ref("Problem")}}}),
        );
    }
    let parameters: Vec<Value> = o
        .path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect();
    let mut op = json!({
        "summary": o.summary,
        "tags": [o.tag],
        "operationId": format!("{}{}", o.method, o.path.replace(['/', '{', '}', '.', '-'], "_")),
        "responses": responses,
    });
    if let Some(map) = op.as_object_mut() {
        if !parameters.is_empty() {
            map.insert("parameters".into(), Value::Array(parameters));
        }
        if let Some(body) = o.body {
            map.insert(
                "requestBody".into(),
                json!({"required": true, "content": {JSON: {"schema": schema_ref(body)}}}),
            );
        }
        map.insert(
            "security".into(),
            if o.auth {
                json!([{"bearer": []}])
            } else {
                json!([])
            },
        );
    }
    op
}

/// The document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for o in OPERATIONS {
        let entry = paths
            .entry(o.path.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(map) = entry.as_object_mut() {
            map.insert(o.method.to_owned(), operation(o));
        }
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "edld",
            "version": "1",
            "description": "Issuance daemon for electronic driving licences. Errors are RFC 9457 problem+json."
        },
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas(),
        }
    })
}

fn schemas() -> Value {
    let timestamp = json!({"type": "integer", "format": "int64", "description": "Unix seconds"});
    json!({
        "Problem": {"type": "object", "required": ["type", "title", "status"], "properties": {
            "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
            "detail": {"type": "string"}, "retry_after": {"type": "integer", "description": "seconds, as the Retry-After header"},
            "reason": {"type": "string", "description": "for 429/503 refusals: the limit (client, licence, intake, queue, overload)"},
            "clears_at": {"type": "integer", "description": "for a full queue: when its backlog should clear, Unix seconds"}}},
        "Throttle": {"type": "object", "properties": {
            "settings": {"type": "object"},
            "values": {"type": "object", "additionalProperties": {"type": "string"}, "description": "every setting by the name `edld throttle set` takes"},
            "queue": {"$ref": "#/components/schemas/QueueStats"},
            "changed": {"type": "object", "description": "after a change: old and new value by name"}}},
        "ThrottleChange": {"type": "object", "description": "setting name → new value (string, number, boolean, or null for none)",
            "additionalProperties": {"nullable": true}},
        "Health": {"type": "object", "properties": {"status": {"type": "string"}}},
        "QueueStats": {"type": "object", "properties": {
            "depth": {"type": "integer"}, "lanes": {"type": "object"},
            "drain_rate_per_second": {"type": "number", "nullable": true},
            "issued": {"type": "integer"}, "accepted": {"type": "integer"}}},
        "StatusLists": {"type": "object", "properties": {"status_lists": {"type": "array", "items": {"type": "string"}}}},
        "ApplyRequest": {"type": "object", "additionalProperties": false, "required": ["licence_number", "photo_source"], "properties": {
            "licence_number": {"type": "string", "minLength": 18, "maxLength": 18},
            "channel": {"type": "string", "enum": ["app", "window"]},
            "photo_source": {"type": "string", "enum": ["on_file", "camera", "album"]},
            "photo": {"type": "string", "description": "base64 JPEG or PNG, for camera and album"}}},
        "Application": {"type": "object", "required": ["ticket", "state"], "properties": {
            "ticket": {"type": "string"}, "licence_number": {"type": "string"},
            "channel": {"type": "string", "enum": ["app", "window", "registry"]},
            "state": {"type": "string", "enum": ["reviewing", "queued", "issued", "rejected"]},
            "position": {"type": "integer", "description": "1 = next in its lane; never grows"},
            "lane": {"type": "string", "enum": ["window", "reissue", "first"]},
            "opening_at": {"type": "integer", "description": "accepted before the opening: put in random order then"},
            "wait_seconds": {"type": "object", "properties": {"kind": {"type": "string", "enum": ["unknown", "range"]}, "low": {"type": "integer"}, "high": {"type": "integer"}}},
            "reason": {"type": "string"},
            "created_at": timestamp, "updated_at": timestamp,
            "credential": {"type": "object", "properties": {
                "id": {"type": "string"}, "token": {"type": "string", "description": "base64url COSE_Sign1"},
                "qr_text": {"type": "string"}, "qr_png": {"type": "string"}, "qr_svg": {"type": "string"},
                "issued_at": timestamp, "expires_at": timestamp, "superseded": {"type": "boolean"}}}}},
        "RejectRequest": {"type": "object", "additionalProperties": false, "required": ["reason"], "properties": {"reason": {"type": "string", "minLength": 1, "maxLength": 500}}},
        "Reviews": {"type": "object", "properties": {"reviews": {"type": "array", "items": {"type": "object"}}}},
        "LiveStatus": {"type": "object", "required": ["credential_id", "status", "checked_at", "licence"], "properties": {
            "credential_id": {"type": "string"},
            "status": {"type": "string", "enum": ["valid", "suspended", "revoked", "superseded", "expired"]},
            "checked_at": timestamp,
            "licence": {"type": "object", "description": "the fields the caller's role may see"}}},
        "Refreshed": {"type": "object", "properties": {
            "id": {"type": "string"}, "token": {"type": "string"}, "qr_text": {"type": "string"},
            "issued_at": timestamp, "expires_at": timestamp}},
        "LicenceInput": {"type": "object", "additionalProperties": false, "required": ["name", "classes", "valid_from", "authority"], "properties": {
            "number": {"type": "string"}, "name": {"type": "string"},
            "classes": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
            "valid_from": {"type": "string", "format": "date"}, "valid_until": {"type": "string", "format": "date", "nullable": true},
            "authority": {"type": "string"},
            "state": {"type": "string", "enum": ["normal", "suspended", "revoked", "cancelled", "expired"]},
            "points": {"type": "integer", "minimum": 0, "maximum": 12},
            "photo": {"type": "string", "description": "SHA-256 of the photo on file, hex", "nullable": true}}},
        "LicenceChange": {"type": "object", "properties": {
            "licence": {"type": "object"}, "credentials": {"type": "array", "items": {"type": "object"}},
            "reissue_ticket": {"type": "string"}}},
        "StateRequest": {"type": "object", "additionalProperties": false, "required": ["action"], "properties": {"action": {"type": "string", "enum": ["suspend", "revoke", "cancel", "reinstate"]}}},
        "PointsRequest": {"type": "object", "additionalProperties": false, "required": ["points"], "properties": {"points": {"type": "integer", "minimum": 0, "maximum": 12}}},
    })
}

#[cfg(test)]
mod tests;
