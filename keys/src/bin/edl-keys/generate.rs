//! `edl-keys generate`: a new Ed25519 key as a PKCS#8 v1 PEM (mode 0600) and, beside it,
//! its public key as an SPKI PEM.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use keys::{KeyUse, SigningKey};
use rand_core::OsRng;

use crate::cli::GenerateArgs;
use crate::exit::Failure;
use crate::files;

/// A key written to disk.
pub(crate) struct Generated {
    /// The key.
    pub(crate) key: SigningKey,
    /// The public key file, if one was written.
    pub(crate) public_path: Option<PathBuf>,
}

/// Runs `generate`.
pub(crate) fn run(args: &GenerateArgs) -> Result<String, Failure> {
    let key_use = KeyUse::from(args.key_use);
    let generated = write_new_key(&args.out, !args.no_public)?;
    let kid = generated.key.key_id();
    let mut out = String::new();
    let _ = writeln!(out, "generated {key_use} key {kid}");
    let _ = writeln!(out, "  private key  {} (mode 0600)", args.out.display());
    if let Some(public) = &generated.public_path {
        let _ = writeln!(out, "  public key   {}", public.display());
    }
    let listed = generated
        .public_path
        .as_deref()
        .unwrap_or(&args.out)
        .display();
    let _ = match key_use {
        KeyUse::Root => writeln!(
            out,
            "keep the private key offline; pin the public key on verifiers and sign trust lists \
             with 'edl-keys trust-list sign --root {}'",
            args.out.display()
        ),
        KeyUse::Credential | KeyUse::Status => writeln!(
            out,
            "to publish it, add to the trust list spec:\n\n[[keys]]\npath = \"{listed}\"\n\
             kid = \"{kid}\"\nuse = \"{key_use}\"\nnot_before = <when it starts signing>"
        ),
    };
    Ok(out)
}

/// Generates a key from the operating system's entropy and writes it to `path` (mode
/// 0600) and, with `with_public`, its public key beside it (`root.pem` → `root.pub.pem`).
/// Nothing is written when either file exists already.
pub(crate) fn write_new_key(path: &Path, with_public: bool) -> Result<Generated, Failure> {
    let public_path = with_public.then(|| files::public_path(path));
    files::refuse_existing(path)?;
    if let Some(public_path) = &public_path {
        files::refuse_existing(public_path)?;
    }
    let key = SigningKey::generate(&mut OsRng);
    let pem = key.to_pkcs8_pem();
    if pem.is_empty() {
        // The library encodes into a fixed template and returns "" if that ever fails.
        return Err(Failure::software(
            "encoding the private key as PKCS#8 failed",
        ));
    }
    files::create_private(path, pem.as_bytes())?;
    if let Some(public_path) = &public_path {
        files::create_public(public_path, key.public().to_spki_pem().as_bytes())?;
    }
    Ok(Generated { key, public_path })
}
