//! The OpenAPI document and the routers describe the same routes.

use std::collections::BTreeSet;

use crate::http::{admin_routes, public_routes};

#[test]
fn every_route_is_described_and_every_description_has_a_route() {
    let routes: BTreeSet<(String, String)> = public_routes()
        .into_iter()
        .chain(admin_routes())
        .map(|r| (r.method.as_str().to_lowercase(), r.path.to_owned()))
        .collect();
    let described: BTreeSet<(String, String)> = super::described().into_iter().collect();
    let undocumented: Vec<_> = routes.difference(&described).collect();
    let unrouted: Vec<_> = described.difference(&routes).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from openapi.json: {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "openapi.json describes missing routes: {unrouted:?}"
    );
}

#[test]
fn document_is_openapi_3_with_every_path() {
    let doc = super::document();
    assert_eq!(doc["openapi"], "3.0.3");
    let paths = doc["paths"].as_object().unwrap();
    for (method, path) in super::described() {
        assert!(
            paths[&path][&method]["responses"].is_object(),
            "{method} {path}"
        );
    }
}
