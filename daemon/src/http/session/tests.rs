use axum::http::{HeaderMap, HeaderValue, Method};

use super::{Desk, SessionError, Sessions, check_forgery, set_cookie};
use crate::domain::access::{Caller, Role};
use crate::service::clients::ApiClients;

fn caller() -> Caller {
    Caller {
        client: "alice".into(),
        role: Role::Reviewer,
    }
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(*name, HeaderValue::from_str(value).unwrap());
    }
    map
}

#[test]
fn cookie_flags() {
    assert_eq!(
        set_cookie(Desk::Review, Some("t"), true),
        "edl_review=t; Path=/; Max-Age=28800; HttpOnly; SameSite=Strict; Secure"
    );
    assert_eq!(
        set_cookie(Desk::Console, None, false),
        "edl_console=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"
    );
}

#[test]
fn changes_need_the_token_and_this_origin() {
    let sessions = Sessions::default();
    let now = keys::UnixTime(1_900_000_000);
    let signed = sessions.open(caller(), Desk::Review, now).unwrap();
    let s = signed.session;
    let csrf = s.csrf.as_str();
    let check = |method: Method, pairs: &[(&'static str, &str)]| {
        check_forgery(&method, &headers(pairs), &s)
    };
    assert_eq!(check(Method::GET, &[]), Ok(()));
    assert_eq!(check(Method::POST, &[("x-csrf-token", csrf)]), Ok(()));
    assert_eq!(
        check(
            Method::POST,
            &[
                ("x-csrf-token", csrf),
                ("origin", "http://127.0.0.1:8080"),
                ("host", "127.0.0.1:8080"),
                ("sec-fetch-site", "same-origin"),
            ]
        ),
        Ok(())
    );
    let forged = Err(SessionError::Forgery);
    assert_eq!(check(Method::POST, &[]), forged);
    assert_eq!(check(Method::DELETE, &[("x-csrf-token", "0000")]), forged);
    assert_eq!(
        check(
            Method::POST,
            &[
                ("x-csrf-token", csrf),
                ("origin", "http://evil.example"),
                ("host", "127.0.0.1:8080"),
            ]
        ),
        forged
    );
    assert_eq!(
        check(
            Method::POST,
            &[("x-csrf-token", csrf), ("sec-fetch-site", "cross-site")]
        ),
        forged
    );
}

#[test]
fn sessions_end_at_expiry_revocation_and_on_the_other_desk() {
    let sessions = Sessions::default();
    let now = keys::UnixTime(1_900_000_000);
    let clients = ApiClients::new(Vec::new());
    let signed = sessions.open(caller(), Desk::Review, now).unwrap();
    let cookie = headers(&[("cookie", &format!("a=b; edl_review={}", signed.token))]);
    // The client is not (or no longer) among the API clients: no session.
    assert!(
        sessions
            .find(&cookie, Desk::Review, &clients, now)
            .is_none()
    );
    let other = headers(&[("cookie", &format!("edl_console={}", signed.token))]);
    assert!(
        sessions
            .find(&other, Desk::Console, &clients, now)
            .is_none()
    );

    let clients = ApiClients::new(vec![crate::store::StoredClient {
        key_hash: [7; 32],
        client: crate::domain::access::ApiClient {
            name: "alice".into(),
            role: Role::Reviewer,
            created_at: None,
            delegates: Vec::new(),
        },
    }]);
    let signed = sessions.open(caller(), Desk::Review, now).unwrap();
    let cookie = headers(&[("cookie", &format!("edl_review={}", signed.token))]);
    let found = sessions.find(&cookie, Desk::Review, &clients, now).unwrap();
    assert_eq!(found.caller, caller());
    assert_eq!(found.csrf, signed.session.csrf);
    let expiry = keys::UnixTime(now.0 + super::SESSION_SECONDS);
    assert!(
        sessions
            .find(&cookie, Desk::Review, &clients, expiry)
            .is_none()
    );
    // Expired sessions are forgotten, not only refused.
    assert!(
        sessions
            .find(&cookie, Desk::Review, &clients, now)
            .is_none()
    );
    let signed = sessions.open(caller(), Desk::Review, now).unwrap();
    let cookie = headers(&[("cookie", &format!("edl_review={}", signed.token))]);
    sessions.close(&cookie, Desk::Review);
    assert!(
        sessions
            .find(&cookie, Desk::Review, &clients, now)
            .is_none()
    );
}
