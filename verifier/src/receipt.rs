//! `edl-verify receipt FILE`: a signed status receipt — what edld answers a relying party's
//! live status lookup with under `Accept: application/cwt` — verified offline against the
//! cached trust list, and what it proves: which credential had which status when, for
//! which client, role and declared purpose, and which audit record the lookup left.

use std::io::Write;
use std::path::Path;

use keys::receipt::VerifiedReceipt;
use keys::token::CredentialId;

use crate::check::{Live, Trust};
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

/// `check --receipt FILE`: asks `live`'s server for a receipt of credential `id`,
/// verifies it against `trust` (it must name `id`), and saves it at `path` (written whole
/// or not at all: a temporary file renamed over it).
pub fn fetch_and_save(
    live: &Live<'_>,
    id: &CredentialId,
    trust: &Trust,
    path: &Path,
) -> Result<VerifiedReceipt, Failure> {
    let bytes = live.client.receipt(live.server, id).map_err(|e| {
        Failure::Unavailable(match e.status() {
            Some(406) => "no receipt: the server signs receipts only for the audited roles \
                 (officer, insurer, rental, employer), and this terminal's API key has another"
                .to_owned(),
            _ => format!("no receipt: {e}"),
        })
    })?;
    let verified = keys::receipt::verify(&bytes, &trust.keyring).map_err(|e| {
        Failure::Unavailable(format!(
            "no receipt: the server's receipt does not verify against the cached trust list ({e}); run edl-verify sync"
        ))
    })?;
    if verified.receipt.credential_id != *id {
        return Err(Failure::Unavailable(
            "no receipt: the server's receipt names another credential".into(),
        ));
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, &bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| Failure::Io(format!("saving the receipt to {}: {e}", path.display())))?;
    Ok(verified)
}

/// One line for a person about a saved receipt.
pub fn saved_line(path: &Path, verified: &VerifiedReceipt) -> String {
    let r = &verified.receipt;
    format!(
        "  Receipt     saved to {}: {} at {}, signed by status key {}",
        path.display(),
        r.status.as_str(),
        r.at,
        verified.key_id
    )
}

/// The receipt member of `check --json`'s object.
pub fn json(path: &Path, verified: &VerifiedReceipt) -> serde_json::Value {
    let r = &verified.receipt;
    serde_json::json!({
        "file": path.display().to_string(),
        "status": r.status.as_str(),
        "at": r.at.0,
        "key_id": verified.key_id.to_string(),
        "audit_record": hex::encode(r.audit_record),
    })
}
