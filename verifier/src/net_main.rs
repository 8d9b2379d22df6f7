//! `edl-verify-net`: `edl-verify` with the HTTPS client linked in. `edl-verify` hands it
//! the commands that talk to the server (see `verifier::Network`); it runs any command
//! the same way when started itself.

use std::process::ExitCode;

mod process;

fn main() -> ExitCode {
    ExitCode::from(process::run(verifier::Network::Linked(
        verifier::http::Client::new,
    )))
}
