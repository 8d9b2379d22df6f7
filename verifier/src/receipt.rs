//! `edl-verify receipt FILE`: a signed status receipt — what edld answers a relying party's
//! live status lookup with under `Accept: application/cwt` — verified offline against the
//! cached trust list, and what it proves: which credential had which status when, for
//! which client, role and declared purpose, and which audit record the lookup left.

use std::io::Write;
use std::path::Path;

use crate::check::Trust;
use crate::{Failure, exit};

/// Verifies the receipt in `path` with the status keys of `trust`'s trust list and prints
/// what it proves (exit 0) or why it proves nothing (exit 1).
pub fn run(path: &Path, trust: &Trust, out: &mut dyn Write) -> Result<u8, Failure> {
    let bytes =
        std::fs::read(path).map_err(|e| Failure::Io(format!("reading {}: {e}", path.display())))?;
    let written = match keys::receipt::verify(&bytes, &trust.keyring) {
        Ok(verified) => {
            let r = &verified.receipt;
            writeln!(
                out,
                "== RECEIPT VALID 回执有效 ==  signed by status key {} of trust list {}",
                verified.key_id, trust.trust_list.sequence
            )
            .and_then(|()| {
                writeln!(
                    out,
                    "  Proves      credential {} was {} at {}",
                    r.credential_id,
                    r.status.as_str(),
                    r.at
                )
            })
            .and_then(|()| writeln!(out, "  Asked by    {} (role {})", r.client, r.role))
            .and_then(|()| {
                writeln!(
                    out,
                    "  Purpose     {}",
                    r.purpose.as_deref().unwrap_or("(none declared)")
                )
            })
            .and_then(|()| {
                writeln!(
                    out,
                    "  Audit       record {} on the authority's lookup audit chain",
                    hex::encode(r.audit_record)
                )
            })
            .map(|()| exit::VALID)
        }
        Err(e) => writeln!(out, "== RECEIPT NOT VALID 回执无效 ==  {e}").map(|()| exit::NOT_VALID),
    };
    written.map_err(|e| Failure::Io(format!("writing the result: {e}")))
}
