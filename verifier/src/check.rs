//! Checking one credential: the QR text's token against the cached trust list, then its
//! status (live, else the cached status list), then [`verdict::decide`]. A presentation
//! (`DL2:`) has its credential checked the same way, then its holder signature and slot.
//!
//! [`Trust`] is the verified cache, loaded once per process; batch checks share it across
//! threads (each status list is verified once, on first use).

use std::sync::OnceLock;

use keys::memo::SignatureMemo;
use keys::presentation::{self, PresentationError, PresentationPolicy};
use keys::status_list::{self, CredentialStatus, StatusListError, VerifiedStatusList};
use keys::token::{self, VerifiedCredential, VerifyError, VerifyPolicy};
use keys::trust_list::{self, TrustList};
use keys::{Keyring, PublicKey, UnixTime};

use crate::Failure;
use crate::cache::Cache;
use crate::http::Client;
use crate::verdict::{
    self, Inputs, Policy, PresentationCheck, Reason, StatusEvidence, TokenCheck, Verdict,
};

/// The cache with its trust list verified against the pinned roots.
pub struct Trust {
    /// The cache.
    pub cache: Cache,
    /// The verified trust list.
    pub trust_list: TrustList,
    /// Its keys.
    pub keyring: Keyring,
    lists: Vec<OnceLock<Result<VerifiedStatusList, String>>>,
    /// Signatures verified by earlier processes, and those verified here (`memo`).
    memo: Option<SignatureMemo>,
}

/// Where live status comes from, when online.
pub struct Live<'a> {
    /// The client.
    pub client: &'a Client,
    /// The server's base URL.
    pub server: &'a str,
}

impl Trust {
    /// Opens the cache in `dir` and verifies its trust list against `roots`.
    pub fn load(dir: &std::path::Path, roots: &[PublicKey]) -> Result<Trust, Failure> {
        Trust::load_remembering(dir, roots, None)
    }

    /// [`Trust::load`], the cached files' signatures taken as verified where `memo`
    /// remembers them, and those verified now remembered there ([`Trust::memo`]).
    pub fn load_remembering(
        dir: &std::path::Path,
        roots: &[PublicKey],
        memo: Option<SignatureMemo>,
    ) -> Result<Trust, Failure> {
        if roots.is_empty() {
            return Err(Failure::Config(
                "no pinned root keys: set `roots` in the configuration".into(),
            ));
        }
        let cache = Cache::open(dir)
            .map_err(|e| Failure::Io(e.to_string()))?
            .ok_or_else(|| {
                Failure::Unavailable(format!(
                    "no trust list cached in {}: run `edl-verify sync` first",
                    dir.display()
                ))
            })?;
        Trust::from_cache(cache, roots, memo)
    }

    /// Verifies an opened cache's trust list.
    pub fn from_cache(
        cache: Cache,
        roots: &[PublicKey],
        memo: Option<SignatureMemo>,
    ) -> Result<Trust, Failure> {
        let verified = trust_list::verify_remembered(&cache.trust_list, roots, None, memo.as_ref());
        let trust_list = verified.map(|(list, _)| list).map_err(|e| {
            Failure::Unavailable(format!(
                "the cached trust list does not verify ({e}): run `edl-verify sync`"
            ))
        })?;
        let keyring = trust_list.keyring();
        let lists = cache
            .meta
            .status_lists
            .iter()
            .map(|_| OnceLock::new())
            .collect();
        Ok(Trust {
            cache,
            trust_list,
            keyring,
            lists,
            memo,
        })
    }

    /// The signatures this process relied on or verified, to keep for the next one.
    pub fn memo(&self) -> Option<&SignatureMemo> {
        self.memo.as_ref()
    }

    /// The cached status list `uri`, verified against the trust list's status keys. An
    /// expired list is still read (at its `exp`) so the verdict can show its age.
    pub fn status_list(&self, uri: &str, now: UnixTime) -> Result<&VerifiedStatusList, String> {
        let Some(position) = self
            .cache
            .meta
            .status_lists
            .iter()
            .position(|l| l.uri == uri)
        else {
            return Err(format!("no cached status list for {uri}"));
        };
        if !self.trust_list.status_lists.iter().any(|u| u == uri) {
            return Err(format!("status list {uri} is not in the trust list"));
        }
        self.lists[position]
            .get_or_init(|| self.read_status_list(uri, now))
            .as_ref()
            .map_err(Clone::clone)
    }

    fn read_status_list(&self, uri: &str, now: UnixTime) -> Result<VerifiedStatusList, String> {
        let bytes = match self.cache.status_list(uri) {
            Ok(Some((_, bytes))) => bytes,
            Ok(None) => return Err(format!("no cached status list for {uri}")),
            Err(e) => return Err(e.to_string()),
        };
        let verify = |at| {
            let policy = VerifyPolicy::at(at);
            let memo = self.memo.as_ref();
            status_list::verify_remembered(&bytes, &self.keyring, &policy, Some(uri), memo)
        };
        match verify(now) {
            // Past `exp` or signed after "now" (a clock behind): read it at that time,
            // the verdict weighs its age and the clock.
            Err(StatusListError::Expired(at)) | Err(StatusListError::IssuedInFuture(at)) => {
                verify(at)
            }
            other => other,
        }
        .map_err(|e| format!("cached status list {uri} refused: {e}"))
    }

    /// The earliest moment the trust list should have been replaced, if past.
    pub fn overdue(&self, now: UnixTime) -> Option<UnixTime> {
        (now > self.trust_list.next_update).then_some(self.trust_list.next_update)
    }
}

/// A QR text read: the credential token inside, and the presentation around it if any.
enum Shown {
    /// `DL1:`: the credential token.
    Token(Vec<u8>),
    /// `DL2:`: the presentation's bytes and the (not yet verified) token inside.
    Presentation {
        bytes: Vec<u8>,
        token: Vec<u8>,
        slot: presentation::Slot,
    },
}

impl Shown {
    fn read(text: &str) -> Result<Shown, TokenCheck> {
        let text = text.trim();
        if !text.starts_with(keys::qr::PRESENTATION_PREFIX) {
            return keys::qr::decode(text)
                .map(Shown::Token)
                .map_err(|e| malformed(&e));
        }
        let bytes = keys::qr::decode_presentation(text).map_err(|e| malformed(&e))?;
        // Read unverified only to find the credential inside; `presentation::verify`
        // checks both signatures before anything in it counts.
        let contents =
            keys::danger::inspect_presentation(&bytes).map_err(|e| TokenCheck::Refused {
                reason: Reason::Malformed,
                detail: format!("not an edl presentation: {e}"),
                credential: None,
            })?;
        Ok(Shown::Presentation {
            bytes,
            token: contents.token,
            slot: contents.slot,
        })
    }

    fn token(&self) -> &[u8] {
        match self {
            Shown::Token(token) | Shown::Presentation { token, .. } => token,
        }
    }

    fn slot(&self) -> Option<presentation::Slot> {
        match self {
            Shown::Token(_) => None,
            Shown::Presentation { slot, .. } => Some(*slot),
        }
    }

    /// The presentation's check, once its credential verified as `token`.
    fn check_presentation(
        &self,
        token: &TokenCheck,
        policy: &Policy,
        now: UnixTime,
    ) -> PresentationCheck {
        let TokenCheck::Verified(credential) = token else {
            return PresentationCheck::NotChecked {
                presented: self.slot().is_some(),
                slot: self.slot(),
            };
        };
        match self {
            Shown::Token(bytes) => PresentationCheck::Bearer {
                // The token's signature verified, so its `cnf` is the issuer's word.
                holder_bound: keys::danger::inspect_holder_key(bytes)
                    .is_ok_and(|key| key.claims.is_some()),
            },
            Shown::Presentation { bytes, token, slot } => {
                let policy = PresentationPolicy {
                    credential: VerifyPolicy::at(now),
                    slot_skew: policy.slot_skew,
                    challenge: None,
                };
                // The credential inside was verified just now (alone, or in a batch): only
                // the holder's signature is left to check, not the issuer's again.
                presentation_check(
                    presentation::verify_presented(bytes, token, credential, &policy),
                    *slot,
                )
            }
        }
    }
}

/// The presentation check of a text that could not be read.
fn unread(text: &str) -> PresentationCheck {
    PresentationCheck::NotChecked {
        presented: text.trim().starts_with(keys::qr::PRESENTATION_PREFIX),
        slot: None,
    }
}

fn presentation_check(
    result: Result<presentation::VerifiedPresentation, PresentationError>,
    slot: presentation::Slot,
) -> PresentationCheck {
    let holder_bound = !matches!(result, Err(PresentationError::NotHolderBound));
    let (reason, detail) = match result {
        Ok(verified) => {
            return PresentationCheck::Fresh {
                slot: verified.slot,
            };
        }
        Err(PresentationError::Expired(slot)) => (
            Reason::PresentationExpired,
            format!(
                "the presentation was made for {}..{}, outside this terminal's clock: \
                 a replay or a screenshot",
                slot.start(),
                slot.end()
            ),
        ),
        Err(PresentationError::NotHolderBound) => (
            Reason::NotPresentedByHolder,
            "the credential is not bound to a holder key, so nobody can present it".to_owned(),
        ),
        Err(PresentationError::BadSignature | PresentationError::ChallengeMismatch) => (
            Reason::NotPresentedByHolder,
            "the presentation is not signed by the credential's holder device".to_owned(),
        ),
        Err(e @ (PresentationError::Envelope(_) | PresentationError::Format(_))) => {
            (Reason::Malformed, format!("not an edl presentation: {e}"))
        }
        Err(e @ (PresentationError::Credential(_) | PresentationError::OtherCredential)) => (
            Reason::BadSignature,
            format!("the credential inside the presentation does not verify: {e}"),
        ),
    };
    PresentationCheck::Refused {
        reason,
        detail,
        slot: Some(slot),
        holder_bound,
    }
}

/// Checks one QR text (`DL1:` or `DL2:`). `live` is `None` offline.
pub fn check_text(
    text: &str,
    trust: &Trust,
    live: Option<&Live<'_>>,
    policy: &Policy,
    now: UnixTime,
) -> Verdict {
    let (token, presentation) = match Shown::read(text) {
        Ok(shown) => {
            let token = check_bytes(shown.token(), &trust.keyring, now);
            let presentation = shown.check_presentation(&token, policy, now);
            (token, presentation)
        }
        Err(refused) => (refused, unread(text)),
    };
    judge(token, presentation, trust, live, policy, now)
}

/// Checks many QR texts offline, their credential signatures verified together
/// ([`token::verify_batch`]): the same verdicts as [`check_text`] without live status.
/// Presentations' holder signatures are verified one by one.
pub fn check_texts(texts: &[&str], trust: &Trust, policy: &Policy, now: UnixTime) -> Vec<Verdict> {
    let shown: Vec<Result<Shown, TokenCheck>> = texts.iter().map(|t| Shown::read(t)).collect();
    let tokens: Vec<&[u8]> = shown
        .iter()
        .filter_map(|s| s.as_ref().ok().map(Shown::token))
        .collect();
    let mut verified =
        token::verify_batch(&tokens, &trust.keyring, &VerifyPolicy::at(now)).into_iter();
    shown
        .into_iter()
        .zip(texts)
        .map(|(shown, text)| {
            let (token, presentation) = match shown {
                Err(refused) => (refused, unread(text)),
                Ok(shown) => {
                    let token = match verified.next() {
                        Some(result) => classify(result, shown.token(), &trust.keyring),
                        None => TokenCheck::Refused {
                            reason: Reason::BadSignature,
                            detail: verdict::reason_sentence(Reason::BadSignature).into(),
                            credential: None,
                        },
                    };
                    let presentation = shown.check_presentation(&token, policy, now);
                    (token, presentation)
                }
            };
            judge(token, presentation, trust, None, policy, now)
        })
        .collect()
}

/// The verdict on a checked token: its status (live, else the cached list) weighed by
/// [`verdict::decide`].
fn judge(
    token: TokenCheck,
    presentation: PresentationCheck,
    trust: &Trust,
    live: Option<&Live<'_>>,
    policy: &Policy,
    now: UnixTime,
) -> Verdict {
    let mut notes = Vec::new();
    let evidence = match &token {
        TokenCheck::Verified(credential) => status_of(credential, trust, live, now, &mut notes),
        TokenCheck::Refused { .. } => StatusEvidence::Unavailable,
    };
    if let (
        TokenCheck::Refused {
            reason: verdict::Reason::UnknownKey,
            ..
        },
        Some(since),
    ) = (&token, trust.overdue(now))
    {
        notes.push(format!(
            "the cached trust list was due for renewal at {since}: `edl-verify sync` may know this key"
        ));
    }
    verdict::decide(
        Inputs {
            token,
            presentation,
            evidence,
            last_sync_server_time: trust.cache.meta.server_time.map(UnixTime),
            notes,
        },
        policy,
        now,
    )
}

/// Decodes and verifies the token. A token refused only for its time window is verified
/// again at the window's edge, so the report still shows whose credential it is.
pub fn check_token(text: &str, keyring: &Keyring, now: UnixTime) -> TokenCheck {
    match keys::qr::decode(text.trim()) {
        Ok(bytes) => check_bytes(&bytes, keyring, now),
        Err(e) => malformed(&e),
    }
}

fn check_bytes(bytes: &[u8], keyring: &Keyring, now: UnixTime) -> TokenCheck {
    classify(
        token::verify(bytes, keyring, &VerifyPolicy::at(now)),
        bytes,
        keyring,
    )
}

fn malformed(error: &keys::qr::QrError) -> TokenCheck {
    TokenCheck::Refused {
        reason: verdict::Reason::Malformed,
        detail: format!("not an edl credential QR code: {error}"),
        credential: None,
    }
}

/// The token check for a verification result; a token refused only for its time window
/// is verified again at the window's edge, so the report still shows whose it is.
fn classify(
    result: Result<VerifiedCredential, VerifyError>,
    bytes: &[u8],
    keyring: &Keyring,
) -> TokenCheck {
    match result {
        Ok(credential) => TokenCheck::Verified(Box::new(credential)),
        Err(error @ (VerifyError::Expired(at) | VerifyError::NotYetValid(at))) => {
            let credential = token::verify(bytes, keyring, &VerifyPolicy::at(at)).ok();
            TokenCheck::refused(&error, credential)
        }
        Err(error) => TokenCheck::refused(&error, None),
    }
}

fn status_of(
    credential: &VerifiedCredential,
    trust: &Trust,
    live: Option<&Live<'_>>,
    now: UnixTime,
    notes: &mut Vec<String>,
) -> StatusEvidence {
    let claims = &credential.claims;
    if let Some(live) = live {
        match live.client.live_status(live.server, &claims.credential_id) {
            Ok(answer) => {
                return StatusEvidence::Live {
                    status: answer.status,
                    server_time: answer.checked_at,
                };
            }
            // The authoritative service says it does not know this credential: no cached
            // list may overrule that.
            Err(e) if e.status() == Some(404) => return StatusEvidence::ServerUnknown,
            Err(e) => notes.push(format!(
                "live status unavailable ({e}); falling back to the cached status list"
            )),
        }
    }
    let list = match trust.status_list(&claims.status.uri, now) {
        Ok(list) => list,
        Err(e) => {
            notes.push(e);
            return StatusEvidence::Unavailable;
        }
    };
    let entry = list
        .claims
        .list
        .get(claims.status.index)
        .and_then(CredentialStatus::from_value);
    match entry {
        Some(status) => StatusEvidence::Cached {
            status,
            issued_at: list.claims.issued_at,
            expires_at: list.claims.expires_at,
        },
        None => {
            notes.push(format!(
                "index {} is outside the cached status list {}",
                claims.status.index, claims.status.uri
            ));
            StatusEvidence::Unavailable
        }
    }
}
