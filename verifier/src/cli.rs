//! Command-line arguments. Parsing errors exit with 64 (EX_USAGE), never with clap's
//! default 2, which means INDETERMINATE here.

use std::num::NonZeroUsize;
use std::path::PathBuf;

use clap::error::ErrorKind;
use clap::{ArgMatches, Args, FromArgMatches, Parser, Subcommand, ValueEnum};

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
///
/// Each subcommand's arguments are added to the parser only when that subcommand is the
/// one given (`clap::Command::defer`): every offline check is a new process, and building
/// the whole tree of seven subcommands' arguments first cost an offline check 3 % of its
/// instructions and a sixth of its page faults (24 of 153, each a zeroed heap page or a
/// page of clap's code). `--help` and errors build what they show, so what they print is
/// the same as with the whole tree built first.
#[derive(Debug)]
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
    /// Verify a signed status receipt offline.
    Receipt(ReceiptArgs),
    /// Inspect the configuration.
    Config(ConfigArgs),
}

/// Adds a subcommand's arguments to it.
type Augment = fn(clap::Command) -> clap::Command;

/// Each subcommand: its name, what the list of subcommands says of it (its arguments
/// struct says the same in its own help) and how its arguments are added.
const SUBCOMMANDS: [(&str, &str, Augment); 7] = [
    ("check", CHECK, CheckArgs::augment_args),
    ("sync", SYNC, SyncArgs::augment_args),
    ("batch", BATCH, BatchArgs::augment_args),
    ("init", INIT, InitArgs::augment_args),
    ("scan", SCAN, ScanArgs::augment_args),
    ("receipt", RECEIPT, ReceiptArgs::augment_args),
    ("config", CONFIG, ConfigArgs::augment_args),
];

const CHECK: &str = "Verify one credential and print the verdict";
const SYNC: &str = "Fetch the trust list and status lists for offline use";
const BATCH: &str = "Verify one QR text per line; print one JSON line each, in order";
const INIT: &str =
    "Set this terminal up: write the configuration, pin the root key, run the first sync";
const SCAN: &str =
    "Verify each QR text a scanner types (one per line) and show one verdict screen each";
const RECEIPT: &str =
    "Verify a signed status receipt offline against the cached trust list, and show what it proves";
const CONFIG: &str = "Inspect the configuration";

impl Subcommand for Command {
    fn augment_subcommands(command: clap::Command) -> clap::Command {
        SUBCOMMANDS
            .iter()
            .fold(command, |command, &(name, about, augment)| {
                command.subcommand(clap::Command::new(name).about(about).defer(augment))
            })
    }

    fn augment_subcommands_for_update(command: clap::Command) -> clap::Command {
        Command::augment_subcommands(command)
    }

    fn has_subcommand(name: &str) -> bool {
        SUBCOMMANDS.iter().any(|(known, _, _)| *known == name)
    }
}

impl FromArgMatches for Command {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Command, clap::Error> {
        Command::from_arg_matches_mut(&mut matches.clone())
    }

    fn from_arg_matches_mut(matches: &mut ArgMatches) -> Result<Command, clap::Error> {
        let Some((name, mut sub)) = matches.remove_subcommand() else {
            return Err(clap::Error::raw(
                ErrorKind::MissingSubcommand,
                "a subcommand is required",
            ));
        };
        let sub = &mut sub;
        Ok(match name.as_str() {
            "check" => Command::Check(CheckArgs::from_arg_matches_mut(sub)?),
            "sync" => Command::Sync(SyncArgs::from_arg_matches_mut(sub)?),
            "batch" => Command::Batch(BatchArgs::from_arg_matches_mut(sub)?),
            "init" => Command::Init(InitArgs::from_arg_matches_mut(sub)?),
            "scan" => Command::Scan(ScanArgs::from_arg_matches_mut(sub)?),
            "receipt" => Command::Receipt(ReceiptArgs::from_arg_matches_mut(sub)?),
            "config" => Command::Config(ConfigArgs::from_arg_matches_mut(sub)?),
            other => {
                return Err(clap::Error::raw(
                    ErrorKind::InvalidSubcommand,
                    format!("unrecognized subcommand '{other}'"),
                ));
            }
        })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Command::from_arg_matches(matches)?;
        Ok(())
    }
}

/// `receipt`.
#[derive(Debug, clap::Args)]
#[command(about = RECEIPT)]
pub struct ReceiptArgs {
    /// The receipt (`application/cwt`, as edld answered live status with it).
    pub file: std::path::PathBuf,
}

/// `config`.
#[derive(Debug, clap::Args)]
#[command(about = CONFIG)]
pub struct ConfigArgs {
    /// What to do with it.
    #[command(subcommand)]
    pub action: ConfigAction,
}

/// `check`.
#[derive(Debug, clap::Args)]
#[command(about = CHECK)]
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
#[command(about = SYNC)]
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
#[command(about = BATCH)]
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
#[command(about = INIT)]
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
#[command(about = SCAN)]
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

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    /// clap's own checks of the whole tree, deferred subcommands built.
    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn each_subcommand_parses_into_its_own_arguments() {
        let parse = |args: &[&str]| Cli::try_parse_from(args).map(|cli| cli.command);
        assert!(matches!(
            parse(&["edl-verify", "--config", "v.toml", "check", "--offline", "DL1:X"]),
            Ok(Command::Check(CheckArgs { offline: true, ref text, .. })) if text.as_deref() == Some("DL1:X")
        ));
        assert!(matches!(
            parse(&["edl-verify", "sync", "--force"]),
            Ok(Command::Sync(SyncArgs { force: true, .. }))
        ));
        assert!(matches!(
            parse(&["edl-verify", "batch", "-"]),
            Ok(Command::Batch(_))
        ));
        assert!(matches!(
            parse(&[
                "edl-verify",
                "init",
                "--server",
                "https://x",
                "--root",
                "r.pem"
            ]),
            Ok(Command::Init(_))
        ));
        assert!(matches!(
            parse(&["edl-verify", "scan", "--json"]),
            Ok(Command::Scan(ScanArgs { json: true, .. }))
        ));
        assert!(matches!(
            parse(&["edl-verify", "receipt", "r.cwt"]),
            Ok(Command::Receipt(_))
        ));
        assert!(matches!(
            parse(&["edl-verify", "config", "check"]),
            Ok(Command::Config(ConfigArgs {
                action: ConfigAction::Check
            }))
        ));
        let error = |args: &[&str]| parse(args).err().map(|e| e.kind());
        assert_eq!(
            error(&["edl-verify"]),
            Some(ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand)
        );
        assert_eq!(
            error(&["edl-verify", "chek"]),
            Some(ErrorKind::InvalidSubcommand)
        );
        assert_eq!(
            error(&["edl-verify", "check", "--offline", "--receipt", "r"]),
            Some(ErrorKind::ArgumentConflict)
        );
        assert_eq!(
            error(&["edl-verify", "init"]),
            Some(ErrorKind::MissingRequiredArgument)
        );
    }
}
