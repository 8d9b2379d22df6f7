//! The command line of `edl-keys`: its commands, options and help texts.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use keys::{KeyId, KeyUse};

use crate::spec::FORMAT_HELP;
use crate::times;

const ABOUT: &str = "Create edl signing keys, sign trust lists and rotate keys";

const LONG_ABOUT: &str = "\
Create edl signing keys, sign trust lists and rotate keys.

An authority has one offline root key, whose public key verifiers pin, and credential and
status signing keys, listed in a trust list that the root signs. The trust list's content
lives in a spec file (TOML); 'rotate' and 'revoke' edit the spec, 'trust-list sign'
publishes it.

  edl-keys generate --use root --out root.pem
  edl-keys generate --use credential --out credential-1.pem
  edl-keys trust-list sign --root root.pem --spec trust-list.toml --out trust-list.cose
  edl-keys rotate --spec trust-list.toml --use credential --out credential-2.pem
  edl-keys trust-list sign --root root.pem --spec trust-list.toml --out trust-list.cose

Exit status: 0 done, 64 usage error, 65 bad data, 66 missing input, 73 cannot create an
output, 74 I/O error.";

/// `edl-keys`.
#[derive(Debug, Parser)]
#[command(name = "edl-keys", version, about = ABOUT, long_about = LONG_ABOUT)]
pub(crate) struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create a new Ed25519 key: a PKCS#8 v1 PEM with mode 0600, and its public key (FILE.pem → FILE.pub.pem).
    Generate(GenerateArgs),
    /// Print a key file's kid, public key PEM and JWK.
    Show(ShowArgs),
    /// Sign a trust list from a spec, or show a signed one.
    #[command(subcommand)]
    TrustList(TrustListCommand),
    /// Add a new credential or status key to a spec and end the current ones after an overlap.
    #[command(long_about = "\
Add a new credential or status key to a trust list spec and end the current ones.

Generates the new key (written like 'generate' does), appends it to the spec with
not_before = now, sets not_after = now + OVERLAP on the keys of that use that are active
now, and bumps the sequence. Publish with 'trust-list sign'; switch the daemon to the new
key once verifiers have synced the new list, within the overlap.")]
    Rotate(RotateArgs),
    /// Mark a key revoked in a spec: nothing it signed verifies once published.
    Revoke(RevokeArgs),
    /// Print every claim of a credential WITHOUT checking its signature.
    Inspect(InspectArgs),
}

/// `generate`.
#[derive(Debug, Args)]
pub(crate) struct GenerateArgs {
    /// What the key signs.
    #[arg(long = "use", value_name = "USE")]
    pub(crate) key_use: UseArg,
    /// The private key file to create; an existing file is never overwritten.
    #[arg(long, value_name = "FILE")]
    pub(crate) out: PathBuf,
    /// Do not write the public key (FILE.pem → FILE.pub.pem).
    #[arg(long)]
    pub(crate) no_public: bool,
}

/// `show`.
#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    /// A private (PKCS#8) or public (SPKI) key PEM.
    pub(crate) file: PathBuf,
    /// Print one JSON object.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `trust-list …`.
#[derive(Debug, Subcommand)]
pub(crate) enum TrustListCommand {
    /// Sign the trust list a spec describes with the root key.
    #[command(after_long_help = FORMAT_HELP)]
    Sign(SignArgs),
    /// Print a signed trust list; verified with --root, otherwise marked UNVERIFIED.
    Show(TrustListShowArgs),
}

/// `trust-list sign`.
#[derive(Debug, Args)]
pub(crate) struct SignArgs {
    /// The root private key.
    #[arg(long, value_name = "ROOT.pem")]
    pub(crate) root: PathBuf,
    /// The trust list spec (TOML; see --help for its format).
    #[arg(long, value_name = "SPEC.toml")]
    pub(crate) spec: PathBuf,
    /// Where to write the signed list; an existing list is only replaced by a higher
    /// sequence number.
    #[arg(long, value_name = "FILE")]
    pub(crate) out: PathBuf,
}

/// `trust-list show`.
#[derive(Debug, Args)]
pub(crate) struct TrustListShowArgs {
    /// The signed trust list.
    pub(crate) file: PathBuf,
    /// A root key (public or private PEM) to verify with; repeat for several.
    #[arg(long, value_name = "KEY.pem")]
    pub(crate) root: Vec<PathBuf>,
    /// Print the keys as a JWKS (RFC 7517) instead.
    #[arg(long, conflicts_with = "json")]
    pub(crate) jwks: bool,
    /// Print one JSON object.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `rotate`.
#[derive(Debug, Args)]
pub(crate) struct RotateArgs {
    /// The trust list spec to edit.
    #[arg(long, value_name = "SPEC.toml")]
    pub(crate) spec: PathBuf,
    /// Which kind of signing key to rotate.
    #[arg(long = "use", value_name = "USE")]
    pub(crate) key_use: SigningUseArg,
    /// The new private key file to create (its public key goes to FILE.pub.pem for FILE.pem).
    #[arg(long, value_name = "NEWKEY.pem")]
    pub(crate) out: PathBuf,
    /// How long the current keys keep signing after now, e.g. 30d, 12h.
    #[arg(long, value_name = "DURATION", default_value = "30d", value_parser = times::parse_duration)]
    pub(crate) overlap: u64,
}

/// `revoke`.
#[derive(Debug, Args)]
pub(crate) struct RevokeArgs {
    /// The trust list spec to edit.
    #[arg(long, value_name = "SPEC.toml")]
    pub(crate) spec: PathBuf,
    /// The key id (16 lowercase hex digits), as 'show' prints it.
    #[arg(long)]
    pub(crate) kid: KeyId,
}

/// `inspect`.
#[derive(Debug, Args)]
pub(crate) struct InspectArgs {
    /// The QR text (DL1:…), or - to read it from standard input.
    #[arg(value_name = "QR-TEXT|-")]
    pub(crate) input: String,
    /// The input is the token's bytes in hex rather than QR text.
    #[arg(long)]
    pub(crate) hex: bool,
    /// Print one JSON object.
    #[arg(long)]
    pub(crate) json: bool,
}

/// A key use on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum UseArg {
    /// The offline root: signs trust lists.
    Root,
    /// Signs credentials.
    Credential,
    /// Signs status lists.
    Status,
}

/// A signing key use (what `rotate` handles; the root is not rotated by it).
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum SigningUseArg {
    /// Signs credentials.
    Credential,
    /// Signs status lists.
    Status,
}

impl From<UseArg> for KeyUse {
    fn from(arg: UseArg) -> KeyUse {
        match arg {
            UseArg::Root => KeyUse::Root,
            UseArg::Credential => KeyUse::Credential,
            UseArg::Status => KeyUse::Status,
        }
    }
}

impl From<SigningUseArg> for KeyUse {
    fn from(arg: SigningUseArg) -> KeyUse {
        match arg {
            SigningUseArg::Credential => KeyUse::Credential,
            SigningUseArg::Status => KeyUse::Status,
        }
    }
}
