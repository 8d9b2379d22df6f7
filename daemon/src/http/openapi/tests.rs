//! The OpenAPI documents and the routers describe the same routes, listener by listener.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::http::{Route, admin_routes, public_routes};

type Pairs = BTreeSet<(String, String)>;

fn routes(routes: Vec<Route>) -> Pairs {
    routes
        .into_iter()
        .map(|r| (r.method.as_str().to_lowercase(), r.path.to_owned()))
        .collect()
}

#[track_caller]
fn check(listener: &str, routes: Pairs, document: &Value) {
    let described: Pairs = super::described(document).into_iter().collect();
    let undocumented: Vec<_> = routes.difference(&described).collect();
    let unrouted: Vec<_> = described.difference(&routes).collect();
    assert!(
        undocumented.is_empty(),
        "{listener} routes missing from its openapi.json: {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "{listener} openapi.json describes missing routes: {unrouted:?}"
    );
}

#[test]
fn every_public_route_is_described_in_the_public_document_and_nothing_else() {
    check("public", routes(public_routes()), &super::public_document());
}

#[test]
fn every_admin_route_is_described_in_the_admin_document_and_nothing_else() {
    check("admin", routes(admin_routes()), &super::admin_document());
}

#[test]
fn the_public_document_has_no_admin_route() {
    let public = super::public_document();
    for (_, path) in super::described(&public) {
        assert!(!path.starts_with("/admin/"), "{path}");
    }
}

#[test]
fn every_operation_belongs_to_a_listener() {
    let all: Pairs = routes(public_routes())
        .union(&routes(admin_routes()))
        .cloned()
        .collect();
    for operation in super::operations() {
        assert!(all.contains(&operation), "no route for {operation:?}");
    }
}

#[test]
fn documents_are_openapi_3_and_guarded_operations_need_a_key() {
    for doc in [super::public_document(), super::admin_document()] {
        assert_eq!(doc["openapi"], "3.0.3");
        for (method, path) in super::described(&doc) {
            let op = &doc["paths"][&path][&method];
            assert!(op["responses"]["default"].is_object(), "{method} {path}");
            let guarded = op["security"].as_array().is_some_and(|s| !s.is_empty());
            assert_eq!(
                guarded,
                op["responses"]["401"].is_object(),
                "{method} {path}"
            );
        }
    }
    let public = super::public_document();
    let status = &public["paths"]["/v1/credentials/{id}/status"]["get"];
    assert_eq!(
        status["description"],
        "Roles: window, registry, officer, insurer, rental, employer."
    );
}
