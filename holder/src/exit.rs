//! How `edl-holder` fails: one line on stderr and a sysexits(3) exit code per kind of
//! failure, as `edl-keys` does.

use crate::Io;
use std::fmt::Display;

/// Done.
pub(crate) const OK: u8 = 0;
/// EX_USAGE: the command line is wrong.
const USAGE: u8 = 64;
/// EX_DATAERR: the credential or key holds bad data, or does not fit the other.
const DATA: u8 = 65;
/// EX_NOINPUT: an input file is missing or unreadable.
const NO_INPUT: u8 = 66;
/// EX_CANTCREAT: the key file cannot be created.
const CANNOT_CREATE: u8 = 73;
/// EX_IOERR: reading or writing failed half way.
const IO: u8 = 74;

/// Why a command stopped: what to tell the person, and the exit code.
#[derive(Debug)]
pub(crate) struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    /// The credential or key holds bad data (65).
    pub(crate) fn data(message: impl Display) -> Failure {
        Failure::new(DATA, message)
    }

    /// An input file is missing or unreadable (66).
    pub(crate) fn no_input(message: impl Display) -> Failure {
        Failure::new(NO_INPUT, message)
    }

    /// The key file cannot be created (73).
    pub(crate) fn cannot_create(message: impl Display) -> Failure {
        Failure::new(CANNOT_CREATE, message)
    }

    /// Reading or writing failed (74).
    pub(crate) fn io(message: impl Display) -> Failure {
        Failure::new(IO, message)
    }

    fn new(code: u8, message: impl Display) -> Failure {
        Failure {
            code,
            message: message.to_string(),
        }
    }

    /// Prints `edl-holder: <message>` on stderr and returns the exit code.
    pub(crate) fn report(self, io: &mut Io<'_>) -> u8 {
        let _ = writeln!(io.stderr, "edl-holder: {}", self.message);
        self.code
    }
}

impl Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Prints clap's help, version or error and returns the exit code: 0 for help and version,
/// 64 for a command line clap refused.
pub(crate) fn command_line(error: &clap::Error, io: &mut Io<'_>) -> u8 {
    use clap::error::ErrorKind;
    let text = error.render().to_string();
    match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = io.stdout.write_all(text.as_bytes());
            OK
        }
        _ => {
            let _ = io.stderr.write_all(text.as_bytes());
            USAGE
        }
    }
}

/// An I/O error without Rust's `(os error N)` suffix, lowercase like our messages.
pub(crate) fn plain(error: &std::io::Error) -> String {
    let text = error.to_string();
    let text = match text.find(" (os error") {
        Some(at) => text[..at].to_owned(),
        None => text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text,
    }
}
