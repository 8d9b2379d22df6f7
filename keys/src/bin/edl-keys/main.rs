//! `edl-keys`: creates root, credential and status keys, prints a key's kid and public key,
//! signs trust lists, rotates and revokes keys, and inspects credentials.
//!
//! A thin shell over the `keys` library. This file parses the command line, reads the
//! clock (the only place that does), runs the command and maps the outcome to an exit
//! code; the commands do the file IO and leave every format to `keys`.

mod cli;
mod exit;
mod files;
mod generate;
mod inspect;
mod rotate;
mod show;
mod spec;
mod times;
mod trust_list;
mod unverified;

use std::io::Write;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Parser;
use keys::UnixTime;

use crate::cli::{Cli, Command, TrustListCommand};
use crate::exit::Failure;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return exit::command_line(error),
    };
    match now().and_then(|now| run(&cli.command, now)) {
        Ok(output) => print(&output),
        Err(failure) => failure.report(),
    }
}

fn run(command: &Command, now: UnixTime) -> Result<String, Failure> {
    match command {
        Command::Generate(args) => generate::run(args),
        Command::Show(args) => show::run(args),
        Command::TrustList(TrustListCommand::Sign(args)) => trust_list::sign(args, now),
        Command::TrustList(TrustListCommand::Show(args)) => trust_list::show(args, now),
        Command::Rotate(args) => rotate::rotate(args, now),
        Command::Revoke(args) => rotate::revoke(args, now),
        Command::Inspect(args) => inspect::run(args, now),
    }
}

/// The current time: the one clock read of `edl-keys`. Everything else takes `now`.
#[allow(clippy::disallowed_methods)] // Reading the clock is this function's whole job.
fn now() -> Result<UnixTime, Failure> {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|since| UnixTime(since.as_secs()))
        .map_err(|_| Failure::os("the system clock is set before 1970"))
}

/// Writes a command's output. A reader that went away (`| head`) is not an error: the
/// command's work is done.
fn print(output: &str) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(output.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => Failure::io(format!("cannot write to standard output: {e}")).report(),
    }
}

/// `value` as pretty JSON with a final newline.
pub(crate) fn json<T: serde::Serialize>(value: &T) -> Result<String, Failure> {
    serde_json::to_string_pretty(value)
        .map(|mut text| {
            text.push('\n');
            text
        })
        .map_err(|e| Failure::software(format!("cannot write JSON: {e}")))
}

/// `value` as JSON on one line.
pub(crate) fn json_line<T: serde::Serialize>(value: &T) -> Result<String, Failure> {
    serde_json::to_string(value).map_err(|e| Failure::software(format!("cannot write JSON: {e}")))
}
