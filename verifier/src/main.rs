//! `edl-verify`: hands the process's world (streams, environment, the clock) to
//! [`verifier::run_with`], and exits with its code.
//!
//! The process is entered at C's `main`, not through Rust's `fn main`. A roadside terminal
//! starts `edl-verify` once per check, so its start-up is part of every verdict's latency.
//! std's start-up before `fn main` reads and parses `/proc/self/maps` to place the main
//! thread's stack guard (glibc formats every mapping of the process for it), maps an
//! alternate signal stack and installs stack-overflow handlers: 0.1 to 0.2 ms of an
//! offline check's ~1.5 ms here (verifier/README.md, "Measured"). What std's start-up did
//! that matters is done here instead: SIGPIPE is ignored, so a closed pipe is an error the
//! program reports with its exit code rather than a silent death, and standard streams
//! that are closed are opened on `/dev/null`, so no file the program opens can take their
//! place. What is lost is std's message when the stack overflows: the process still ends,
//! by SIGSEGV. Arguments and the environment are read through std as usual (glibc hands
//! them to std's initialiser before `main`).

#![no_main]
// The one exception to the workspace's `unsafe_code` rule (Cargo.toml): the C entry point
// and the two libc calls of std's start-up kept in `start_up`.
#![allow(unsafe_code)]

use std::io::IsTerminal;
use std::os::raw::{c_char, c_int};

use keys::UnixTime;

/// The C runtime's entry point.
#[unsafe(no_mangle)]
extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    start_up();
    c_int::from(run())
}

/// What std's start-up does that the program relies on (see the module comment).
fn start_up() {
    let mut streams = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: `streams` is a valid array of three `pollfd`s for the duration of the call.
    let polled = unsafe { libc::poll(streams.as_mut_ptr(), 3, 0) };
    if polled > 0 {
        for stream in streams.iter().filter(|s| s.revents & libc::POLLNVAL != 0) {
            // A closed standard stream: occupy its number with /dev/null, as std does, so
            // that the next file opened is not mistaken for it.
            // SAFETY: a NUL-terminated path literal and plain flags.
            let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
            if fd != stream.fd {
                // Could not take its place: end as std does.
                std::process::abort();
            }
        }
    }
    // SAFETY: setting a signal's disposition to SIG_IGN runs no code of ours.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

fn run() -> u8 {
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
