//! How `edl-keys` fails: one line on stderr and a sysexits(3) exit code per kind of
//! failure, so that scripts can tell a typo from bad data from a full disk.

use std::fmt::Display;
use std::io::Write;
use std::process::ExitCode;

/// EX_USAGE: the command line is wrong.
const USAGE: u8 = 64;
/// EX_DATAERR: an input file or argument holds bad data.
const DATA: u8 = 65;
/// EX_NOINPUT: an input file is missing or unreadable.
const NO_INPUT: u8 = 66;
/// EX_SOFTWARE: an internal check failed.
const SOFTWARE: u8 = 70;
/// EX_OSERR: the system misbehaves (a clock before 1970).
const OS: u8 = 71;
/// EX_CANTCREAT: an output file cannot be created.
const CANNOT_CREATE: u8 = 73;
/// EX_IOERR: reading or writing failed half way.
const IO: u8 = 74;

/// A command that did not succeed: what to tell the operator, and the exit code.
#[derive(Debug)]
pub(crate) struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    /// The command line is wrong (64).
    pub(crate) fn usage(message: impl Display) -> Failure {
        Failure::new(USAGE, message)
    }

    /// An input holds bad data (65).
    pub(crate) fn data(message: impl Display) -> Failure {
        Failure::new(DATA, message)
    }

    /// An input file is missing or unreadable (66).
    pub(crate) fn no_input(message: impl Display) -> Failure {
        Failure::new(NO_INPUT, message)
    }

    /// A self-check failed: a bug in edl-keys, not in the input (70).
    pub(crate) fn software(message: impl Display) -> Failure {
        Failure::new(SOFTWARE, message)
    }

    /// The operating system misbehaves (71).
    pub(crate) fn os(message: impl Display) -> Failure {
        Failure::new(OS, message)
    }

    /// An output file cannot be created (73).
    pub(crate) fn cannot_create(message: impl Display) -> Failure {
        Failure::new(CANNOT_CREATE, message)
    }

    /// Reading or writing failed (74).
    pub(crate) fn io(message: impl Display) -> Failure {
        Failure::new(IO, message)
    }

    /// The same failure with `more` added to its message.
    pub(crate) fn append(mut self, more: impl Display) -> Failure {
        self.message.push_str(&more.to_string());
        self
    }

    fn new(code: u8, message: impl Display) -> Failure {
        Failure {
            code,
            message: message.to_string(),
        }
    }

    /// Prints `edl-keys: <message>` on stderr and returns the exit code.
    pub(crate) fn report(self) -> ExitCode {
        // Keep it one line whatever the message holds, so that logs stay greppable.
        let message = self.message.replace('\n', " ");
        let _ = writeln!(std::io::stderr(), "edl-keys: {message}");
        ExitCode::from(self.code)
    }
}

/// Turns a command-line parsing error into the exit code: help and version go to stdout
/// with 0; a usage error becomes one line on stderr with 64 (clap alone would exit 2).
pub(crate) fn command_line(error: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = error.print();
            ExitCode::SUCCESS
        }
        // `edl-keys` alone, or `edl-keys trust-list`: the help is the best answer.
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = error.print();
            ExitCode::from(USAGE)
        }
        _ => Failure::usage(format!("{}; try 'edl-keys --help'", one_line(&error))).report(),
    }
}

/// Warns on stderr without failing.
pub(crate) fn warn(message: impl Display) {
    let _ = writeln!(std::io::stderr(), "edl-keys: warning: {message}");
}

/// clap's message without its `error:` prefix, `Usage:` block and blank lines, with any
/// `tip:` kept, as one line.
fn one_line(error: &clap::Error) -> String {
    let rendered = error.render().to_string();
    let mut parts: Vec<String> = Vec::new();
    for paragraph in rendered.split("\n\n") {
        let paragraph = paragraph.trim();
        if paragraph.starts_with("Usage:") || paragraph.starts_with("For more information") {
            continue;
        }
        let joined = paragraph
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        if !joined.is_empty() {
            parts.push(joined);
        }
    }
    let message = parts.join("; ");
    message
        .strip_prefix("error: ")
        .map(str::to_owned)
        .unwrap_or(message)
}
