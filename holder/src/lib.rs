//! `edl-holder`, the reference holder: what the national app does with a holder-bound
//! credential, small enough to read and port. `keygen` makes the device key a credential is
//! bound to; `present` shows the credential as a `DL2:` presentation, a new one every time
//! slot, signed with that key.
//!
//! [`run`] is the whole program; `main.rs` only hands it the process's streams and the
//! system clock, so tests drive it in-process with a clock of their own.

#![deny(missing_docs)]

mod cli;
mod exit;
mod keygen;
mod present;
mod screen;

use std::ffi::OsString;
use std::io::Write;

use clap::Parser;
use keys::UnixTime;

/// The process's world: where output goes and whether it is a terminal.
pub struct Io<'a> {
    /// Standard output: the public key, the QR codes, the `DL2:` text.
    pub stdout: &'a mut dyn Write,
    /// Standard error: what went wrong, and notes for the person.
    pub stderr: &'a mut dyn Write,
    /// Whether standard output is a terminal: then each new QR code replaces the last.
    pub stdout_is_terminal: bool,
}

/// The time, and waiting for it: the system clock in `main.rs`, a manual one in tests.
pub trait Clock {
    /// The current time.
    fn now(&mut self) -> UnixTime;
    /// Returns once the time is `until` or later.
    fn sleep_until(&mut self, until: UnixTime);
}

/// Runs `edl-holder` with `args` (the program name first) and returns the exit code.
pub fn run<I, T>(args: I, io: &mut Io<'_>, clock: &mut dyn Clock) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => return exit::command_line(&error, io),
    };
    let outcome = match &cli.command {
        cli::Command::Keygen { out } => keygen::run(out, io),
        cli::Command::Present(args) => present::run(args, io, clock),
    };
    match outcome {
        Ok(()) => exit::OK,
        Err(failure) => failure.report(io),
    }
}
