//! The command line of `edl-holder`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use keys::presentation::{Challenge, DEFAULT_SLOT_LENGTH, MAX_SLOT_LENGTH};

/// A reference holder device for edl credentials: keeps the device key a credential is
/// bound to, and shows the credential as a presentation QR code that changes every slot.
#[derive(Debug, Parser)]
#[command(name = "edl-holder", version, about, long_about = None)]
#[command(
    after_help = "Exit codes: 0 done, 64 usage error, 65 bad credential or key, \
66 missing input file, 73 cannot create the key file, 74 I/O error."
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Make a new device key: writes it to FILE (PKCS#8 PEM, mode 0600) and prints its public
    /// JWK, to send as `holder_key` in the application.
    Keygen {
        /// Where to write the private key; an existing file is never replaced.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Show the credential as a presentation QR code, a new one every slot, until the
    /// credential expires or Ctrl-C.
    Present(PresentArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct PresentArgs {
    /// The credential: its `DL1:` QR text, or the raw token bytes.
    #[arg(long, value_name = "FILE")]
    pub(crate) credential: PathBuf,
    /// The device key the credential is bound to (from `keygen`).
    #[arg(long, value_name = "FILE")]
    pub(crate) key: PathBuf,
    /// Slot length in seconds: how long each presentation stays current.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_SLOT_LENGTH,
          value_parser = clap::value_parser!(u64).range(1..=MAX_SLOT_LENGTH))]
    pub(crate) slot: u64,
    /// A verifier's challenge (hex, 1 to 32 bytes) for the presentation to answer.
    #[arg(long, value_name = "HEX")]
    pub(crate) challenge: Option<Challenge>,
    /// Print one `DL2:` text for the current slot and exit.
    #[arg(long)]
    pub(crate) once: bool,
}
