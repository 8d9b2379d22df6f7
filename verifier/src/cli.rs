//! Command-line arguments. Parsing errors exit with 64 (EX_USAGE), never with clap's
//! default 2, which means INDETERMINATE here.

use std::num::NonZeroUsize;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Verify electronic driving licence credentials.
#[derive(Debug, Parser)]
#[command(name = "edl-verify", version, about, long_about = None)]
#[command(after_help = "Exit codes: 0 valid, 1 not valid, 2 indeterminate, \
64 usage error, 69 service unavailable, 74 I/O error, 78 configuration error.")]
pub struct Cli {
    /// Configuration file (default: $EDL_VERIFY_CONFIG, then /etc/edl/verify.toml).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Colours in human output.
    #[arg(long, global = true, value_enum, default_value_t = Colour::Auto)]
    pub color: Colour,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// When to print colours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Colour {
    /// On a terminal, unless NO_COLOR is set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Verify one credential and print the verdict.
    Check(CheckArgs),
    /// Fetch the trust list and status lists for offline use.
    Sync(SyncArgs),
    /// Verify one QR text per line; print one JSON line each, in order.
    Batch(BatchArgs),
    /// Set this terminal up: write the configuration, pin the root key, run the first sync.
    Init(InitArgs),
    /// Verify each QR text a scanner types (one per line) and show one verdict screen each.
    Scan(ScanArgs),
    /// Verify a signed status receipt offline against the cached trust list, and show what
    /// it proves.
    Receipt {
        /// The receipt (`application/cwt`, as edld answered live status with it).
        file: std::path::PathBuf,
    },
    /// Inspect the configuration.
    Config {
        /// What to do with it.
        #[command(subcommand)]
        action: ConfigAction,
    },
}

/// `check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The QR text (`DL1:…` or `DL2:…`); `-` or nothing reads it from standard input.
    #[arg(value_name = "QR-TEXT")]
    pub text: Option<String>,
    /// Read the QR code from a PNG or JPEG image instead.
    #[arg(long, value_name = "FILE", conflicts_with = "text")]
    pub image: Option<PathBuf>,
    /// Print one JSON object (schema in the README) instead of text for a person.
    #[arg(long)]
    pub json: bool,
    /// Do not ask the server: use the cached status lists only.
    #[arg(long)]
    pub offline: bool,
    /// The purpose of this check, recorded in the daemon's audit log (overrides `purpose`
    /// in the configuration; insurers, rental firms and employers must give one).
    #[arg(long, value_name = "TEXT")]
    pub purpose: Option<String>,
    /// After the live check, ask the server for a signed status receipt, verify it against
    /// the cached trust list and save it here (for `edl-verify receipt FILE` later).
    #[arg(long, value_name = "FILE", conflicts_with = "offline")]
    pub receipt: Option<PathBuf>,
}

/// `sync`.
#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    /// The server's base URL (default: `server` from the configuration).
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// Fetch every status list even if its ttl has not run out.
    #[arg(long)]
    pub force: bool,
}

/// `batch`.
#[derive(Debug, clap::Args)]
pub struct BatchArgs {
    /// The input file, one QR text per line; `-` for standard input.
    #[arg(value_name = "FILE")]
    pub input: String,
    /// Worker threads (default: the number of cores).
    #[arg(long)]
    pub threads: Option<NonZeroUsize>,
}

/// `init`.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// The daemon's base URL (https://…, or http:// on loopback only).
    #[arg(long, value_name = "URL")]
    pub server: String,
    /// The authority's root public key (SPKI PEM, e.g. root.pub.pem), pinned from now on.
    #[arg(long, value_name = "FILE")]
    pub root: PathBuf,
    /// A file holding this terminal's API key; stored beside the configuration, mode 0600.
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    /// Trust anchors (PEM) for the server's TLS certificate, if not a web PKI one.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Where synced lists are kept (default: /var/lib/edl-verify for the system
    /// configuration, else `cache` beside the configuration).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// The purpose declared with live status lookups.
    #[arg(long, value_name = "TEXT")]
    pub purpose: Option<String>,
    /// Do not ask for confirmation of the root key's kid.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Replace an existing configuration.
    #[arg(long)]
    pub force: bool,
}

/// `scan`.
#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    /// Do not ask the server: use the cached status lists only.
    #[arg(long)]
    pub offline: bool,
    /// Print one JSON object (schema 1) per scan instead of a verdict screen or line.
    #[arg(long)]
    pub json: bool,
    /// The log of checks (default: `scan_log` from the configuration, else
    /// $XDG_STATE_HOME/edl-verify/scans.jsonl or ~/.local/state/edl-verify/scans.jsonl).
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// The purpose of these checks, recorded in the daemon's audit log.
    #[arg(long, value_name = "TEXT")]
    pub purpose: Option<String>,
}

/// `config …`.
#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Check the configuration and the cache, and print what is in use.
    Check,
}
