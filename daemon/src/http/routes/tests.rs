//! The OpenAPI documents and the routers describe the same routes, listener by listener.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{Route, admin, described};
use crate::http::openapi;

fn public_routes() -> Vec<Route> {
    super::public()
}

fn admin_routes() -> Vec<Route> {
    admin()
}

fn public_document() -> Value {
    openapi::public_document(&described(&public_routes()))
}

fn admin_document() -> Value {
    openapi::admin_document(&described(&admin_routes()))
}

type Pairs = BTreeSet<(String, String)>;

fn routes(routes: Vec<Route>) -> Pairs {
    routes
        .into_iter()
        .map(|r| (r.method.as_str().to_lowercase(), r.path.to_owned()))
        .collect()
}

#[track_caller]
fn check(listener: &str, routes: Pairs, document: &Value) {
    let described: Pairs = openapi::described(document).into_iter().collect();
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
    check("public", routes(public_routes()), &public_document());
}

#[test]
fn every_admin_route_is_described_in_the_admin_document_and_nothing_else() {
    check("admin", routes(admin_routes()), &admin_document());
}

#[test]
fn the_public_document_has_no_admin_route() {
    let public = public_document();
    for (_, path) in openapi::described(&public) {
        assert!(!path.starts_with("/admin/"), "{path}");
    }
}

#[test]
fn every_operation_belongs_to_a_listener() {
    let all: Pairs = routes(public_routes())
        .union(&routes(admin_routes()))
        .cloned()
        .collect();
    for operation in openapi::operations() {
        assert!(all.contains(&operation), "no route for {operation:?}");
    }
}

#[test]
fn documents_are_openapi_3_and_guarded_operations_need_a_key() {
    for doc in [public_document(), admin_document()] {
        assert_eq!(doc["openapi"], "3.0.3");
        for (method, path) in openapi::described(&doc) {
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
    let public = public_document();
    let status = &public["paths"]["/v1/credentials/{id}/status"]["get"];
    assert_eq!(
        status["description"],
        "Roles: window, registry, officer, insurer, rental, employer."
    );
}
