//! `edl-verify`: reads the clock once, hands the process's world to [`verifier::run`], and
//! exits with its code.

use std::io::IsTerminal;
use std::process::ExitCode;

use keys::UnixTime;

fn main() -> ExitCode {
    // The one place the verifier reads the clock; everything else takes `now`.
    #[allow(clippy::disallowed_methods)]
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(UnixTime(0), |d| UnixTime(d.as_secs()));
    let stdin = std::io::stdin();
    let mut stdin = stdin.lock();
    let stdout = std::io::stdout();
    let stdout_is_terminal = stdout.is_terminal();
    let mut stdout = std::io::BufWriter::new(stdout.lock());
    let mut stderr = std::io::stderr();
    let env = |name: &str| std::env::var(name).ok();
    let code = verifier::run(
        std::env::args_os(),
        &mut verifier::Io {
            stdin: &mut stdin,
            stdout: &mut stdout,
            stderr: &mut stderr,
            env: &env,
            stdout_is_terminal,
        },
        now,
    );
    let _ = std::io::Write::flush(&mut stdout);
    ExitCode::from(code)
}
