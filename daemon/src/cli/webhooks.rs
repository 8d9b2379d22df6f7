//! `edld webhooks add|list|remove|dead|replay`: notification subscriptions, through the
//! running daemon's admin listener (the daemon checks a subscriber's URL where it
//! resolves, against its own listeners, so it must be running).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use base64::Engine as _;
use clap::{Args, Subcommand};
use rand_core::{OsRng, RngCore};
use serde_json::{Value, json};
use ureq::http::Method;

use super::admin::Admin;
use super::{Exit, OperatorKey, daemon_answers, load, rfc3339};
use crate::clock::Clock;
use crate::config::Overrides;

/// `edld webhooks …`.
#[derive(Subcommand)]
pub enum WebhooksCommand {
    /// Subscribe a receiver to events; prints the new subscription's id.
    Add {
        /// The receiver: https://host/path, or http:// on a loopback address.
        #[arg(long)]
        url: String,
        /// Comma-separated events (application.issued, application.rejected,
        /// credential.superseded, credential.revoked, credential.suspended,
        /// credential.reinstated, credential.expiring), or * for all.
        #[arg(long)]
        events: String,
        /// Only the events of applications this client made.
        #[arg(long)]
        client: Option<String>,
        /// The signing secret (`whsec_…`); a new one is written there (mode 0600) when the
        /// file does not exist yet.
        #[arg(long)]
        secret_file: PathBuf,
        #[command(flatten)]
        target: WebhooksTarget,
    },
    /// List the subscriptions with events written, deliveries owed and dead letters.
    List {
        #[command(flatten)]
        target: WebhooksTarget,
    },
    /// Remove a subscription and every delivery still owed to it.
    Remove {
        /// The subscription's id.
        id: String,
        #[command(flatten)]
        target: WebhooksTarget,
    },
    /// List dead letters: deliveries given up after the retry horizon.
    Dead {
        /// Only this subscription's.
        #[arg(long)]
        subscription: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[command(flatten)]
        target: WebhooksTarget,
    },
    /// Deliver again the dead letters of events since TIME (RFC 3339, Unix seconds, or
    /// an age such as 90m, 6h, 2d).
    Replay {
        /// Events from this time on.
        #[arg(long)]
        since: String,
        /// Only this subscription's.
        #[arg(long)]
        subscription: Option<String>,
        #[command(flatten)]
        target: WebhooksTarget,
    },
}

/// Which daemon `edld webhooks` talks to.
#[derive(Args, Clone)]
pub struct WebhooksTarget {
    #[command(flatten)]
    key: OperatorKey,
    /// Configuration (for the admin address and the data directory).
    #[arg(long)]
    config: Option<PathBuf>,
}

/// Runs `edld webhooks …` through the running daemon's admin listener.
pub fn command(command: WebhooksCommand, overrides: &Overrides, clock: Arc<dyn Clock>) -> Exit {
    let target = match &command {
        WebhooksCommand::Add { target, .. }
        | WebhooksCommand::List { target }
        | WebhooksCommand::Remove { target, .. }
        | WebhooksCommand::Dead { target, .. }
        | WebhooksCommand::Replay { target, .. } => target.clone(),
    };
    let config = match load(target.config.as_deref(), overrides) {
        Ok(c) => c,
        Err(exit) => return exit,
    };
    if !daemon_answers(config.admin_listen) {
        eprintln!(
            "edld webhooks: nothing answers on {}: start edld (it checks subscribers' URLs and sends the notifications), or give its --admin-listen address",
            config.admin_listen
        );
        return Exit::TempFail;
    }
    let result = (|| {
        let admin = Admin {
            addr: config.admin_listen,
            key: target.key.resolve(&config.data_dir)?,
        };
        let mut out = std::io::stdout();
        match command {
            WebhooksCommand::Add {
                url,
                events,
                client,
                secret_file,
                ..
            } => {
                if let Some(name) = client.as_deref().filter(|c| !c.starts_with("cert:")) {
                    let known = admin.call(Method::GET, "/admin/v1/clients", None)?;
                    let listed = known["clients"]
                        .as_array()
                        .is_some_and(|all| all.iter().any(|c| c["name"] == name));
                    if !listed {
                        eprintln!(
                            "note: no API client is named {name:?} (edld clients list); the subscription receives the events of applications made by a client of that name"
                        );
                    }
                }
                let secret = secret(&secret_file)?;
                let body =
                    json!({"url": url, "events": [events], "client": client, "secret": secret});
                let added = admin.call(Method::POST, "/admin/v1/webhooks", Some(&body))?;
                eprintln!(
                    "subscribed {} to {}",
                    added["url"].as_str().unwrap_or_default(),
                    names(&added["events"])
                );
                println!("{}", added["id"].as_str().unwrap_or_default());
            }
            WebhooksCommand::List { .. } => {
                let list = admin.call(Method::GET, "/admin/v1/webhooks", None)?;
                print_subscriptions(&list["subscriptions"], clock.now().0, &mut out)?;
            }
            WebhooksCommand::Remove { id, .. } => {
                let path = format!("/admin/v1/webhooks/{}", segment(&id)?);
                let removed = admin.call(Method::DELETE, &path, None)?;
                println!(
                    "removed {} ({})",
                    removed["removed"]["id"].as_str().unwrap_or_default(),
                    removed["removed"]["url"].as_str().unwrap_or_default()
                );
            }
            WebhooksCommand::Dead {
                subscription,
                limit,
                ..
            } => {
                let mut path = format!("/admin/v1/webhooks/dead-letters?limit={limit}");
                if let Some(s) = subscription {
                    path.push_str(&format!("&subscription={}", segment(&s)?));
                }
                let dead = admin.call(Method::GET, &path, None)?;
                print_dead(&dead["dead_letters"], &mut out)?;
            }
            WebhooksCommand::Replay {
                since,
                subscription,
                ..
            } => {
                let since = parse_since(&since, clock.now().0)?;
                let body = json!({"since": since, "subscription": subscription});
                let replayed =
                    admin.call(Method::POST, "/admin/v1/webhooks/replay", Some(&body))?;
                println!(
                    "replaying {} dead letters of events since {}",
                    replayed["replayed"].as_u64().unwrap_or(0),
                    rfc3339(since)
                );
            }
        }
        anyhow::Ok(())
    })();
    match result {
        Ok(()) => Exit::Success,
        Err(e) => {
            eprintln!("edld webhooks: {e:#}");
            Exit::Software
        }
    }
}

/// The secret in `path`, or a new one written there (mode 0600) if the file is missing.
fn secret(path: &Path) -> anyhow::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text.trim().to_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut bytes = [0u8; 32];
            OsRng.fill_bytes(&mut bytes);
            let secret = format!(
                "whsec_{}",
                base64::engine::general_purpose::STANDARD.encode(bytes)
            );
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .with_context(|| format!("creating {}", path.display()))?;
            writeln!(file, "{secret}")?;
            file.sync_all()?;
            eprintln!(
                "wrote a new secret to {} (give it to the receiver)",
                path.display()
            );
            Ok(secret)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// `--since`: RFC 3339, Unix seconds, or an age (`90m`, `6h`, `2d`, `30s`) before `now`.
fn parse_since(text: &str, now: u64) -> anyhow::Result<u64> {
    let text = text.trim();
    if let Ok(unix) = text.parse::<u64>() {
        return Ok(unix);
    }
    if let Some((unit, digits)) = text
        .chars()
        .last()
        .map(|u| (u, &text[..text.len() - u.len_utf8()]))
        .filter(|(_, d)| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
    {
        let scale = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3_600,
            'd' => 86_400,
            _ => anyhow::bail!("--since {text:?}: an age ends in s, m, h or d"),
        };
        let n: u64 = digits.parse().context("--since: too large")?;
        return Ok(now.saturating_sub(n.saturating_mul(scale)));
    }
    let at = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .with_context(|| {
            format!("--since {text:?}: give RFC 3339, Unix seconds, or an age such as 6h")
        })?;
    u64::try_from(at.unix_timestamp()).context("--since before 1970")
}

/// A path segment: ids are hex, so anything else is refused rather than encoded.
fn segment(id: &str) -> anyhow::Result<&str> {
    anyhow::ensure!(
        !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric()),
        "{id:?} is not a subscription id"
    );
    Ok(id)
}

fn names(events: &Value) -> String {
    events
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

/// Prints subscriptions as a table.
fn print_subscriptions(list: &Value, now: u64, out: &mut impl Write) -> anyhow::Result<()> {
    writeln!(
        out,
        "{:<16} {:>8} {:>8} {:>6} {:>9}  {:<12} {:<40} EVENTS",
        "ID", "WRITTEN", "PENDING", "DEAD", "OLDEST", "CLIENT", "URL"
    )?;
    for s in list.as_array().map(Vec::as_slice).unwrap_or_default() {
        let oldest = s["oldest_pending_at"]
            .as_u64()
            .map_or_else(|| "-".to_owned(), |t| format!("{}s", now.saturating_sub(t)));
        writeln!(
            out,
            "{:<16} {:>8} {:>8} {:>6} {:>9}  {:<12} {:<40} {}",
            s["id"].as_str().unwrap_or_default(),
            s["written"].as_u64().unwrap_or(0),
            s["pending"].as_u64().unwrap_or(0),
            s["dead"].as_u64().unwrap_or(0),
            oldest,
            s["client"].as_str().unwrap_or("*"),
            s["url"].as_str().unwrap_or_default(),
            names(&s["events"]),
        )?;
    }
    Ok(())
}

/// Prints dead letters as a table.
fn print_dead(list: &Value, out: &mut impl Write) -> anyhow::Result<()> {
    writeln!(
        out,
        "{:<16} {:<20} {:<22} {:<18} {:<20} {:>8}  LAST ERROR",
        "SUBSCRIPTION", "WEBHOOK-ID", "TYPE", "LICENCE", "AT", "ATTEMPTS"
    )?;
    for d in list.as_array().map(Vec::as_slice).unwrap_or_default() {
        writeln!(
            out,
            "{:<16} {:<20} {:<22} {:<18} {:<20} {:>8}  {}",
            d["subscription"].as_str().unwrap_or_default(),
            d["webhook_id"].as_str().unwrap_or_default(),
            d["type"].as_str().unwrap_or_default(),
            d["licence"].as_str().unwrap_or_default(),
            d["at"].as_u64().map(rfc3339).unwrap_or_default(),
            d["attempts"].as_u64().unwrap_or(0),
            d["last_error"].as_str().unwrap_or("-"),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_reads_unix_seconds_ages_and_rfc3339() {
        let now = 1_800_000_000;
        assert_eq!(parse_since("1700000000", now).unwrap(), 1_700_000_000);
        assert_eq!(parse_since("90m", now).unwrap(), now - 5_400);
        assert_eq!(parse_since("2d", now).unwrap(), now - 172_800);
        assert_eq!(
            parse_since("2026-12-06T00:00:00Z", now).unwrap(),
            1_796_515_200
        );
        assert!(parse_since("yesterday", now).is_err());
        assert!(parse_since("5w", now).is_err());
    }

    #[test]
    fn a_missing_secret_file_gets_a_new_secret_readable_only_by_its_owner() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hook.secret");
        let made = secret(&path).unwrap();
        assert!(crate::domain::notify::Secret::parse(&made).is_ok());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(secret(&path).unwrap(), made, "read back as written");
    }
}
