//! Browser sessions for the reviewer desk and the operator console: an API key is
//! exchanged once for a session cookie, and every change made with the cookie carries the
//! session's CSRF token.
//!
//! - The cookie (`edl_review` on the public listener, `edl_console` on the admin one: two
//!   names, because cookies do not keep ports apart) is `HttpOnly` (no script reads it),
//!   `SameSite=Strict` (no other site's page sends it), `Path=/`, `Max-Age` of the session,
//!   and `Secure` when the listener serves TLS.
//! - The daemon keeps only the SHA-256 of each session token, with the caller, the CSRF
//!   token and the expiry, in memory: a restart signs everyone out, which is the safe side.
//! - A request with the cookie that changes anything (any method but GET and HEAD) must
//!   send the session's CSRF token in `X-CSRF-Token` (the synchronizer pattern: the page
//!   gets it from the sign-in answer or `GET …/sessions/current`), and if it says where it
//!   comes from (`Origin`, `Sec-Fetch-Site`) that must be this origin. Otherwise 403.
//! - A session ends at its expiry, at sign-out, or as soon as its API key is revoked.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::{HeaderMap, HeaderValue, Method, header};
use keys::UnixTime;
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::domain::access::{Caller, Role};
use crate::service::clients::ApiClients;

/// How long a session lasts: a working day.
pub(crate) const SESSION_SECONDS: u64 = 8 * 3600;
/// Most sessions kept at once; past it, expired ones are dropped, then the sign-in is
/// refused (a flood of sign-ins cannot grow memory without bound).
const MAX_SESSIONS: usize = 10_000;
/// The header that carries the CSRF token.
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";

/// Which listener a session belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Desk {
    /// The reviewer desk, public listener.
    Review,
    /// The operator console, admin listener.
    Console,
}

impl Desk {
    /// The cookie's name.
    pub(crate) fn cookie(self) -> &'static str {
        match self {
            Desk::Review => "edl_review",
            Desk::Console => "edl_console",
        }
    }

    /// The one role that may sign in here.
    pub(crate) fn role(self) -> Role {
        match self {
            Desk::Review => Role::Reviewer,
            Desk::Console => Role::Operator,
        }
    }
}

/// A signed-in session.
#[derive(Clone, Debug)]
pub(crate) struct Session {
    /// Who signed in.
    pub caller: Caller,
    /// The token every change must carry.
    pub csrf: String,
    /// When it ends.
    pub expires_at: UnixTime,
    desk: Desk,
}

/// What a sign-in hands back: the cookie's value (shown once, never kept) and the session.
pub(crate) struct SignedIn {
    /// The session token, for the cookie.
    pub token: String,
    /// The session.
    pub session: Session,
}

/// Why a session request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SessionError {
    /// A change without the right CSRF token, or from another origin: 403.
    Forgery,
    /// Too many sessions: 503.
    Full,
}

/// The sessions of both desks.
#[derive(Default)]
pub(crate) struct Sessions {
    by_hash: Mutex<HashMap<[u8; 32], Session>>,
}

impl Sessions {
    /// Opens a session for `caller` at `desk`.
    pub(crate) fn open(
        &self,
        caller: Caller,
        desk: Desk,
        now: UnixTime,
    ) -> Result<SignedIn, SessionError> {
        let token = random_token();
        let session = Session {
            caller,
            csrf: random_token(),
            expires_at: now.plus(SESSION_SECONDS),
            desk,
        };
        let mut map = self.by_hash.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_SESSIONS {
            map.retain(|_, s| s.expires_at.0 > now.0);
            if map.len() >= MAX_SESSIONS {
                return Err(SessionError::Full);
            }
        }
        map.insert(digest(&token), session.clone());
        Ok(SignedIn { token, session })
    }

    /// The live session a request's cookie names at `desk`, if any.
    pub(crate) fn find(
        &self,
        headers: &HeaderMap,
        desk: Desk,
        clients: &ApiClients,
        now: UnixTime,
    ) -> Option<Session> {
        let token = cookie(headers, desk.cookie())?;
        let key = digest(token);
        let mut map = self.by_hash.lock().unwrap_or_else(|p| p.into_inner());
        let session = map.get(&key)?.clone();
        let revoked = clients
            .get(&session.caller.client)
            .is_none_or(|c| c.role != session.caller.role);
        if session.desk != desk || session.expires_at.0 <= now.0 || revoked {
            if session.desk == desk {
                map.remove(&key);
            }
            return None;
        }
        Some(session)
    }

    /// Ends the session a request's cookie names.
    pub(crate) fn close(&self, headers: &HeaderMap, desk: Desk) {
        if let Some(token) = cookie(headers, desk.cookie()) {
            let mut map = self.by_hash.lock().unwrap_or_else(|p| p.into_inner());
            map.remove(&digest(token));
        }
    }
}

/// Checks a request made with a session: reads pass; a change needs the session's CSRF
/// token and, when the browser says where the request comes from, this origin.
pub(crate) fn check_forgery(
    method: &Method,
    headers: &HeaderMap,
    session: &Session,
) -> Result<(), SessionError> {
    if method == Method::GET || method == Method::HEAD {
        return Ok(());
    }
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if site.is_some_and(|s| s != "same-origin") {
        return Err(SessionError::Forgery);
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
        let origin_host = origin
            .to_str()
            .ok()
            .and_then(|o| o.split_once("://"))
            .map(|(_, rest)| rest);
        if host.is_none() || origin_host != host {
            return Err(SessionError::Forgery);
        }
    }
    let sent = headers
        .get(CSRF_HEADER)
        .map(HeaderValue::as_bytes)
        .unwrap_or_default();
    if bool::from(sent.ct_eq(session.csrf.as_bytes())) {
        Ok(())
    } else {
        Err(SessionError::Forgery)
    }
}

/// The `Set-Cookie` value that stores `token` at `desk`, or (`None`) removes it.
pub(crate) fn set_cookie(desk: Desk, token: Option<&str>, secure: bool) -> String {
    let (value, age) = match token {
        Some(t) => (t, SESSION_SECONDS),
        None => ("", 0),
    };
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{}={value}; Path=/; Max-Age={age}; HttpOnly; SameSite=Strict{secure}",
        desk.cookie()
    )
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests;
