//! `edl-keys trust-list sign` and `trust-list show`: publishing the signed trust list from
//! a spec, and reading one back, verified against a root key or clearly marked unverified.

use std::fmt::Write as _;

use keys::trust_list::{self, TrustList};
use keys::{KeyUse, PublicKey, TrustedKey, UnixTime};

use crate::cli::{SignArgs, TrustListShowArgs};
use crate::exit::{self, Failure};
use crate::files;
use crate::spec::SpecFile;
use crate::times;
use crate::unverified;

/// The mode of a published trust list: it is public.
const PUBLIC_MODE: u32 = 0o644;

/// Runs `trust-list sign`.
pub(crate) fn sign(args: &SignArgs, now: UnixTime) -> Result<String, Failure> {
    let root = files::load_signing_key(&args.root)?;
    let spec_file = SpecFile::load(&args.spec)?;
    let spec = &spec_file.spec;
    let resolved = spec_file.resolve_keys()?;
    let in_spec = |reason: String| Failure::data(format!("{}: {reason}", args.spec.display()));
    if resolved.is_empty() {
        return Err(in_spec(
            "no [[keys]]: a trust list needs a credential or status key".into(),
        ));
    }
    if let Some(listed) = resolved.iter().find(|r| r.trusted.public == *root.public()) {
        return Err(in_spec(format!(
            "{} is the root key {}; the root signs the list and is never listed in it",
            listed.written_path.display(),
            root.key_id()
        )));
    }
    let next_update = spec.next_update.resolve(now);
    if next_update <= now {
        return Err(in_spec(format!(
            "next_update {next_update} is not in the future"
        )));
    }
    let replaced = previous_sequence(args, root.public())?;
    if let Some(previous) = replaced
        && spec.sequence <= previous
    {
        return Err(in_spec(format!(
            "sequence {} is not greater than {previous}, the sequence of the existing {}; \
             verifiers refuse to go back, so bump sequence to publish a new list",
            spec.sequence,
            args.out.display()
        )));
    }
    let list = TrustList {
        sequence: spec.sequence,
        issued_at: now,
        next_update,
        issuer: spec.issuer.clone(),
        keys: resolved.into_iter().map(|r| r.trusted).collect(),
        status_lists: spec.status_lists.clone(),
    };
    let signed = list.sign(&root);
    // Never publish a list verifiers would refuse: read it back as they will.
    match trust_list::verify(&signed, std::slice::from_ref(root.public()), None) {
        Ok(read_back) if read_back == list => {}
        _ => {
            return Err(Failure::software(
                "the signed trust list does not read back",
            ));
        }
    }
    files::replace(&args.out, &signed, PUBLIC_MODE)?;

    let mut out = String::new();
    let _ = writeln!(
        out,
        "signed trust list sequence {} with root {} into {}",
        list.sequence,
        root.key_id(),
        args.out.display()
    );
    if let Some(previous) = replaced {
        let _ = writeln!(out, "  replaces     sequence {previous}");
    }
    let _ = writeln!(out, "  issuer       {}", list.issuer);
    let _ = writeln!(out, "  issued at    {}", list.issued_at);
    let _ = writeln!(
        out,
        "  next update  {} ({})",
        list.next_update,
        times::relative(list.next_update, now)
    );
    write_keys(&mut out, &list.keys, now);
    write_status_lists(&mut out, &list.status_lists);
    Ok(out)
}

/// The sequence of the trust list `--out` would replace, read through the root's own
/// signature; none if there is no such file.
fn previous_sequence(args: &SignArgs, root: &PublicKey) -> Result<Option<u64>, Failure> {
    let Some(existing) = files::read_if_exists(&args.out)? else {
        return Ok(None);
    };
    match trust_list::verify(&existing, std::slice::from_ref(root), None) {
        Ok(list) => Ok(Some(list.sequence)),
        Err(e) => Err(Failure::data(format!(
            "the existing {} does not verify with root {} ({e}); refusing to replace a list \
             whose sequence cannot be read: move it away first",
            args.out.display(),
            root.key_id()
        ))),
    }
}

/// `trust-list show --json`.
#[derive(serde::Serialize)]
struct ListView {
    verified: bool,
    /// The root that verified it, or the kid the signer claims when unverified.
    root_kid: String,
    sequence: u64,
    issuer: String,
    issued_at: UnixTime,
    next_update: UnixTime,
    keys: Vec<KeyView>,
    status_lists: Vec<String>,
}

#[derive(serde::Serialize)]
struct KeyView {
    kid: String,
    #[serde(rename = "use")]
    key_use: KeyUse,
    not_before: UnixTime,
    not_after: UnixTime,
    revoked: bool,
    state: &'static str,
}

/// Runs `trust-list show`.
pub(crate) fn show(args: &TrustListShowArgs, now: UnixTime) -> Result<String, Failure> {
    let signed = files::read(&args.file)?;
    let bad =
        |e: trust_list::TrustListError| Failure::data(format!("{}: {e}", args.file.display()));
    let (list, root_kid, verified) = if args.root.is_empty() {
        let (list, claimed) = unverified::trust_list(&signed).map_err(bad)?;
        (list, claimed, false)
    } else {
        let roots = args
            .root
            .iter()
            .map(|path| files::load_key(path).map(|k| k.public().clone()))
            .collect::<Result<Vec<_>, _>>()?;
        let (list, kid) = trust_list::verify_with_root(&signed, &roots, None).map_err(bad)?;
        (list, kid, true)
    };
    let unverified_line = format!(
        "UNVERIFIED — signature not checked (the signer claims root kid {root_kid}; pass --root to verify)"
    );

    if args.jwks {
        if !verified {
            exit::warn(&unverified_line);
        }
        return crate::json(&list.jwks());
    }
    if args.json {
        return crate::json(&ListView {
            verified,
            root_kid: root_kid.to_string(),
            sequence: list.sequence,
            issuer: list.issuer.clone(),
            issued_at: list.issued_at,
            next_update: list.next_update,
            keys: list
                .keys
                .iter()
                .map(|k| KeyView {
                    kid: k.key_id().to_string(),
                    key_use: k.key_use,
                    not_before: k.not_before,
                    not_after: k.not_after,
                    revoked: k.revoked,
                    state: state(k, now),
                })
                .collect(),
            status_lists: list.status_lists.clone(),
        });
    }

    let mut out = String::new();
    if verified {
        let _ = writeln!(out, "verified by root {root_kid}");
    } else {
        let _ = writeln!(out, "{unverified_line}");
    }
    let _ = writeln!(out, "trust list sequence {}", list.sequence);
    let _ = writeln!(out, "  issuer       {}", list.issuer);
    let _ = writeln!(
        out,
        "  issued at    {} ({})",
        list.issued_at,
        times::relative(list.issued_at, now)
    );
    let overdue = if list.next_update < now {
        ", OVERDUE"
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "  next update  {} ({}{overdue})",
        list.next_update,
        times::relative(list.next_update, now)
    );
    write_keys(&mut out, &list.keys, now);
    write_status_lists(&mut out, &list.status_lists);
    Ok(out)
}

fn write_keys(out: &mut String, keys: &[TrustedKey], now: UnixTime) {
    let _ = writeln!(out, "  keys");
    for key in keys {
        let _ = writeln!(
            out,
            "    {}  {:<10}  {} .. {:<20}  {}",
            key.key_id(),
            key.key_use.as_str(),
            key.not_before,
            times::format_end(key.not_after),
            state(key, now)
        );
    }
}

fn write_status_lists(out: &mut String, uris: &[String]) {
    let _ = writeln!(out, "  status lists");
    if uris.is_empty() {
        let _ = writeln!(out, "    (none)");
    }
    for uri in uris {
        let _ = writeln!(out, "    {uri}");
    }
}

/// Where a key stands at `now`: `revoked`, `pending` (window not started), `ended` (no
/// longer signs; what it signed still verifies) or `active`.
fn state(key: &TrustedKey, now: UnixTime) -> &'static str {
    if key.revoked {
        "revoked"
    } else if now < key.not_before {
        "pending"
    } else if now > key.not_after {
        "ended"
    } else {
        "active"
    }
}
