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

mod admin;
mod public;

use axum::http::Method;
use serde_json::{Map, Value, json};

use crate::domain::access::{Endpoint, Role, allowed};
use crate::domain::audit::Purpose;
use crate::domain::throttle::settings::NAMES;

/// What a document needs of a route table: method, path and who may call each route.
pub(crate) type Described = (Method, &'static str, Endpoint);

/// One described operation.
pub(super) struct Operation {
    pub(super) method: &'static str,
    pub(super) path: &'static str,
    pub(super) summary: &'static str,
    pub(super) tag: &'static str,
    /// Request body schema, if any.
    pub(super) body: Option<&'static str>,
    /// Success statuses with content type and schema (an empty content type: no body).
    pub(super) ok: &'static [(u16, &'static str, &'static str)],
    /// Error statuses worth naming (problem+json); 401 and 403 are added to guarded
    /// operations, and every operation has a problem+json `default` response.
    pub(super) errors: &'static [u16],
}

pub(super) const JSON: &str = "application/json";
/// A well-formed licence number (valid check character), for the documents' examples.
const EXAMPLE_LICENCE: &str = "110105198001010016";

/// Every described operation: the public API's, then the admin API's (a document keeps
/// those its listener routes).
fn all_operations() -> impl Iterator<Item = &'static Operation> {
    public::OPERATIONS.iter().chain(admin::OPERATIONS)
}

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
    all_operations()
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
    if o.path == "/admin/v1/history" {
        parameters.push(json!({"name": "seconds", "in": "query", "required": false,
            "schema": {"type": "integer", "minimum": 0, "maximum": u64::MAX},
            "description": "the last this many seconds (default and most 600)"}));
    }
    if o.path == "/v1/licences/{number}/lookups" {
        parameters.push(json!({"name": "before", "in": "query", "required": false,
            "schema": {"type": "integer", "minimum": 1, "maximum": u64::MAX},
            "description": "only lookups numbered before this: the cursor in the previous page's next"}));
        parameters.push(json!({"name": "limit", "in": "query", "required": false,
            "schema": {"type": "integer", "minimum": 1, "maximum": 100},
            "description": "at most this many (default 20)"}));
    }
    if o.path == "/admin/v1/webhooks/dead-letters" {
        parameters.push(
            json!({"name": "subscription", "in": "query", "required": false,
            "schema": {"type": "string"}, "description": "only this subscription's"}),
        );
        parameters.push(json!({"name": "limit", "in": "query", "required": false,
            "schema": {"type": "integer", "minimum": 0, "maximum": u64::MAX},
            "description": "at most this many (default 100); 0 is taken as 1, above 1000 as 1000"}));
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
    for o in all_operations() {
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
                "description": "an API key from `edld clients add`; a TLS client certificate mapped in [[tls.clients]] may stand in for it, and so may the session cookie of the reviewer desk (edl_review) or the operator console (edl_console) from POST …/sessions, with X-CSRF-Token on every change"}},
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
    let photo_finding = json!({"type": "object", "required": ["code", "verdict", "measured", "threshold"], "properties": {
            "code": {"type": "string", "enum": ["unreadable", "too_many_pixels", "too_small", "wrong_aspect", "not_a_photo", "background_not_white", "background_uneven", "too_dark", "too_bright", "clipped", "blurred", "head_too_small"]},
            "verdict": {"type": "string", "enum": ["pass", "borderline", "fail"]},
            "measured": {"type": "number"}, "threshold": {"type": "number"},
            "message": {"type": "object", "properties": {"en": {"type": "string"}, "zh": {"type": "string"}}}}});
    let reviews = json!({"type": "object", "properties": {"reviews": {"type": "array", "items": {"type": "object",
            "required": ["ticket", "licence_number", "created_at", "age_seconds", "photo"], "properties": {
            "ticket": {"type": "string"}, "licence_number": {"type": "string"}, "created_at": timestamp.clone(),
            "age_seconds": {"type": "integer", "description": "seconds since the upload was accepted"},
            "channel": {"type": "string"}, "photo": {"type": "string", "description": "path of the photo"},
            "licence": {"type": "object", "description": "the licence record: number, name, classes, validity, authority, state"},
            "precheck": {"type": "object", "properties": {"outcome": {"type": "string", "enum": ["pass", "review"]},
                "findings": {"type": "array", "items": schema_ref("PhotoFinding")}}}}}}}});
    let problem = json!({"type": "object", "required": ["type", "title", "status"], "properties": {
            "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
            "detail": {"type": "string"}, "retry_after": {"type": "integer", "description": "seconds, as the Retry-After header"},
            "reason": {"type": "string", "description": "for 429/503 refusals: the limit (client, licence, intake, queue, overload)"},
            "clears_at": {"type": "integer", "description": "for a full queue: when its backlog should clear, Unix seconds"},
            "reasons": {"type": "array", "items": schema_ref("PhotoFinding"), "description": "for a photo the pre-checks refuse (type …/problems/photo): each check that did not pass, failed ones first, with the message to show the holder"}}});
    let mut schemas = json!({
        "Problem": problem,
        "Throttle": {"type": "object", "properties": {
            "settings": {"type": "object"},
            "values": {"type": "object", "additionalProperties": {"type": "string"}, "description": "every setting by the name `edld throttle set` takes"},
            "queue": {"$ref": "#/components/schemas/QueueStats"},
            "changed": {"type": "object", "description": "after a change: old and new value by name"}}},
        "ThrottleChange": throttle_change(),
        "Health": {"type": "object", "properties": {
            "status": {"type": "string"},
            "store": {"type": "object", "description": "readyz: the storage engine (`engine`: sled or postgres; for postgres `reachable`, `schema_version` and `replication`: `standbys`, `synchronous`, `lag_seconds`, or null)"}
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
        "Reviews": reviews,
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
        map.insert("PhotoFinding".into(), photo_finding);
        for (name, schema) in admin::schemas() {
            map.insert(name.into(), schema);
        }
        map.insert(
            "Delegates".into(),
            json!({"type": "object", "additionalProperties": false, "required": ["delegates"], "properties": {
                "delegates": {"type": "array", "items": {"type": "string"}}}}),
        );
        map.insert(
            "Lookups".into(),
            json!({"type": "object", "required": ["licence", "lookups", "next"], "properties": {
                "licence": {"type": "string"},
                "lookups": {"type": "array", "description": "newest first", "items": {"type": "object",
                    "required": ["seq", "at", "client", "role", "purpose", "credential"], "properties": {
                    "seq": {"type": "integer", "description": "the lookup's record number in this node's lookup log"},
                    "at": timestamp.clone(), "client": {"type": "string"}, "role": role.clone(),
                    "purpose": {"type": "string", "nullable": true, "description": "as the relying party declared it (officers may declare none)"},
                    "credential": {"type": "string", "nullable": true, "description": "the credential id looked up"}}}},
                "next": {"type": "string", "nullable": true, "description": "the path of the next (older) page, null on the last"}}}),
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
