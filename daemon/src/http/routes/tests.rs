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

#[test]
fn throttle_change_names_every_setting_and_nothing_else() {
    let admin = admin_document();
    let change = &admin["components"]["schemas"]["ThrottleChange"];
    assert_eq!(change["additionalProperties"], false);
    let described: BTreeSet<&str> = change["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let names: BTreeSet<&str> = crate::domain::throttle::settings::NAMES
        .iter()
        .map(|(n, _)| *n)
        .collect();
    assert_eq!(described, names);
    assert_eq!(
        change["properties"]["client.mode"]["enum"],
        serde_json::json!(["off", "shadow", "enforce"])
    );
    assert_eq!(
        change["properties"]["drain.rate"]["anyOf"][0]["type"],
        "number"
    );
    assert_eq!(
        change["properties"]["lanes.first"]["anyOf"][0]["minimum"],
        0
    );
    assert_eq!(
        change["properties"]["paused"]["anyOf"][0]["type"],
        "boolean"
    );
}

#[test]
fn every_licence_number_has_its_pattern_and_format() {
    let public = public_document();
    let admin = admin_document();
    let mut schemas = vec![
        &admin["paths"]["/admin/v1/audit"]["get"]["parameters"][0]["schema"],
        &public["components"]["schemas"]["ApplyRequest"]["oneOf"][0]["properties"]["licence_number"],
        &public["components"]["schemas"]["ApplyRequest"]["oneOf"][1]["properties"]["licence_number"],
        &public["components"]["schemas"]["LicenceInput"]["properties"]["number"],
    ];
    for (method, path) in openapi::described(&public) {
        if path.contains("{number}") {
            let parameters = public["paths"][&path][&method]["parameters"]
                .as_array()
                .unwrap();
            let number = parameters.iter().find(|p| p["name"] == "number").unwrap();
            schemas.push(&number["schema"]);
        }
    }
    assert!(schemas.len() > 6);
    for schema in schemas {
        assert_eq!(schema["format"], "licence-number", "{schema}");
        assert_eq!(
            schema["pattern"],
            "^[0-9]{6}(19|20)[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9X]$"
        );
    }
}

#[test]
fn the_purpose_pattern_refuses_what_purpose_refuses() {
    assert_eq!(
        openapi::refused_class(),
        r"\u0000-\u001F\u007F-\u009F\u061C\u200E-\u200F\u2028-\u202E\u2066-\u2069\uFFFD"
    );
    let public = public_document();
    let parameters = public["paths"]["/v1/credentials/{id}/status"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let schema =
        |name: &str| parameters.iter().find(|p| p["name"] == name).unwrap()["schema"].clone();
    let class = openapi::refused_class();
    assert_eq!(
        schema("purpose")["pattern"],
        format!("^ *[^ {class}][^{class}]*$")
    );
    assert_eq!(schema("X-Edl-Purpose")["pattern"], "^[!-~]([ -~]*[!-~])?$");
    assert_eq!(schema("purpose")["maxLength"], 200);
}
