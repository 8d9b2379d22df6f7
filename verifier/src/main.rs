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

use std::os::raw::{c_char, c_int};

mod process;

/// The C runtime's entry point.
#[unsafe(no_mangle)]
extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    start_up();
    c_int::from(process::run(verifier::Network::HandedOver(hand_over)))
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

/// Hands this process's command line to `edl-verify-net` beside this program, for a
/// command that talks to the server (`verifier::Network`). `exec` replaces the process
/// (what the user sees is that program's output and exit code), so this returns only
/// why it could not.
fn hand_over() -> verifier::Failure {
    use std::os::unix::process::CommandExt;
    let program = match std::env::current_exe() {
        Ok(this) => this.with_file_name(NET_PROGRAM),
        Err(e) => {
            return verifier::Failure::Unavailable(format!(
                "this command talks to the server through {NET_PROGRAM}, which is found \
                 beside edl-verify, but edl-verify's own path cannot be read: {e}"
            ));
        }
    };
    let error = std::process::Command::new(&program)
        .args(std::env::args_os().skip(1))
        .exec();
    verifier::Failure::Unavailable(format!(
        "this command talks to the server through {}: {error}",
        program.display()
    ))
}

/// The program with the network client, installed beside `edl-verify`.
const NET_PROGRAM: &str = "edl-verify-net";
