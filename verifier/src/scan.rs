//! `edl-verify scan`: the counter and roadside loop for hardware scanners. A USB scanner in
//! keyboard mode, or a serial one piped in, types each QR text as a line; every line gets
//! one verdict. On a terminal that is a full screen: the verdict first, in huge letters
//! (and huge Chinese characters drawn with block elements, readable on a console without a
//! CJK font), on a green, red or yellow screen with a bell, then whose credential it is and
//! where its status came from. Elsewhere it is one line per verdict (or JSON with `--json`).
//!
//! Each check is appended to a local log (JSON lines, mode 0600) holding what the officer
//! needs to account for the check and nothing about the holder: the time, the verdict and
//! reason, the credential id, the signing key and where the status came from. No name,
//! licence number or other licence data is kept.
//!
//! The cache is read again whenever a sync (for example `edl-verify-sync.timer`) replaced
//! it; the time is read from the clock for every scan.

mod banner;

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use keys::UnixTime;
use serde::Serialize;

use crate::check::{self, Live, Trust};
use crate::cli::ScanArgs;
use crate::config::Config;
use crate::report::{self, Style};
use crate::verdict::{Outcome, Policy, Reason, StatusSource, StatusValue, Verdict};
use crate::{Failure, Io, World, cache, exit};

/// How verdicts are shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Display {
    /// One full screen per verdict (a terminal).
    Screen(Style),
    /// One line per verdict.
    Line(Style),
    /// One JSON object (schema 1) per verdict.
    Json,
}

/// Runs the scan loop until standard input ends.
pub fn run(
    config: &Config,
    args: &ScanArgs,
    display: Display,
    io: &mut Io<'_>,
    world: &World<'_>,
) -> Result<u8, Failure> {
    let policy = Policy {
        max_status_age: config.max_status_age,
        clock_tolerance: config.clock_tolerance,
        require_holder_binding: config.require_holder_binding,
        slot_skew: config.slot_skew,
    };
    let mut trust = Trust::load(&config.cache_dir, &config.roots)?;
    let client = match (&config.server, args.offline) {
        (Some(server), false) => Some((
            world
                .client(config, config.live_timeout)?
                .with_purpose(args.purpose.clone().or_else(|| config.purpose.clone())),
            server.as_str(),
        )),
        _ => None,
    };
    let log_path = args.log.clone().unwrap_or_else(|| config.scan_log.clone());
    let mut log = open_log(&log_path)?;
    if let Display::Screen(style) = display {
        write_out(io, &ready_screen(style, &log_path))?;
    }
    let mut line = Vec::new();
    let mut scans = 0u64;
    loop {
        line.clear();
        let read = io
            .stdin
            .read_until(b'\n', &mut line)
            .map_err(|e| Failure::Io(format!("reading standard input: {e}")))?;
        if read == 0 {
            return Ok(exit::VALID);
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        scans += 1;
        let now = (world.clock)();
        if cache::current_generation(&config.cache_dir).as_deref() != Some(trust.cache.generation())
            && let Ok(fresh) = Trust::load(&config.cache_dir, &config.roots)
        {
            trust = fresh;
        }
        let live = client
            .as_ref()
            .map(|(client, server)| Live { client, server });
        let verdict = check::check_text(text, &trust, live.as_ref(), &policy, now);
        let shown = match display {
            Display::Screen(style) => screen(&verdict, policy.max_status_age, style, scans),
            Display::Line(style) => one_line(&verdict, policy.max_status_age, style, scans),
            Display::Json => report::to_json(&verdict, policy.max_status_age, Some(scans)) + "\n",
        };
        write_out(io, &shown)?;
        let record = serde_json::to_string(&LogRecord::of(&verdict, scans, now))
            .map_err(|e| Failure::Io(format!("the scan log: {e}")))?;
        writeln!(log, "{record}")
            .map_err(|e| Failure::Io(format!("writing {}: {e}", log_path.display())))?;
    }
}

/// One line of the scan log.
#[derive(Serialize)]
struct LogRecord<'a> {
    at: u64,
    scan: u64,
    verdict: Outcome,
    reason: Option<Reason>,
    credential_id: Option<String>,
    key_id: Option<String>,
    status: StatusValue,
    status_source: StatusSource,
    status_age_seconds: Option<u64>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    notes: &'a [String],
}

impl LogRecord<'_> {
    fn of(verdict: &Verdict, scan: u64, now: UnixTime) -> LogRecord<'_> {
        LogRecord {
            at: now.0,
            scan,
            verdict: verdict.outcome,
            reason: verdict.reason,
            credential_id: verdict
                .credential
                .as_ref()
                .map(|c| c.claims.credential_id.to_string()),
            key_id: verdict.credential.as_ref().map(|c| c.key_id.to_string()),
            status: verdict.status.value,
            status_source: verdict.status.source,
            status_age_seconds: verdict.status.age,
            notes: &verdict.notes,
        }
    }
}

/// Opens the log for appending, creating it (and its folder) with mode 0600.
fn open_log(path: &Path) -> Result<File, Failure> {
    if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder)
            .map_err(|e| Failure::Io(format!("creating {}: {e}", folder.display())))?;
    }
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Failure::Io(format!("opening the scan log {}: {e}", path.display())))
}

fn write_out(io: &mut Io<'_>, text: &str) -> Result<(), Failure> {
    io.stdout
        .write_all(text.as_bytes())
        .and_then(|()| io.stdout.flush())
        .map_err(|e| Failure::Io(format!("writing the verdict: {e}")))
}

/// Clears the screen to `background` (terminals fill erased cells with the current
/// background colour) and homes the cursor.
fn clear(background: &str) -> String {
    format!("\x1b[0m{background}\x1b[2J\x1b[H")
}

fn ready_screen(style: Style, log: &Path) -> String {
    let mut out = if style.colour {
        clear("")
    } else {
        String::new()
    };
    out.push_str(&format!(
        "edl-verify scan: ready. Scan a licence QR code (Ctrl-D to finish).\nChecks are logged to {}\n",
        log.display()
    ));
    out
}

/// The full-screen verdict.
pub fn screen(verdict: &Verdict, max_age: u64, style: Style, scan: u64) -> String {
    let (background, foreground) = match verdict.outcome {
        Outcome::Valid => ("\x1b[42m", "\x1b[1;97m"),
        Outcome::NotValid => ("\x1b[41m", "\x1b[1;97m"),
        Outcome::Indeterminate => ("\x1b[43m", "\x1b[1;30m"),
    };
    let mut out = String::new();
    if style.colour {
        out.push_str(&clear(background));
        out.push_str(foreground);
    } else {
        // Without colours, still start a fresh screen so one verdict never mixes with the
        // last one.
        out.push_str("\x1b[2J\x1b[H");
    }
    // The bell: once for VALID, three times otherwise, so an officer hears the difference.
    out.push_str(match verdict.outcome {
        Outcome::Valid => "\x07",
        _ => "\x07\x07\x07",
    });
    out.push('\n');
    let english = banner::word(verdict.outcome, style.utf8);
    let chinese = if style.utf8 {
        banner::chinese(verdict.outcome)
    } else {
        Vec::new()
    };
    let (first, second) = if style.chinese {
        (chinese, english)
    } else {
        (english, chinese)
    };
    for block in [first, second] {
        for row in block {
            out.push_str("  ");
            out.push_str(&row);
            out.push('\n');
        }
        out.push('\n');
    }
    let mut details = Vec::new();
    let plain = Style {
        colour: false,
        ..style
    };
    // Writing into a Vec cannot fail.
    let _ = report::write_human(&mut details, verdict, max_age, plain);
    out.push_str(&String::from_utf8_lossy(&details));
    out.push_str(&format!(
        "\n  scan {scan} at {}. Scan the next code (Ctrl-D to finish).\n",
        verdict.checked_at
    ));
    if style.colour {
        out.push_str("\x1b[0m");
    }
    out
}

/// One line per verdict, for a scanner piped into a log or another program.
pub fn one_line(verdict: &Verdict, max_age: u64, style: Style, scan: u64) -> String {
    let word = match verdict.outcome {
        Outcome::Valid => "VALID",
        Outcome::NotValid => "NOT VALID",
        Outcome::Indeterminate => "INDETERMINATE",
    };
    let mut line = format!("{scan} {word}: {}", report::text(&verdict.detail, style));
    if let Some(credential) = &verdict.credential {
        let claims = &credential.claims;
        line.push_str(&format!(
            "; {} {} {}",
            report::text(&claims.licence.name, style),
            claims.licence_number.as_str(),
            claims.licence.classes
        ));
    }
    if verdict.status.source != StatusSource::None {
        line.push_str(&format!(
            "; status {}",
            report::status_line(&verdict.status, max_age, verdict.checked_at)
        ));
    }
    line.push('\n');
    line
}
