//! Reading a trust list **without** its root key, for `trust-list show` without `--root`.
//! Every caller labels the result UNVERIFIED.

use keys::KeyId;
use keys::trust_list::{TrustList, TrustListError};

/// The list and the kid its signer claims, neither authenticated.
pub(crate) fn trust_list(signed: &[u8]) -> Result<(TrustList, KeyId), TrustListError> {
    let unverified = keys::danger::inspect_trust_list(signed)?;
    Ok((unverified.claims, unverified.key_id))
}
