//! What both programs' `main` share: the process's streams, environment and wall clock
//! handed to [`verifier::run_with`], with how the program reaches the server.
//!
//! Kept out of the library, whose invariant is that it never reads the clock; each
//! program includes this file as a module of its own.

use std::io::IsTerminal;

use keys::UnixTime;

/// Runs the command line this process was given, and returns its exit code.
pub(crate) fn run(network: verifier::Network) -> u8 {
    let stdin_is_terminal = std::io::stdin().is_terminal();
    let stdin = std::io::stdin();
    let mut stdin = stdin.lock();
    let stdout = std::io::stdout();
    let stdout_is_terminal = stdout.is_terminal();
    let mut stdout = std::io::BufWriter::new(stdout.lock());
    let mut stderr = std::io::stderr();
    let env = |name: &str| std::env::var(name).ok();
    let code = verifier::run_with(
        std::env::args_os(),
        &mut verifier::Io {
            stdin: &mut stdin,
            stdout: &mut stdout,
            stderr: &mut stderr,
            env: &env,
            stdout_is_terminal,
        },
        &verifier::World {
            stdin_is_terminal,
            clock: &now,
            network,
        },
    );
    let _ = std::io::Write::flush(&mut stdout);
    code
}

/// The wall clock: the one place the verifier reads it; everything else takes `now` or
/// this function.
fn now() -> UnixTime {
    #[allow(clippy::disallowed_methods)]
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(UnixTime(0), |d| UnixTime(d.as_secs()))
}
