//! `edl-verify`, the verifier for roadside terminals and relying parties, as a library:
//! [`run`] takes the arguments, the process's streams and environment, and the time, and
//! returns the exit code, so tests drive the whole program in-process.
//!
//! Module map: `cli` (arguments), `config` (TOML → [`config::Config`]), `verdict` (the
//! pure decision), `check` (token + status → verdict), `http` (HTTPS client), `cache` (the
//! offline files, atomic replacement), `memo` (signatures remembered between checks), `sync`, `batch`, `init` (enrolment), `scan` (the
//! hardware scanner loop), `qr_image` (QR in PNG/JPEG), `report` (human text and the JSON
//! schema).
//!
//! **Invariant:** nothing here reads the clock: `now` and the clock `scan` reads between
//! scans come from `main`.
//!
//! Two programs are built on it (see [`Network`]): `edl-verify`, without the network
//! client, which hands a command that needs the server to `edl-verify-net`, the same
//! program with it.

pub mod batch;
pub mod cache;
pub mod check;
pub mod cli;
pub mod config;
pub mod http;
pub mod init;
pub mod memo;
pub mod qr_image;
pub mod receipt;
pub mod report;
pub mod scan;
pub mod sync;
pub mod verdict;

use std::ffi::OsString;
use std::io::{BufRead, Write};
use std::num::NonZeroUsize;
use std::time::Duration;

use clap::Parser;
use keys::UnixTime;

use crate::check::{Live, Trust};
use crate::cli::{Cli, Colour, Command, ConfigAction, ConfigArgs};
use crate::config::Config;
use crate::http::{Client, HttpError};
use crate::report::Style;
use crate::verdict::Policy;

/// Exit codes (DESIGN section 5; sysexits.h for the failures).
pub mod exit {
    /// The credential is valid.
    pub const VALID: u8 = 0;
    /// The credential is not valid.
    pub const NOT_VALID: u8 = 1;
    /// The signature is good but the status is unknown or too old.
    pub const INDETERMINATE: u8 = 2;
    /// EX_USAGE: bad arguments.
    pub const USAGE: u8 = 64;
    /// EX_UNAVAILABLE: the server or the cache cannot serve the request.
    pub const UNAVAILABLE: u8 = 69;
    /// EX_IOERR: a file or stream could not be read or written.
    pub const IO: u8 = 74;
    /// EX_CONFIG: the configuration is invalid.
    pub const CONFIG: u8 = 78;
}

/// The process's world, handed in by `main` (or by a test).
pub struct Io<'a> {
    /// Standard input.
    pub stdin: &'a mut dyn BufRead,
    /// Standard output.
    pub stdout: &'a mut dyn Write,
    /// Standard error.
    pub stderr: &'a mut dyn Write,
    /// Environment variables.
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// Whether standard output is a terminal (colours).
    pub stdout_is_terminal: bool,
}

/// What interactive and long-running commands need beyond [`Io`], handed in by `main`.
pub struct World<'a> {
    /// Whether standard input is a terminal: a person who can answer a question (`init`).
    pub stdin_is_terminal: bool,
    /// The wall clock, read for every scan (`scan` runs for hours).
    pub clock: &'a dyn Fn() -> UnixTime,
    /// How this program reaches the server.
    pub network: Network,
}

/// How a program built on this library reaches the server.
///
/// A roadside terminal starts a process per offline check, so what that process loads
/// counts: the HTTPS client (rustls, ring, ureq, the system's name resolution) is most of
/// what a statically linked `edl-verify` would carry, and glibc's resolver cannot be
/// linked statically at all without loading the system's shared NSS modules at run time
/// anyway. So `edl-verify` is built without it and hands every command that talks to the
/// server — `init`, `sync`, and `check`, `scan` or `config check` with a server to ask —
/// to `edl-verify-net`, the same program with the client linked in, as git hands a
/// remote to `git-remote-https`. The hand-over happens before the command reads its
/// input or writes anything, so the other program sees exactly what this one was given.
#[derive(Clone, Copy)]
pub enum Network {
    /// The client is linked in: this makes one (`http::Client::new`).
    Linked(fn(&Config, Duration) -> Result<Client, HttpError>),
    /// It is not: this hands the whole command over (in `edl-verify`, an `exec` of
    /// `edl-verify-net`) and returns only why that failed.
    HandedOver(fn() -> Failure),
}

impl World<'_> {
    /// A client for `config`'s server, or the command handed to the program that has one.
    fn client(&self, config: &Config, timeout: Duration) -> Result<Client, Failure> {
        match self.network {
            Network::Linked(connect) => {
                connect(config, timeout).map_err(|e| Failure::Config(e.to_string()))
            }
            Network::HandedOver(hand_over) => Err(hand_over()),
        }
    }

    /// For commands that always talk to the server: hands them over at once when the
    /// client is not linked in.
    fn needs_network(&self) -> Result<(), Failure> {
        match self.network {
            Network::Linked(_) => Ok(()),
            Network::HandedOver(hand_over) => Err(hand_over()),
        }
    }
}

/// A failure that stops a command before any verdict.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// Bad arguments.
    #[error("{0}")]
    Usage(String),
    /// The server or the cache cannot serve.
    #[error("{0}")]
    Unavailable(String),
    /// A file or stream failed.
    #[error("{0}")]
    Io(String),
    /// The configuration is invalid.
    #[error("{0}")]
    Config(String),
}

impl Failure {
    /// The exit code.
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Usage(_) => exit::USAGE,
            Failure::Unavailable(_) => exit::UNAVAILABLE,
            Failure::Io(_) => exit::IO,
            Failure::Config(_) => exit::CONFIG,
        }
    }
}

/// Runs `edl-verify` with `args` (the first is the program name) at time `now`, with no
/// person at standard input and the clock standing still at `now`.
pub fn run<I, T>(args: I, io: &mut Io<'_>, now: UnixTime) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let clock = move || now;
    let world = World {
        stdin_is_terminal: false,
        clock: &clock,
        network: Network::Linked(Client::new),
    };
    run_with(args, io, &world)
}

/// Runs `edl-verify` with `args` in `world`; `now` is the clock read once at the start.
pub fn run_with<I, T>(args: I, io: &mut Io<'_>, world: &World<'_>) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let now = (world.clock)();
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => {
            use clap::error::ErrorKind;
            let text = error.render().to_string();
            return match error.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                    let _ = io.stdout.write_all(text.as_bytes());
                    exit::VALID
                }
                _ => {
                    let _ = io.stderr.write_all(text.as_bytes());
                    exit::USAGE
                }
            };
        }
    };
    match dispatch(&cli, io, world, now) {
        Ok(code) => code,
        Err(failure) => {
            let _ = writeln!(io.stderr, "edl-verify: {failure}");
            failure.exit_code()
        }
    }
}

fn dispatch(cli: &Cli, io: &mut Io<'_>, world: &World<'_>, now: UnixTime) -> Result<u8, Failure> {
    if let Command::Init(args) = &cli.command {
        world.needs_network()?;
        // There is no configuration yet: init writes it where the others will look.
        let path = cli
            .config
            .clone()
            .or_else(|| (io.env)("EDL_VERIFY_CONFIG").map(std::path::PathBuf::from))
            .unwrap_or_else(|| std::path::PathBuf::from(config::DEFAULT_PATH));
        init::run(args, &path, io, world)?;
        return Ok(exit::VALID);
    }
    let config =
        Config::load(cli.config.as_deref(), &io.env).map_err(|e| Failure::Config(e.to_string()))?;
    let policy = Policy {
        max_status_age: config.max_status_age,
        clock_tolerance: config.clock_tolerance,
        require_holder_binding: config.require_holder_binding,
        slot_skew: config.slot_skew,
    };
    match &cli.command {
        Command::Check(args) => {
            // The client first: without one linked in, the command is handed over before
            // it reads its input.
            let client = match (&config.server, args.offline) {
                (Some(server), false) => Some((
                    world
                        .client(&config, config.live_timeout)?
                        .with_purpose(args.purpose.clone().or_else(|| config.purpose.clone())),
                    server.as_str(),
                )),
                _ => None,
            };
            let text = match (&args.image, args.text.as_deref()) {
                (Some(path), _) => {
                    qr_image::decode_file(path).map_err(|e| match e {
                        qr_image::ImageError::Read { .. } => Failure::Io(e.to_string()),
                        // An image without a readable code is nothing to verify: the
                        // officer needs another picture, not a NOT VALID verdict.
                        _ => Failure::Usage(format!("{}: {e}", path.display())),
                    })?
                }
                (None, Some(text)) if text != "-" => text.to_owned(),
                (None, _) => read_stdin_line(io)?,
            };
            // A process per check: the cached lists' signatures verified by the last one
            // are not verified again (memo.rs).
            let memo_file = memo::MemoFile::locate(io.env);
            let memo = memo_file.as_ref().and_then(memo::MemoFile::read);
            let trust = Trust::load_remembering(&config.cache_dir, &config.roots, memo)?;
            let live = client
                .as_ref()
                .map(|(client, server)| Live { client, server });
            if args.receipt.is_some() && live.is_none() {
                return Err(Failure::Usage(
                    "--receipt needs a live check: set `server` in the configuration".into(),
                ));
            }
            let verdict = check::check_text(&text, &trust, live.as_ref(), &policy, now);
            // A receipt is asked for only once the credential verified and was checked
            // live: it is a second, audited lookup.
            let saved = match (&args.receipt, &live, &verdict.credential) {
                (Some(path), Some(live), Some(credential)) => Some(
                    receipt::fetch_and_save(live, &credential.claims.credential_id, &trust, path)
                        .map(|verified| (path, verified)),
                ),
                _ => None,
            };
            let written = if args.json {
                let mut json = report::to_json(&verdict, policy.max_status_age, None);
                if let Some(Ok((path, verified))) = &saved
                    && let Ok(serde_json::Value::Object(mut object)) =
                        serde_json::from_str::<serde_json::Value>(&json)
                {
                    object.insert("receipt".into(), receipt::json(path, verified));
                    json = serde_json::Value::Object(object).to_string();
                }
                writeln!(io.stdout, "{json}")
            } else {
                let style = style(cli, io);
                report::write_human(io.stdout, &verdict, policy.max_status_age, style).and_then(
                    |()| match &saved {
                        Some(Ok((path, verified))) => {
                            writeln!(io.stdout, "{}", receipt::saved_line(path, verified))
                        }
                        _ => Ok(()),
                    },
                )
            };
            written
                .and_then(|()| io.stdout.flush())
                .map_err(|e| Failure::Io(format!("writing the verdict: {e}")))?;
            if let (Some(file), Some(memo)) = (&memo_file, trust.memo()) {
                file.save(memo);
            }
            match saved {
                Some(Err(failure)) => Err(failure),
                None if args.receipt.is_some() => {
                    // The verdict (NOT VALID) is the answer; nothing was saved.
                    let _ = writeln!(io.stderr, "no receipt saved: the credential did not verify");
                    Ok(verdict.outcome.exit_code())
                }
                _ => Ok(verdict.outcome.exit_code()),
            }
        }
        Command::Sync(args) => {
            world.needs_network()?;
            let server = match args.server.as_deref() {
                Some(url) => config::check_url(url).map_err(Failure::Usage)?,
                None => config.server.clone().ok_or_else(|| {
                    Failure::Usage(
                        "no server: give --server URL or set `server` in the configuration".into(),
                    )
                })?,
            };
            let client = world.client(&config, config.sync_timeout)?;
            let request = sync::SyncRequest {
                server: &server,
                roots: &config.roots,
                cache_dir: &config.cache_dir,
                force: args.force,
                clock_tolerance: config.clock_tolerance,
            };
            let report = sync::sync(&request, &client, now)?;
            let trust = Trust::load(&config.cache_dir, &config.roots).ok();
            let text = sync::describe(&report, trust.as_ref().map(|t| &t.trust_list));
            io.stdout
                .write_all(text.as_bytes())
                .map_err(|e| Failure::Io(e.to_string()))?;
            Ok(exit::VALID)
        }
        Command::Batch(args) => {
            let trust = Trust::load(&config.cache_dir, &config.roots)?;
            let threads = args.threads.unwrap_or_else(|| {
                std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN)
            });
            let summary = if args.input == "-" {
                batch::run(io.stdin, io.stdout, &trust, &policy, now, threads)
            } else {
                let file = std::fs::File::open(&args.input)
                    .map_err(|e| Failure::Io(format!("opening {}: {e}", args.input)))?;
                let mut reader = std::io::BufReader::with_capacity(1 << 16, file);
                batch::run(&mut reader, io.stdout, &trust, &policy, now, threads)
            };
            summary.map_err(|e| Failure::Io(format!("batch: {e}")))?;
            Ok(exit::VALID)
        }
        Command::Scan(args) => {
            let style = style(cli, io);
            let display = match (args.json, io.stdout_is_terminal) {
                (true, _) => scan::Display::Json,
                (false, true) => scan::Display::Screen(style),
                (false, false) => scan::Display::Line(style),
            };
            scan::run(&config, args, display, io, world)
        }
        Command::Receipt(args) => {
            let trust = Trust::load(&config.cache_dir, &config.roots)?;
            receipt::run(&args.file, &trust, io.stdout)
        }
        // Handled before the configuration is loaded.
        Command::Init(_) => Ok(exit::VALID),
        Command::Config(ConfigArgs {
            action: ConfigAction::Check,
        }) => config_check(&config, io, world, now),
    }
}

fn read_stdin_line(io: &mut Io<'_>) -> Result<String, Failure> {
    let mut line = String::new();
    loop {
        line.clear();
        let read = io
            .stdin
            .read_line(&mut line)
            .map_err(|e| Failure::Io(format!("reading standard input: {e}")))?;
        if read == 0 {
            return Err(Failure::Usage(
                "no QR text given (argument, `-` or --image)".into(),
            ));
        }
        if !line.trim().is_empty() {
            return Ok(line.trim().to_owned());
        }
    }
}

fn style(cli: &Cli, io: &Io<'_>) -> Style {
    let locale = ["LC_ALL", "LC_CTYPE", "LANG"]
        .iter()
        .find_map(|name| (io.env)(name).filter(|v| !v.is_empty()));
    let no_colour = (io.env)("NO_COLOR").is_some_and(|v| !v.is_empty());
    let mut style = Style::for_locale(locale.as_deref(), io.stdout_is_terminal, no_colour);
    match cli.color {
        Colour::Auto => {}
        Colour::Always => style.colour = true,
        Colour::Never => style.colour = false,
    }
    style
}

fn config_check(
    config: &Config,
    io: &mut Io<'_>,
    world: &World<'_>,
    now: UnixTime,
) -> Result<u8, Failure> {
    let mut out = String::new();
    let source = config.source.as_ref().map_or_else(
        || "(none: defaults)".to_owned(),
        |p| p.display().to_string(),
    );
    out.push_str(&format!("configuration: {source}\n"));
    out.push_str(&format!(
        "server:        {}\n",
        config.server.as_deref().unwrap_or("(none: offline only)")
    ));
    for root in &config.roots {
        out.push_str(&format!("root key:      {}\n", root.key_id()));
    }
    out.push_str(&format!("credentials:   {:?}\n", config.credentials));
    out.push_str(&format!("cache:         {}\n", config.cache_dir.display()));
    out.push_str(&format!(
        "max status age {}, live status timeout {} ms, sync timeout {} s\n",
        verdict::format_span(config.max_status_age),
        config.live_timeout.as_millis(),
        config.sync_timeout.as_secs()
    ));
    if config.server.is_some() {
        world.client(config, config.live_timeout)?;
    }
    let code = if config.roots.is_empty() {
        out.push_str("error: no pinned root keys (`roots`): nothing can be verified\n");
        exit::CONFIG
    } else {
        match Trust::load(&config.cache_dir, &config.roots) {
            Ok(trust) => {
                let list = &trust.trust_list;
                out.push_str(&format!(
                    "trust list:    sequence {}, issued {}, next update {}{}\n",
                    list.sequence,
                    list.issued_at,
                    list.next_update,
                    if trust.overdue(now).is_some() {
                        " (overdue: sync)"
                    } else {
                        ""
                    }
                ));
                for meta in &trust.cache.meta.status_lists {
                    let age = now.since(UnixTime(meta.issued_at));
                    let state = match trust.status_list(&meta.uri, now) {
                        Ok(_) if age > config.max_status_age => "too old",
                        Ok(_) => "ok",
                        Err(_) => "does not verify",
                    };
                    out.push_str(&format!(
                        "status list:   {} signed {}, {} old: {state}\n",
                        meta.uri,
                        UnixTime(meta.issued_at),
                        verdict::format_span(age)
                    ));
                }
            }
            Err(e) => out.push_str(&format!("cache:         {e}\n")),
        }
        exit::VALID
    };
    io.stdout
        .write_all(out.as_bytes())
        .map_err(|e| Failure::Io(e.to_string()))?;
    Ok(code)
}
