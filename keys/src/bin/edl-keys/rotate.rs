//! `edl-keys rotate` and `edl-keys revoke`: the two edits an operator makes to a trust
//! list spec between publications. Both bump the sequence; `trust-list sign` publishes.

use std::fmt::Write as _;
use std::path::Path;

use keys::{KeyUse, UnixTime};

use crate::cli::{RevokeArgs, RotateArgs};
use crate::exit::{self, Failure};
use crate::files;
use crate::generate;
use crate::spec::{self, SpecDocument, SpecFile};
use crate::times;

/// Runs `rotate`.
pub(crate) fn rotate(args: &RotateArgs, now: UnixTime) -> Result<String, Failure> {
    let key_use = KeyUse::from(args.key_use);
    let spec_file = SpecFile::load(&args.spec)?;
    let resolved = spec_file.resolve_keys()?;
    let sequence = spec_file.next_sequence()?;
    let mut document = spec_file.document()?;
    let retire_at = now.plus(args.overlap);

    let generated = generate::write_new_key(&args.out, true)?;
    let kid = generated.key.key_id();
    let public_path = generated.public_path.as_deref().unwrap_or(&args.out);
    let written_path = relative_to(&spec_file.base_directory(), public_path)?;

    let mut retired = Vec::new();
    for (index, (entry, key)) in spec_file.spec.keys.iter().zip(&resolved).enumerate() {
        // Only shorten a window: a key already ending sooner keeps its end.
        if entry.key_use == key_use && entry.is_active(now) && entry.end() > retire_at {
            document.set_not_after(index, retire_at);
            retired.push((key, entry.end()));
        }
    }
    document.push_key(
        &written_path,
        kid,
        key_use,
        now,
        &format!("{key_use} key added by rotate at {now}"),
    );
    document.set_sequence(sequence);
    save(&spec_file, &document).map_err(|failure| {
        failure.append(format!(
            "; the new key {} was written but the spec was not changed",
            args.out.display()
        ))
    })?;

    let mut out = String::new();
    let _ = writeln!(out, "new {key_use} key {kid}");
    let _ = writeln!(out, "  private key  {} (mode 0600)", args.out.display());
    let _ = writeln!(out, "  public key   {}", public_path.display());
    let _ = writeln!(
        out,
        "{}: sequence {} -> {sequence}",
        args.spec.display(),
        spec_file.spec.sequence
    );
    let _ = writeln!(
        out,
        "  added   {kid} {key_use}, from {now}, open-ended ({written_path})"
    );
    for (key, old_end) in &retired {
        let _ = writeln!(
            out,
            "  ending  {} {key_use}, not_after {retire_at} (was {}), {} of overlap",
            key.trusted.key_id(),
            times::format_end(*old_end),
            times::format_duration(args.overlap)
        );
    }
    if retired.is_empty() {
        let _ = writeln!(out, "  (no active {key_use} key to retire)");
    }
    let _ = writeln!(
        out,
        "next: publish with 'edl-keys trust-list sign', then switch signing to {kid} once \
         verifiers have synced the new list, before {retire_at}"
    );
    Ok(out)
}

/// Runs `revoke`.
pub(crate) fn revoke(args: &RevokeArgs, now: UnixTime) -> Result<String, Failure> {
    let spec_file = SpecFile::load(&args.spec)?;
    let resolved = spec_file.resolve_keys()?;
    let matching: Vec<usize> = resolved
        .iter()
        .enumerate()
        .filter(|(_, r)| r.trusted.key_id() == args.kid)
        .map(|(index, _)| index)
        .collect();
    if matching.is_empty() {
        let listed: Vec<String> = resolved
            .iter()
            .map(|r| r.trusted.key_id().to_string())
            .collect();
        return Err(Failure::data(format!(
            "{}: no key with kid {} (it lists {})",
            args.spec.display(),
            args.kid,
            if listed.is_empty() {
                "none".to_owned()
            } else {
                listed.join(", ")
            }
        )));
    }
    let to_revoke: Vec<usize> = matching
        .into_iter()
        .filter(|&index| !resolved[index].trusted.revoked)
        .collect();
    if to_revoke.is_empty() {
        return Ok(format!(
            "key {} is already revoked in {}; nothing changed\n",
            args.kid,
            args.spec.display()
        ));
    }
    let sequence = spec_file.next_sequence()?;
    let mut document = spec_file.document()?;
    for &index in &to_revoke {
        document.set_revoked(index);
    }
    document.set_sequence(sequence);
    save(&spec_file, &document)?;

    let mut out = String::new();
    for &index in &to_revoke {
        let key = &resolved[index];
        let _ = writeln!(
            out,
            "revoked {} key {} ({})",
            key.trusted.key_use,
            key.trusted.key_id(),
            key.written_path.display()
        );
    }
    let _ = writeln!(
        out,
        "{}: sequence {} -> {sequence}",
        args.spec.display(),
        spec_file.spec.sequence
    );
    for key_use in [KeyUse::Credential, KeyUse::Status] {
        let was_active = |index: &usize| {
            let entry = &spec_file.spec.keys[*index];
            entry.key_use == key_use && entry.is_active(now)
        };
        let remaining = spec_file
            .spec
            .keys
            .iter()
            .enumerate()
            .filter(|(index, entry)| {
                entry.key_use == key_use && entry.is_active(now) && !to_revoke.contains(index)
            })
            .count();
        if to_revoke.iter().any(was_active) && remaining == 0 {
            exit::warn(format!(
                "no active {key_use} key remains; add one with 'edl-keys rotate --use {key_use}'"
            ));
        }
    }
    let _ = writeln!(
        out,
        "next: publish with 'edl-keys trust-list sign'; what the key signed stops verifying \
         as verifiers sync the new list"
    );
    Ok(out)
}

/// Writes the edited spec in place of the old one, keeping its mode, after checking that
/// it still reads as a spec.
fn save(spec_file: &SpecFile, document: &SpecDocument) -> Result<(), Failure> {
    let text = document.render();
    if let Err(e) = spec::parse(&text) {
        return Err(Failure::software(format!(
            "the edited spec does not read back ({e}); {} was not changed",
            spec_file.path.display()
        )));
    }
    let mode = files::mode_of(&spec_file.path).unwrap_or(0o644);
    files::replace(&spec_file.path, text.as_bytes(), mode)
}

/// `file` as the spec should name it: relative to the spec's folder when inside it,
/// absolute otherwise.
fn relative_to(base: &Path, file: &Path) -> Result<String, Failure> {
    let absolute = file
        .canonicalize()
        .map_err(|e| Failure::io(format!("cannot resolve {}: {e}", file.display())))?;
    let shown = match base.canonicalize() {
        Ok(base) => absolute
            .strip_prefix(&base)
            .map(Path::to_path_buf)
            .unwrap_or(absolute),
        Err(_) => absolute,
    };
    shown.to_str().map(str::to_owned).ok_or_else(|| {
        Failure::usage(format!(
            "{} is not valid UTF-8, which a TOML spec cannot hold",
            shown.display()
        ))
    })
}
