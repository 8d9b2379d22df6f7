//! The admin listener's operations: queue, throttles, API clients, audit, and the
//! operator console's sessions, history and simulation.

use serde_json::{Value, json};

use super::{JSON, Operation};

/// The admin listener's operations, in the order the document lists them.
pub(super) const OPERATIONS: &[Operation] = &[
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
        method: "post",
        path: "/admin/v1/throttle/simulate",
        summary: "What if: replays the observed arrivals through the throttle simulator with the settings in force and with these changes, without applying them (operator role)",
        tag: "admin",
        body: Some("ThrottleChange"),
        ok: &[(200, JSON, "WhatIf")],
        errors: &[400, 422],
    },
    Operation {
        method: "get",
        path: "/admin/v1/history",
        summary: "The last minutes second by second (arrivals, admitted, refused by limit, depth and oldest age per lane, drain target and achieved, quoted and actual wait, live-status and commit latency) and the recent throttle changes (operator role)",
        tag: "admin",
        body: None,
        ok: &[(200, JSON, "History")],
        errors: &[400],
    },
    Operation {
        method: "get",
        path: "/admin/v1/nodes",
        summary: "Every node serving this state, with its queue and drain (operator role)",
        tag: "admin",
        body: None,
        ok: &[(200, JSON, "Nodes")],
        errors: &[],
    },
    Operation {
        method: "post",
        path: "/admin/v1/sessions",
        summary: "Operator console sign-in: an API key of the operator role for a session cookie (HttpOnly, SameSite=Strict) and a CSRF token",
        tag: "pages",
        body: Some("SignIn"),
        ok: &[(201, JSON, "Session")],
        errors: &[400, 422, 503],
    },
    Operation {
        method: "get",
        path: "/admin/v1/sessions/current",
        summary: "The signed-in session and its CSRF token (session cookie)",
        tag: "pages",
        body: None,
        ok: &[(200, JSON, "Session")],
        errors: &[],
    },
    Operation {
        method: "delete",
        path: "/admin/v1/sessions/current",
        summary: "Sign out: ends the session and clears the cookie (needs X-CSRF-Token)",
        tag: "pages",
        body: None,
        ok: &[(200, JSON, "Any")],
        errors: &[],
    },
    Operation {
        method: "get",
        path: "/console/",
        summary: "The operator console (HTML; sign in with an operator API key)",
        tag: "pages",
        body: None,
        ok: &[(200, "text/html", "Text")],
        errors: &[],
    },
    Operation {
        method: "get",
        path: "/console/{asset}",
        summary: "The operator console's scripts, styles and chart library",
        tag: "pages",
        body: None,
        ok: &[
            (200, "text/javascript", "Text"),
            (200, "text/css", "Text"),
            (200, "image/svg+xml", "Text"),
        ],
        errors: &[404],
    },
];

/// The schemas of the pages' sessions and the console's reads.
pub(super) fn schemas() -> [(&'static str, Value); 5] {
    let number = json!({"type": "number"});
    let series = |item: Value| json!({"type": "array", "items": item});
    let maybe = json!({"type": "number", "nullable": true});
    let run = json!({"type": "object", "properties": {
        "t": series(json!({"type": "integer"})), "admitted": series(json!({"type": "integer"})),
        "refused": series(json!({"type": "integer"})), "issued": series(json!({"type": "integer"})),
        "depth": series(json!({"type": "integer"})), "quoted_wait": series(maybe.clone()),
        "actual_wait": series(maybe.clone()), "peak_depth": {"type": "integer"},
        "refused_total": {"type": "integer"}}});
    let point = json!({"type": "object", "properties": {
        "at": {"type": "integer"}, "arrivals": number, "admitted": number,
        "refused": series(number.clone()), "depth": series(json!({"type": "integer"})),
        "oldest_age": series(json!({"type": "integer"})), "drain_target": number,
        "drain_achieved": number, "wait_quoted": maybe, "wait_actual": maybe,
        "live_status_ms": maybe, "commit_ms": maybe, "audit_commit_ms": maybe}});
    [
        (
            "SignIn",
            json!({"type": "object", "required": ["api_key"], "additionalProperties": false,
            "properties": {"api_key": {"type": "string"}}}),
        ),
        (
            "Session",
            json!({"type": "object", "required": ["signed_in"],
            "properties": {"signed_in": {"type": "boolean"}, "client": {"type": "string"}, "role": {"type": "string"},
            "csrf_token": {"type": "string", "description": "send as X-CSRF-Token with every change made with the cookie"},
            "expires_at": {"type": "integer", "description": "Unix seconds"}}}),
        ),
        (
            "History",
            json!({"type": "object", "properties": {
            "lanes": series(json!({"type": "string"})), "limits": series(json!({"type": "string"})),
            "points": series(point),
            "changes": series(json!({"type": "object", "properties": {"seq": {"type": "integer"},
                "at": {"type": "integer"}, "client": {"type": "string"}, "action": {"type": "string"},
                "moved": {"type": "array"}, "detail": {"type": "string", "nullable": true}}}))}}),
        ),
        (
            "WhatIf",
            json!({"type": "object", "properties": {"observed_seconds": {"type": "integer"},
            "arrivals": {"type": "integer"}, "current": run.clone(), "proposed": run}}),
        ),
        (
            "Nodes",
            json!({"type": "object", "required": ["nodes", "complete", "drain_rate_target"],
            "properties": {"complete": {"type": "boolean"}, "drain_rate_target": number,
            "nodes": series(json!({"type": "object", "required": ["name", "this", "state"],
            "properties": {"name": {"type": "string"}, "this": {"type": "boolean"},
            "state": {"type": "string", "enum": ["live", "silent", "left"]},
            "silent_for": maybe.clone(),
            "version": {"type": "string"}, "started_at": {"type": "integer"},
            "store": {"type": "string"}, "healthy": {"type": "boolean"},
            "queue_depth": {"type": "integer"}, "in_flight": {"type": "integer"},
            "drain_rate_target": number, "drain_rate_measured": maybe,
            "paused": {"type": "boolean"}, "signing_held": series(json!({"type": "string"}))}}))}}),
        ),
    ]
}
