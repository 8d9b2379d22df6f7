//! `edld clients add|list|revoke`: through the admin listener's client API while the
//! daemon runs, and otherwise on the data directory itself ([`Clients::Offline`]), which is
//! how the first operator key of a new installation is made.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::Value;
use ureq::http::Method;

use super::admin::Admin;
use super::{Exit, OperatorKey, daemon_answers, load};
use crate::clock::Clock;
use crate::config::Overrides;
use crate::domain::access::{ApiClient, Caller, Role};
use crate::domain::audit::AuditRecord;
use crate::service::clients::ApiClients;
use crate::store::Store;
use crate::store::sled::SledStore;

/// `edld clients …`.
#[derive(Subcommand)]
pub enum ClientsCommand {
    /// Add a client and print its new API key (shown this once; only a hash is kept).
    Add {
        /// A unique name: letters, digits, '.', '_', '-' or '@'.
        #[arg(long)]
        name: String,
        /// gateway, window, reviewer, registry, officer, insurer, rental, employer or
        /// operator.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[command(flatten)]
        target: ClientsTarget,
    },
    /// List the clients: name, role, when added.
    List {
        #[command(flatten)]
        target: ClientsTarget,
    },
    /// Revoke a client's API key: refused from then on.
    Revoke {
        /// The client's name.
        name: String,
        #[command(flatten)]
        target: ClientsTarget,
    },
}

/// Which daemon or data directory `edld clients` works on.
#[derive(Args, Clone)]
pub struct ClientsTarget {
    #[command(flatten)]
    key: OperatorKey,
    /// Configuration (for the admin address and the data directory).
    #[arg(long)]
    config: Option<PathBuf>,
}

fn parse_role(name: &str) -> Result<Role, String> {
    Role::from_name(name).ok_or_else(|| {
        let names = Role::ALL.map(Role::as_str);
        format!("one of {}", names.join(", "))
    })
}

/// Runs `edld clients …` through the running daemon's admin listener when something
/// answers there, otherwise on the data directory; `clock` dates the changes made offline.
pub fn command(command: ClientsCommand, overrides: &Overrides, clock: Arc<dyn Clock>) -> Exit {
    let target = match &command {
        ClientsCommand::Add { target, .. }
        | ClientsCommand::List { target }
        | ClientsCommand::Revoke { target, .. } => target.clone(),
    };
    let config = match load(target.config.as_deref(), overrides) {
        Ok(c) => c,
        Err(exit) => return exit,
    };
    let now = clock.now();
    let result = (|| {
        let clients = if daemon_answers(config.admin_listen) {
            Clients::Daemon(Admin {
                addr: config.admin_listen,
                key: target.key.resolve(&config.data_dir)?,
            })
        } else {
            eprintln!(
                "edld clients: nothing answers on {}: working on {} directly",
                config.admin_listen,
                config.data_dir.display()
            );
            let user = std::env::var("USER").unwrap_or_else(|_| "unknown".to_owned());
            Clients::Offline {
                data_dir: config.data_dir.clone(),
                client: format!("local:{user}"),
            }
        };
        let mut out = std::io::stdout();
        match command {
            ClientsCommand::Add { name, role, .. } => {
                let (client, key) = clients.add(&name, role, now)?;
                eprintln!(
                    "added {} ({}); its API key, shown this once:",
                    client.name,
                    client.role.as_str()
                );
                println!("{key}");
            }
            ClientsCommand::List { .. } => print_clients(&clients.list()?, &mut out)?,
            ClientsCommand::Revoke { name, .. } => {
                let client = clients.revoke(&name, now)?;
                println!("revoked {} ({})", client.name, client.role.as_str());
            }
        }
        anyhow::Ok(())
    })();
    match result {
        Ok(()) => Exit::Success,
        Err(e) => {
            eprintln!("edld clients: {e:#}");
            Exit::Software
        }
    }
}

/// Where `edld clients` makes its changes.
pub enum Clients {
    /// The running daemon, through its admin listener.
    Daemon(Admin),
    /// A stopped daemon's data directory, opened directly; changes are audited as made by
    /// `client` (`local:<user>`).
    Offline {
        /// The data directory.
        data_dir: PathBuf,
        /// Who is recorded in the audit log.
        client: String,
    },
}

impl Clients {
    /// Adds a client; returns it and its new API key.
    pub fn add(
        &self,
        name: &str,
        role: Role,
        now: keys::UnixTime,
    ) -> anyhow::Result<(ApiClient, String)> {
        match self {
            Clients::Daemon(admin) => {
                let body = serde_json::json!({"name": name, "role": role.as_str()});
                let reply = admin.call(Method::POST, "/admin/v1/clients", Some(&body))?;
                let key = reply["api_key"]
                    .as_str()
                    .context("the daemon's answer holds no api_key")?
                    .to_owned();
                Ok((client_from_json(&reply)?, key))
            }
            Clients::Offline { data_dir, client } => {
                std::fs::create_dir_all(data_dir)
                    .with_context(|| format!("creating {}", data_dir.display()))?;
                offline(data_dir, async |store, clients| {
                    let (stored, key) = clients.prepare(name, role, now)?;
                    let detail = format!("{name} {}", role.as_str());
                    let audit = offline_audit(client, now, "client.add", &detail);
                    let added = stored.client.clone();
                    store.add_clients(vec![stored], vec![audit]).await?;
                    Ok((added, key))
                })
            }
        }
    }

    /// Every client.
    pub fn list(&self) -> anyhow::Result<Vec<ApiClient>> {
        match self {
            Clients::Daemon(admin) => {
                let reply = admin.call(Method::GET, "/admin/v1/clients", None)?;
                reply["clients"]
                    .as_array()
                    .context("the daemon's answer holds no clients")?
                    .iter()
                    .map(client_from_json)
                    .collect()
            }
            Clients::Offline { data_dir, .. } => {
                anyhow::ensure!(data_dir.exists(), "{} does not exist", data_dir.display());
                offline(data_dir, async |_, clients| Ok(clients.list()))
            }
        }
    }

    /// Revokes a client's key.
    pub fn revoke(&self, name: &str, now: keys::UnixTime) -> anyhow::Result<ApiClient> {
        match self {
            Clients::Daemon(admin) => {
                let path = format!("/admin/v1/clients/{}", percent_encode(name));
                let reply = admin.call(Method::DELETE, &path, None)?;
                client_from_json(&reply["revoked"])
            }
            Clients::Offline { data_dir, client } => {
                anyhow::ensure!(data_dir.exists(), "{} does not exist", data_dir.display());
                offline(data_dir, async |store, clients| {
                    let role = clients
                        .get(name)
                        .map(|c| c.role)
                        .with_context(|| format!("no client named {name:?}"))?;
                    let detail = format!("{name} {}", role.as_str());
                    let audit = offline_audit(client, now, "client.revoke", &detail);
                    Ok(store.revoke_client(name, audit).await?)
                })
            }
        }
    }
}

/// Prints clients as a table.
pub fn print_clients(clients: &[ApiClient], out: &mut impl Write) -> anyhow::Result<()> {
    writeln!(out, "{:<32} {:<10} ADDED", "NAME", "ROLE")?;
    for c in clients {
        let added = c
            .created_at
            .map_or_else(|| "-".to_owned(), |t| super::rfc3339(t.0));
        writeln!(out, "{:<32} {:<10} {added}", c.name, c.role.as_str())?;
    }
    Ok(())
}

fn client_from_json(value: &Value) -> anyhow::Result<ApiClient> {
    serde_json::from_value(value.clone()).context("a client in the daemon's answer")
}

/// Runs `work` on a stopped daemon's data directory: its store and API clients.
fn offline<T>(
    data_dir: &Path,
    work: impl AsyncFnOnce(&SledStore, ApiClients) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let store = SledStore::open(data_dir, None).with_context(|| {
        format!(
            "opening {} (if edld runs on it, give its --admin-listen address)",
            data_dir.display()
        )
    })?;
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    runtime.block_on(async {
        let clients = ApiClients::new(store.clients().await?);
        let result = work(&store, clients).await;
        store.close().await?;
        result
    })
}

/// The audit record of a change made on the data directory by `client`.
fn offline_audit(client: &str, now: keys::UnixTime, action: &str, detail: &str) -> AuditRecord {
    let caller = Caller {
        client: client.to_owned(),
        role: Role::Operator,
    };
    AuditRecord::change(&caller, now, action, None, Some(detail))
}

/// Percent-encodes a path segment (client names are plain, but stay safe).
fn percent_encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~@".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
