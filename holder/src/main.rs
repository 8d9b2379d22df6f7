//! `edl-holder`: hands the process's streams and the system clock to [`holder::run`] and
//! exits with its code.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use keys::UnixTime;

/// The system clock: the one place `edl-holder` reads the time.
struct SystemClock;

impl SystemClock {
    #[allow(clippy::disallowed_methods)] // Reading the clock is this type's whole job.
    fn since_epoch() -> Duration {
        // A clock before 1970 reads as the epoch: presentations made then are refused by
        // every verifier, which says what is wrong.
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
    }
}

impl holder::Clock for SystemClock {
    fn now(&mut self) -> UnixTime {
        UnixTime(SystemClock::since_epoch().as_secs())
    }

    fn sleep_until(&mut self, until: UnixTime) {
        let until = Duration::from_secs(until.0);
        // `sleep` may wake early (a signal) and the clock may be stepped: check again.
        loop {
            let now = SystemClock::since_epoch();
            if now >= until {
                return;
            }
            std::thread::sleep(until - now);
        }
    }
}

fn main() -> ExitCode {
    let stdout = std::io::stdout();
    let stdout_is_terminal = stdout.is_terminal();
    let mut stdout = stdout.lock();
    let mut stderr = std::io::stderr();
    let code = holder::run(
        std::env::args_os(),
        &mut holder::Io {
            stdout: &mut stdout,
            stderr: &mut stderr,
            stdout_is_terminal,
        },
        &mut SystemClock,
    );
    ExitCode::from(code)
}
