//! The OpenAPI 3 documents: the public API's at `GET /openapi.json` on the public
//! listener, the admin API's at the same path on the admin listener. Both are written by
//! hand from one table of operations; which listener serves an operation, and whether it
//! needs credentials (and which roles may call it), come from the route tables in `http`
//! and the role-by-endpoint table in `auth`. A test checks that every route of each
//! listener is described in its document and that nothing is described without a route.
//!
//! The schemas say exactly what is well formed: a request they accept is never answered
//! 400, and one they refuse always gets a 4xx (`.ci/schemathesis` checks both with every
//! check schemathesis has). What depends on state, on the caller's role or on several
//! fields together (an unknown licence, a channel that is not the caller's, a photo that
//! is not a JPEG or PNG, a setting's value out of range) is a 422, as docs/HTTP.md says.
//! The one rule beyond JSON Schema, a licence number's check character and birth date,
//! has a custom `format`, `licence-number`.
//!
//! Why written by hand rather than derived from the handlers' types (utoipa and the like):
//! the wire contract is docs/HTTP.md's, not the Rust types'. Answers are built per role
//! (live status shows each role its own fields), request bodies are read by `codec` from
//! JSON with checks serde cannot state (check characters, base64 photos, setting names with
//! typed values), and exactness (patterns, bounds, `additionalProperties: false`, the
//! closed set of setting names) would have to be written out as attributes anyway. Drift is
//! caught instead: the route-table test above, and schemathesis against the running daemon.

use axum::http::Method;
use serde_json::{Map, Value, json};

use crate::domain::access::{Endpoint, Role, allowed};
use crate::domain::audit::Purpose;
use crate::domain::throttle::settings::NAMES;

/// What a document needs of a route table: method, path and who may call each route.
pub(crate) type Described = (Method, &'static str, Endpoint);

/// One described operation.
struct Operation {
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    tag: &'static str,
    /// Request body schema, if any.
    body: Option<&'static str>,
    /// Success statuses with content type and schema (an empty content type: no body).
    ok: &'static [(u16, &'static str, &'static str)],
    /// Error statuses worth naming (problem+json); 401 and 403 are added to guarded
    /// operations, and every operation has a problem+json `default` response.
    errors: &'static [u16],
}

const JSON: &str = "application/json";
/// A well-formed licence number (valid check character), for the documents' examples.
const EXAMPLE_LICENCE: &str = "110105198001010016";

const OPERATIONS: &[Operation] = &[
    Operation {
        method: "get",
        path: "/healthz",
        summary: "Liveness",
        tag: "operations",
        body: None,
        ok: &[(200, JSON, "Health")],
        errors: &[],
    },
    Operation {
        method: "get",
        path: "/readyz",
        summary: "Readiness: store open (database reachable and migrated), trust list and status lists signed",
        tag: "operations",
        body: None,
        ok: &[(200, JSON, "Health")],
        errors: &[503],
    },
    Operation {
        method: "get",
        path: "/metrics",
        summary: "Prometheus metrics",
        tag: "operations",
        body: None,
        ok: &[(200, "application/openmetrics-text", "Text")],
        errors: &[],
    },
    Operation {
        method: "get",
        path: "/openapi.json",
        summary: "This document (the admin listener serves the admin API's)",
        tag: "operations",
        body: None,
        ok: &[(200, JSON, "Any")],
        errors: &[],
    },
    Operation {
        method: "get",
        path: "/admin/v1/queue",
        summary: "Queue depth per lane and drain rate (admin listener)",
        tag: "admin",
        body: None,
        ok: &[(200, JSON, "QueueStats")],
        errors: &[],
    },
    Operation {
        method: "get",
        path: "/admin/v1/throttle",
        summary: "Every throttle setting in force and the queue (admin listener, operator role)",
        tag: "admin",
        body: None,
        ok: &[(200, JSON, "Throttle")],
        errors: &[],
    },
    Operation {
        method: "patch",
        path: "/admin/v1/throttle",
        summary: "Change throttle settings live: audited, durable, in force at once (operator role)",
        tag: "admin",
        body: Some("ThrottleChange"),
        ok: &[(200, JSON, "Throttle")],
        errors: &[400, 422],
    },
    Operation {
        method: "post",
        path: "/admin/v1/throttle/pause",
        summary: "Pause draining (operator role)",
        tag: "admin",
        body: None,
        ok: &[(200, JSON, "Throttle")],
        errors: &[],
    },
    Operation {
        method: "post",
        path: "/admin/v1/throttle/resume",
        summary: "Resume draining (operator role)",
        tag: "admin",
        body: None,
        ok: &[(200, JSON, "Throttle")],
        errors: &[],
    },
    Operation {
        method: "get",
        path: "/admin/v1/clients",
        summary: "Every API client: name, role, when added (never keys)",
        tag: "admin",
        body: None,
        ok: &[(200, JSON, "Clients")],
        errors: &[],
    },
    Operation {
        method: "post",
        path: "/admin/v1/clients",
        summary: "Add an API client: the answer shows its new key, once; only a hash is kept",
        tag: "admin",
        body: Some("NewClient"),
        ok: &[(201, JSON, "AddedClient")],
        errors: &[400, 409, 422],
    },
    Operation {
        method: "delete",
        path: "/admin/v1/clients/{name}",
        summary: "Revoke an API client's key (refused from then on)",
        tag: "admin",
        body: None,
        ok: &[(200, JSON, "Revoked")],
        errors: &[404],
    },
    Operation {
        method: "put",
        path: "/admin/v1/clients/{name}/delegates",
        summary: "Name the clients that may read this client's applications (replaces the list)",
        tag: "admin",
        body: Some("Delegates"),
        ok: &[(200, JSON, "Client")],
        errors: &[400, 404],
    },
    Operation {
        method: "get",
        path: "/admin/v1/audit",
        summary: "Who looked up a licence (client, role, declared purpose, time) and every change made to it",
        tag: "admin",
        body: None,
        ok: &[(200, JSON, "AuditQuery")],
        errors: &[400],
    },
    Operation {
        method: "get",
        path: "/admin/v1/audit/verify",
        summary: "Check both audit hash chains from the first record; the first break, if any",
        tag: "admin",
        body: None,
        ok: &[(200, JSON, "AuditVerify")],
        errors: &[],
    },
    Operation {
        method: "get",
        path: "/v1/trust-list",
        summary: "The signed trust list (COSE_Sign1)",
        tag: "trust",
        body: None,
        ok: &[(200, "application/edl-trust-list+cose", "Binary")],
        errors: &[],
    },
    Operation {
        method: "get",
        path: "/.well-known/jwks.json",
        summary: "The trust list's unrevoked keys as a JWKS",
        tag: "trust",
        body: None,
        ok: &[(200, "application/jwk-set+json", "Any")],
        errors: &[],
    },
    Operation {
        method: "get",
        path: "/v1/status-lists",
        summary: "Every status list URI",
        tag: "trust",
        body: None,
        ok: &[(200, JSON, "StatusLists")],
        errors: &[],
    },
    Operation {
        method: "get",
        path: "/v1/status-lists/{n}",
        summary: "A Status List Token; honours If-None-Match",
        tag: "trust",
        body: None,
        ok: &[(200, "application/statuslist+cwt", "Binary"), (304, "", "")],
        errors: &[404],
    },
    Operation {
        method: "post",
        path: "/v1/applications",
        summary: "Apply for a credential (202 once durable; 200 with the open application if one exists)",
        tag: "applications",
        body: Some("ApplyRequest"),
        ok: &[(202, JSON, "Application"), (200, JSON, "Application")],
        errors: &[400, 413, 422, 429, 503],
    },
    Operation {
        method: "get",
        path: "/v1/applications/{ticket}",
        summary: "State, position and wait estimate; the credential once issued",
        tag: "applications",
        body: None,
        ok: &[(200, JSON, "Application")],
        errors: &[404],
    },
    Operation {
        method: "get",
        path: "/v1/applications/{ticket}/qr.png",
        summary: "The issued credential's QR code as PNG",
        tag: "applications",
        body: None,
        ok: &[(200, "image/png", "Binary")],
        errors: &[404],
    },
    Operation {
        method: "get",
        path: "/v1/applications/{ticket}/qr.svg",
        summary: "The issued credential's QR code as SVG",
        tag: "applications",
        body: None,
        ok: &[(200, "image/svg+xml", "Text")],
        errors: &[404],
    },
    Operation {
        method: "get",
        path: "/v1/licences/{number}/credential",
        summary: "The licence's current credential, whoever applied for it (audited like a lookup)",
        tag: "credentials",
        body: None,
        ok: &[(200, JSON, "Credential")],
        errors: &[400, 404],
    },
    Operation {
        method: "get",
        path: "/v1/licences/{number}/credential/qr.png",
        summary: "The licence's current credential as a QR code (PNG)",
        tag: "credentials",
        body: None,
        ok: &[(200, "image/png", "Binary")],
        errors: &[400, 404],
    },
    Operation {
        method: "get",
        path: "/v1/licences/{number}/credential/qr.svg",
        summary: "The licence's current credential as a QR code (SVG)",
        tag: "credentials",
        body: None,
        ok: &[(200, "image/svg+xml", "Text")],
        errors: &[400, 404],
    },
    Operation {
        method: "get",
        path: "/v1/applications/{ticket}/photo",
        summary: "The uploaded photo (reviewers)",
        tag: "review",
        body: None,
        ok: &[(200, "image/jpeg", "Binary"), (200, "image/png", "Binary")],
        errors: &[404],
    },
    Operation {
        method: "post",
        path: "/v1/applications/{ticket}/approve",
        summary: "Approve the uploaded photo: the application joins the queue",
        tag: "review",
        body: None,
        ok: &[(200, JSON, "Application")],
        errors: &[404, 409],
    },
    Operation {
        method: "post",
        path: "/v1/applications/{ticket}/reject",
        summary: "Reject the uploaded photo with a reason",
        tag: "review",
        body: Some("RejectRequest"),
        ok: &[(200, JSON, "Application")],
        errors: &[400, 404, 409, 422],
    },
    Operation {
        method: "get",
        path: "/v1/reviews",
        summary: "Applications waiting for a photo review",
        tag: "review",
        body: None,
        ok: &[(200, JSON, "Reviews")],
        errors: &[],
    },
    Operation {
        method: "get",
        path: "/v1/credentials/{id}/status",
        summary: "Live status, with the licence fields the caller's role may see; with Accept: application/cwt a signed status receipt (relying parties: officer, insurer, rental, employer; other roles get 406)",
        tag: "credentials",
        body: None,
        ok: &[
            (200, JSON, "LiveStatus"),
            (200, "application/cwt", "Binary"),
        ],
        errors: &[400, 404, 406, 503],
    },
    Operation {
        method: "post",
        path: "/v1/credentials/{id}/refresh",
        summary: "Re-sign with a new expiry (same id and status index)",
        tag: "credentials",
        body: None,
        ok: &[(200, JSON, "Refreshed")],
        errors: &[404, 409],
    },
    Operation {
        method: "get",
        path: "/v1/licences/{number}",
        summary: "A licence record and its credentials",
        tag: "registry",
        body: None,
        ok: &[(200, JSON, "LicenceChange")],
        errors: &[400, 404],
    },
    Operation {
        method: "put",
        path: "/v1/licences/{number}",
        summary: "Create or replace a licence record; a changed class, validity, authority, name or photo supersedes the credential and queues a re-issue",
        tag: "registry",
        body: Some("LicenceInput"),
        ok: &[(200, JSON, "LicenceChange"), (201, JSON, "LicenceChange")],
        errors: &[400, 422],
    },
    Operation {
        method: "post",
        path: "/v1/licences/{number}/state",
        summary: "Suspend, revoke, cancel or reinstate",
        tag: "registry",
        body: Some("StateRequest"),
        ok: &[(200, JSON, "LicenceChange")],
        errors: &[400, 404, 409],
    },
    Operation {
        method: "put",
        path: "/v1/licences/{number}/points",
        summary: "Set the penalty points (0 to 12)",
        tag: "registry",
        body: Some("PointsRequest"),
        ok: &[(200, JSON, "LicenceChange")],
        errors: &[400, 404],
    },
];

/// The public listener's document, for its route table.
pub(crate) fn public_document(routes: &[Described]) -> Value {
    document(
        "edld",
        "Issuance daemon for electronic driving licences: the public API. Clients authenticate with an API key (`Authorization: Bearer`) or, where configured, a TLS client certificate; either carries a role, and each operation names the roles that may call it. Errors are RFC 9457 problem+json.",
        routes,
    )
}

/// The admin listener's document, for its route table.
pub(crate) fn admin_document(routes: &[Described]) -> Value {
    document(
        "edld admin",
        "Issuance daemon for electronic driving licences: the admin API, served only on the loopback admin listener. Operator endpoints need an API key of the operator role. Errors are RFC 9457 problem+json.",
        routes,
    )
}

/// The (method, path) pairs a document describes, lowercase methods.
#[cfg(test)]
pub(crate) fn described(document: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(paths) = document["paths"].as_object() {
        for (path, item) in paths {
            for method in item.as_object().into_iter().flat_map(|m| m.keys()) {
                out.push((method.clone(), path.clone()));
            }
        }
    }
    out
}

/// The (method, path) pairs of the operation table, lowercase methods.
#[cfg(test)]
pub(crate) fn operations() -> Vec<(String, String)> {
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

fn problem_response() -> Value {
    json!({"description": "problem", "content": {"application/problem+json": {"schema": schema_ref("Problem")}}})
}

fn operation(o: &Operation, endpoint: Endpoint) -> Value {
    let mut responses = Map::new();
    for (status, content_type, schema) in o.ok {
        let entry = responses
            .entry(status.to_string())
            .or_insert_with(|| json!({"description": "success"}));
        if content_type.is_empty() {
            continue;
        }
        if let Some(map) = entry.as_object_mut() {
            let content = map.entry("content").or_insert_with(|| json!({}));
            if let Some(content) = content.as_object_mut() {
                content.insert(
                    (*content_type).to_owned(),
                    json!({"schema": schema_ref(schema)}),
                );
            }
        }
    }
    let guarded = endpoint != Endpoint::Open;
    let auth_errors: &[u16] = if guarded { &[401, 403] } else { &[] };
    for status in o.errors.iter().chain(auth_errors) {
        responses.insert(status.to_string(), problem_response());
    }
    responses.insert("default".into(), problem_response());
    let mut parameters: Vec<Value> = o
        .path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| {
            let schema = if name == "number" {
                licence_number()
            } else {
                json!({"type": "string"})
            };
            let mut parameter =
                json!({"name": name, "in": "path", "required": true, "schema": schema});
            if name == "number" {
                parameter["example"] = json!(EXAMPLE_LICENCE);
            }
            parameter
        })
        .collect();
    if o.path == "/v1/credentials/{id}/status" {
        parameters.push(json!({"name": "purpose", "in": "query", "required": false,
            "schema": purpose(false),
            "description": "why the lookup is made; insurers, rental firms and employers must declare one (here or in X-Edl-Purpose). Up to 200 characters, spaces at either end trimmed; no control characters, bidi controls, line separators or U+FFFD; percent-encoded UTF-8"}));
        parameters.push(json!({"name": "X-Edl-Purpose", "in": "header", "required": false,
            "schema": purpose(true),
            "description": "why the lookup is made, in visible ASCII (takes precedence over the purpose parameter, which must be well formed too)"}));
    }
    if o.path == "/v1/status-lists/{n}" {
        parameters.push(json!({"name": "If-None-Match", "in": "header", "required": false, "schema": {"type": "string"}}));
    }
    if o.path == "/admin/v1/audit" {
        parameters.push(json!({"name": "licence", "in": "query", "required": true,
            "schema": licence_number(), "example": EXAMPLE_LICENCE}));
    }
    if o.path == "/v1/reviews" {
        parameters.push(json!({"name": "limit", "in": "query", "required": false,
            "schema": {"type": "integer", "minimum": 0, "maximum": u64::MAX},
            "description": "at most this many (default 100); 0 is taken as 1, above 1000 as 1000"}));
    }
    let description = if guarded {
        let roles: Vec<&str> = Role::ALL
            .into_iter()
            .filter(|r| allowed(*r, endpoint))
            .map(Role::as_str)
            .collect();
        format!("Roles: {}.", roles.join(", "))
    } else {
        "No credentials needed.".to_owned()
    };
    let mut op = json!({
        "summary": o.summary,
        "description": description,
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
            if guarded {
                json!([{"bearer": []}])
            } else {
                json!([])
            },
        );
    }
    op
}

/// A document with the operations of `routes`.
fn document(title: &str, description: &str, routes: &[Described]) -> Value {
    let mut paths = Map::new();
    for o in OPERATIONS {
        let Some((_, _, endpoint)) = routes
            .iter()
            .find(|(m, path, _)| *path == o.path && *m == method(o.method))
        else {
            continue;
        };
        let entry = paths
            .entry(o.path.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(map) = entry.as_object_mut() {
            map.insert(o.method.to_owned(), operation(o, *endpoint));
        }
    }
    json!({
        "openapi": "3.0.3",
        "info": {"title": title, "version": "1", "description": description},
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                "description": "an API key from `edld clients add`; a TLS client certificate mapped in [[tls.clients]] may stand in for it"}},
            "schemas": schemas(),
        }
    })
}

fn method(name: &str) -> Method {
    Method::from_bytes(name.to_ascii_uppercase().as_bytes()).unwrap_or(Method::GET)
}

fn schemas() -> Value {
    let timestamp = json!({"type": "integer", "format": "int64", "description": "Unix seconds"});
    let role = json!({"type": "string", "enum": Role::ALL.map(Role::as_str)});
    let mut schemas = json!({
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
        "ThrottleChange": throttle_change(),
        "Health": {"type": "object", "properties": {
            "status": {"type": "string"},
            "store": {"type": "object", "description": "readyz: the storage engine (`engine`: sled or postgres; for postgres `reachable` and `schema_version`)"}
        }},
        "QueueStats": {"type": "object", "properties": {
            "depth": {"type": "integer"}, "lanes": {"type": "object"},
            "drain_rate_per_second": {"type": "number", "nullable": true},
            "signing_held": {"type": "array", "items": {"type": "string"},
                "description": "why signing is held back now (the trust list does not let a key sign, or names no status list with room); empty when it is not"},
            "issued": {"type": "integer"}, "accepted": {"type": "integer"}}},
        "StatusLists": {"type": "object", "properties": {"status_lists": {"type": "array", "items": {"type": "string"}}}},
        "ApplyRequest": apply_request(),
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
        "LicenceInput": licence_input(),
        "LicenceChange": {"type": "object", "properties": {
            "licence": {"type": "object"}, "credentials": {"type": "array", "items": {"type": "object"}},
            "reissue_ticket": {"type": "string"}}},
        "StateRequest": {"type": "object", "additionalProperties": false, "required": ["action"], "properties": {"action": {"type": "string", "enum": ["suspend", "revoke", "cancel", "reinstate"]}}},
        "Clients": {"type": "object", "required": ["clients"], "properties": {"clients": {"type": "array", "items": {"$ref": "#/components/schemas/Client"}}}},
        "Client": {"type": "object", "required": ["name", "role"], "properties": {
            "name": {"type": "string"}, "role": role.clone(),
            "created_at": {"type": "integer", "format": "int64", "nullable": true, "description": "Unix seconds"},
            "delegates": {"type": "array", "items": {"type": "string"}, "description": "clients that may read this client's applications"}}},
        "NewClient": {"type": "object", "additionalProperties": false, "required": ["name", "role"], "properties": {
            "name": {"type": "string", "pattern": "^[A-Za-z0-9._@-]{1,64}$"}, "role": role}},
        "AddedClient": {"allOf": [{"$ref": "#/components/schemas/Client"}, {"type": "object", "required": ["api_key"],
            "properties": {"api_key": {"type": "string", "description": "shown once"}}}]},
        "Revoked": {"type": "object", "required": ["revoked"], "properties": {"revoked": {"$ref": "#/components/schemas/Client"}}},
        "PointsRequest": {"type": "object", "additionalProperties": false, "required": ["points"], "properties": {"points": {"type": "integer", "minimum": 0, "maximum": 12}}},
        "AuditRecord": audit_record(),
        "AuditQuery": {"type": "object", "required": ["licence", "lookups", "changes", "unreadable"], "properties": {
            "licence": {"type": "string"},
            "lookups": {"type": "array", "items": {"$ref": "#/components/schemas/AuditRecord"}},
            "changes": {"type": "array", "items": {"$ref": "#/components/schemas/AuditRecord"}},
            "unreadable": {"type": "integer", "description": "records that could not be read"}}},
        "AuditVerify": {"type": "object", "required": ["changes", "lookups"], "properties": {
            "changes": {"$ref": "#/components/schemas/AuditChain"}, "lookups": {"$ref": "#/components/schemas/AuditChain"}}},
        "AuditChain": {"type": "object", "required": ["name", "location", "records", "head"], "properties": {
            "name": {"type": "string"}, "location": {"type": "string"},
            "records": {"type": "integer", "description": "records that check, from the first"},
            "head": {"type": "string", "description": "hash of the last record that checks, hex"},
            "broken": {"type": "object", "nullable": true, "required": ["record", "reason"], "properties": {
                "record": {"type": "integer", "description": "the first record that does not check, from 1"},
                "reason": {"type": "string"}}}}},
    });
    // Examples that pass the daemon's checks, so that clients (and property-based test
    // tools) can start from a request that succeeds.
    let examples = [
        (
            "LicenceInput",
            json!({"number": EXAMPLE_LICENCE, "name": "张三", "classes": ["B1", "C1"],
                "valid_from": "2020-01-01", "valid_until": "2036-01-01",
                "authority": "Beijing Traffic Management Bureau",
                "photo": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}),
        ),
        (
            "ApplyRequest",
            json!({"licence_number": EXAMPLE_LICENCE, "photo_source": "on_file"}),
        ),
        ("RejectRequest", json!({"reason": "face not visible"})),
        ("StateRequest", json!({"action": "suspend"})),
        ("PointsRequest", json!({"points": 3})),
        (
            "NewClient",
            json!({"name": "acme-insurance", "role": "insurer"}),
        ),
    ];
    if let Some(map) = schemas.as_object_mut() {
        map.insert(
            "Delegates".into(),
            json!({"type": "object", "additionalProperties": false, "required": ["delegates"], "properties": {
                "delegates": {"type": "array", "items": {"type": "string"}}}}),
        );
        map.insert(
            "Credential".into(),
            json!({"type": "object", "required": ["id", "token", "qr_text"], "properties": {
                "id": {"type": "string"}, "token": {"type": "string", "description": "base64url COSE_Sign1"},
                "qr_text": {"type": "string"}, "qr_png": {"type": "string"}, "qr_svg": {"type": "string"},
                "issued_at": timestamp, "expires_at": timestamp, "superseded": {"type": "boolean"}}}),
        );
    }
    for (name, example) in examples {
        if let Some(schema) = schemas.get_mut(name).and_then(Value::as_object_mut) {
            schema.insert("example".into(), example);
        }
    }
    schemas
}

/// A licence number: 17 digits (a region, a birth date from 1900 to 2099, a sequence)
/// and the ISO 7064 MOD 11-2 check character. The pattern says all but the check
/// character and the calendar, which the custom format names.
fn licence_number() -> Value {
    json!({"type": "string", "format": "licence-number",
        "pattern": "^[0-9]{6}(19|20)[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9X]$",
        "description": "18 characters: 17 digits (region, birth date YYYYMMDD from 1900 to 2099, sequence) and the ISO 7064 MOD 11-2 check character (a digit or X)"})
}

/// A declared purpose, as `audit::Purpose` reads it: at most 200 characters as sent, at
/// least one that is not a space, none that `Purpose::refuses`. In a header, visible
/// ASCII, which HTTP does not let begin or end with a space.
fn purpose(header: bool) -> Value {
    let pattern = if header {
        "^[!-~]([ -~]*[!-~])?$".to_owned()
    } else {
        let refused = refused_class();
        format!("^ *[^ {refused}][^{refused}]*$")
    };
    json!({"type": "string", "maxLength": Purpose::MAX_CHARS, "pattern": pattern})
}

/// The characters `audit::Purpose::refuses`, as the inside of a regular expression class
/// with the `\uXXXX` escapes of ECMA 262 (which JSON Schema patterns use). Derived from
/// `refuses` itself over the Basic Multilingual Plane, so the two cannot drift apart (it
/// refuses nothing beyond).
pub(crate) fn refused_class() -> String {
    let mut class = String::new();
    let mut run: Option<(u32, u32)> = None;
    let refused = (0..=0xFFFF_u32).filter(|&c| char::from_u32(c).is_some_and(Purpose::refuses));
    for c in refused.chain([u32::MAX]) {
        match run {
            Some((low, high)) if high + 1 == c => run = Some((low, c)),
            _ => {
                if let Some((low, high)) = run {
                    class.push_str(&if low == high {
                        format!("\\u{low:04X}")
                    } else {
                        format!("\\u{low:04X}-\\u{high:04X}")
                    });
                }
                run = Some((c, c));
            }
        }
    }
    class
}

/// `PATCH /admin/v1/throttle`: every setting `edld throttle set` takes, by name, and no
/// other (an unknown name is refused). A value is its JSON type or the same as text, as
/// the command line sends it; text that does not parse, a value out of range and all
/// lane weights 0 are 422.
fn throttle_change() -> Value {
    let text = json!({"type": "string", "description": "the value as text, as `edld throttle set` takes it"});
    let mut properties = Map::new();
    for (name, meaning) in NAMES {
        let typed = match *name {
            n if n.ends_with(".mode") => {
                json!({"type": "string", "enum": ["off", "shadow", "enforce"]})
            }
            n if n.ends_with(".rate") => {
                json!({"type": "number", "exclusiveMinimum": true, "minimum": 0, "maximum": 1e9})
            }
            n if n.starts_with("lanes.") => {
                json!({"type": "integer", "minimum": 0, "maximum": u32::MAX})
            }
            "opening_at" => json!({"type": "integer", "minimum": 0, "nullable": true,
                "description": "Unix seconds; null or \"none\": no opening time"}),
            "paused" => json!({"type": "boolean"}),
            _ => json!({"type": "integer", "minimum": 1, "maximum": u32::MAX}),
        };
        // A mode is text already; every other setting may also come as text.
        let mut schema = if name.ends_with(".mode") {
            typed
        } else {
            json!({"anyOf": [typed, text.clone()]})
        };
        schema["description"] = json!(meaning);
        properties.insert((*name).to_owned(), schema);
    }
    json!({"type": "object", "additionalProperties": false, "properties": properties,
        "description": "setting name → new value; see `edld throttle show` for what each means",
        "example": {"drain.rate": 500, "client.mode": "shadow"}})
}

/// `POST /v1/applications`: with the photo on file no photo is sent; from the camera or
/// the album a base64 JPEG or PNG is (standard or URL-safe alphabet). Whether the licence
/// is in the registry, the channel is the caller's and the photo is a JPEG or PNG within
/// the limit is a 422.
fn apply_request() -> Value {
    let branch = |sources: &[&str], photo: Value, required: &[&str]| {
        json!({"type": "object", "additionalProperties": false, "required": required,
            "properties": {
                "licence_number": licence_number(),
                "channel": {"type": "string", "enum": ["app", "window", null], "nullable": true,
                    "description": "the caller's: app for the gateway role, window for the window role"},
                "photo_source": {"type": "string", "enum": sources},
                "photo": photo,
                "holder_key": holder_key()}})
    };
    let on_file = branch(
        &["on_file"],
        json!({"type": "string", "nullable": true, "enum": [null],
            "description": "none: the photo on file is used"}),
        &["licence_number", "photo_source"],
    );
    let upload = branch(
        &["camera", "album"],
        json!({"type": "string", "format": "byte", "description": "base64 JPEG or PNG"}),
        &["licence_number", "photo_source", "photo"],
    );
    json!({"oneOf": [on_file, upload]})
}

/// `holder_key`: the device key's public JWK (RFC 8037). Other members (`kid`, …) are
/// ignored; a private part (`d`) is refused. Whether `x` is a point of the curve is a 422.
fn holder_key() -> Value {
    json!({"type": "object", "nullable": true, "required": ["kty", "crv", "x"],
        "not": {"required": ["d"]},
        "description": "the holder's device key (OKP Ed25519 public JWK): the credential is bound to it (cnf)",
        "properties": {
            "kty": {"type": "string", "enum": ["OKP"]},
            "crv": {"type": "string", "enum": ["Ed25519"]},
            // 32 bytes in base64url without padding: 43 characters, the last carrying two
            // zero bits.
            "x": {"type": "string", "pattern": "^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$"},
            "alg": {"type": "string", "enum": ["EdDSA", "Ed25519"]},
            "use": {"type": "string", "enum": ["sig"]}}})
}

/// `PUT /v1/licences/{number}`: the shape of a registry line (docs/FORMATS.md); what each
/// field holds is checked as `edld registry import` checks it, and refused with 422.
fn licence_input() -> Value {
    // The Unicode White_Space characters, which the server trims around a date.
    let space =
        r"[\t\n\u000B\u000C\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]";
    let date = format!("^{space}*[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}{space}*$");
    let optional_date = format!("^{space}*([0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}})?{space}*$");
    let mut number = licence_number();
    number["nullable"] = json!(true);
    number["description"] = json!("the number in the URL, if given");
    json!({"type": "object", "additionalProperties": false,
        "required": ["name", "classes", "valid_from", "authority"], "properties": {
        "number": number,
        "name": {"type": "string", "description": "1 to 200 characters, no control characters"},
        "classes": {"oneOf": [
            {"type": "string", "description": "codes separated by spaces or commas, e.g. \"C1 D\""},
            {"type": "array", "items": {"type": "string"}, "description": "codes, e.g. [\"C1\", \"D\"]"}]},
        "valid_from": {"type": "string", "pattern": date, "description": "YYYY-MM-DD"},
        "valid_until": {"type": "string", "nullable": true, "pattern": optional_date,
            "description": "YYYY-MM-DD; null or empty: long-term"},
        "authority": {"type": "string", "description": "1 to 200 characters, no control characters"},
        "state": {"type": "string", "nullable": true,
            "enum": ["normal", "suspended", "revoked", "cancelled", "expired", "", null],
            "description": "null or empty: normal"},
        "points": {"type": "integer", "minimum": 0, "maximum": 12, "nullable": true,
            "description": "null: 0"},
        "photo": {"type": "string", "nullable": true,
            "description": "SHA-256 of the photo on file, 64 lowercase hex digits; null or empty: none"}}})
}

/// One audit record as stored (docs/FORMATS.md, "Audit log").
fn audit_record() -> Value {
    let text = json!({"type": "string"});
    let optional = json!({"type": "string", "nullable": true});
    json!({"type": "object", "required": ["seq", "at", "client", "role", "action", "prev"], "properties": {
        "seq": {"type": "integer"}, "at": {"type": "integer", "format": "int64", "description": "Unix seconds"},
        "client": text.clone(), "role": text.clone(), "action": text.clone(),
        "licence": optional.clone(), "purpose": optional.clone(), "detail": optional, "prev": text}})
}
