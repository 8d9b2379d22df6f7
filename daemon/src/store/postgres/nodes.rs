//! The nodes sharing one database: each writes its heartbeat every second (the live ones
//! split the cluster's throttle settings), and listens for the throttle changes any node
//! makes (`NOTIFY edl_throttle`, sent by the changing transaction when it commits). With
//! the heartbeat, each node reads the primary's replication (`pg_stat_replication`).

use std::time::Duration;

use deadpool_postgres::Pool;
use tokio_postgres::NoTls;
use tokio_postgres::types::Json;

use super::{db_error, pool_error};
use crate::store::{NodeReport, NodeState, StoreResult};

/// The primary's standbys as `pg_stat_replication` shows them.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Replication {
    /// Standbys streaming from the primary.
    pub standbys: u64,
    /// Of those, the ones a commit waits for (`sync_state` `sync` or `quorum`).
    pub synchronous: u64,
    /// The worst standby's replay lag, seconds (0 when none lags, or there is none).
    pub lag_seconds: f64,
}

impl Replication {
    /// As `/readyz` shows it.
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "standbys": self.standbys,
            "synchronous": self.synchronous,
            "lag_seconds": self.lag_seconds,
        })
    }
}

/// Reads the primary's replication. Without the `pg_monitor` role (or superuser) the
/// server hides each standby's `sync_state` and lags from the edld user: the standbys are
/// still counted, but none as synchronous. `replay_lag` is NULL once a standby has
/// replayed everything and the primary is idle: no lag.
pub(super) async fn replication(pool: &Pool) -> StoreResult<Replication> {
    let client = pool.get().await.map_err(pool_error)?;
    let row = client
        .query_one(
            "SELECT count(*), \
             count(*) FILTER (WHERE sync_state IN ('sync', 'quorum')), \
             coalesce(max(extract(epoch FROM replay_lag)), 0)::float8 \
             FROM pg_stat_replication",
            &[],
        )
        .await
        .map_err(db_error)?;
    let standbys: i64 = row.try_get(0).map_err(db_error)?;
    let synchronous: i64 = row.try_get(1).map_err(db_error)?;
    let lag_seconds: f64 = row.try_get(2).map_err(db_error)?;
    Ok(Replication {
        standbys: standbys.max(0) as u64,
        synchronous: synchronous.max(0) as u64,
        lag_seconds: lag_seconds.max(0.0),
    })
}

/// How recent a heartbeat a live node has.
const LIVE_WITHIN_SECONDS: f64 = 5.0;

/// Writes `node`'s heartbeat with the figures it publishes; returns how many nodes are
/// live. An instance that has left ([`leave`]) is not revived by a beat still in flight
/// when it left.
pub(super) async fn beat(
    pool: &Pool,
    node: &str,
    instance: &[u8; 16],
    figures: &serde_json::Value,
) -> StoreResult<u64> {
    let client = pool.get().await.map_err(pool_error)?;
    let instance = &instance[..];
    let figures = Json(figures);
    let (written, live) = tokio::join!(
        async {
            client
                .execute(
                    "INSERT INTO nodes (name, instance, heartbeat, figures) \
                     VALUES ($1, $2, now(), $3) \
                     ON CONFLICT (name) DO UPDATE SET instance = excluded.instance, \
                     heartbeat = now(), figures = excluded.figures \
                     WHERE nodes.instance <> excluded.instance \
                     OR nodes.heartbeat > '-infinity'",
                    &[&node, &instance, &figures],
                )
                .await
        },
        async {
            client
                .query_one(
                    "SELECT count(*) FROM nodes \
                     WHERE heartbeat > now() - make_interval(secs => $1)",
                    &[&LIVE_WITHIN_SECONDS],
                )
                .await
        },
    );
    written.map_err(db_error)?;
    let n: i64 = live.map_err(db_error)?.try_get(0).map_err(db_error)?;
    Ok(n.max(1) as u64)
}

/// Every node that has beaten on this database, by name, with the figures it last
/// published. Ages are the database's own clock's, so the nodes' clocks need not agree.
pub(super) async fn list(pool: &Pool, instance: &[u8; 16]) -> StoreResult<Vec<NodeReport>> {
    let client = pool.get().await.map_err(pool_error)?;
    let rows = client
        .query(
            "SELECT name, instance = $1, \
             CASE WHEN heartbeat = '-infinity' THEN NULL \
             ELSE extract(epoch FROM now() - heartbeat)::float8 END, figures \
             FROM nodes ORDER BY name",
            &[&&instance[..]],
        )
        .await
        .map_err(db_error)?;
    rows.iter()
        .map(|row| {
            let silent_for: Option<f64> = row.try_get(2).map_err(db_error)?;
            let Json(figures): Json<serde_json::Value> = row.try_get(3).map_err(db_error)?;
            Ok(NodeReport {
                name: row.try_get(0).map_err(db_error)?,
                this: row.try_get(1).map_err(db_error)?,
                state: match silent_for {
                    None => NodeState::Left,
                    Some(s) if s <= LIVE_WITHIN_SECONDS => NodeState::Live,
                    Some(_) => NodeState::Silent,
                },
                silent_for: silent_for.map(|s| s.max(0.0)),
                figures,
            })
        })
        .collect()
}

/// Listens for throttle changes on a connection of its own (`LISTEN` needs one held
/// open), bumping `changes` at each notification and after each (re)connection (one may
/// have been missed meanwhile). Reconnects every second while the database is away.
pub(super) async fn listen(
    config: tokio_postgres::Config,
    changes: tokio::sync::watch::Sender<u64>,
) {
    loop {
        if let Ok((client, mut connection)) = config.connect(NoTls).await {
            let (heard, mut hear) = tokio::sync::mpsc::unbounded_channel();
            // Polling the connection drives it and yields its notifications.
            let driver = tokio::spawn(async move {
                while let Some(Ok(message)) =
                    std::future::poll_fn(|cx| connection.poll_message(cx)).await
                {
                    if matches!(message, tokio_postgres::AsyncMessage::Notification(_)) {
                        let _ = heard.send(());
                    }
                }
            });
            if client.batch_execute("LISTEN edl_throttle").await.is_ok() {
                changes.send_modify(|n| *n += 1);
                while hear.recv().await.is_some() {
                    changes.send_modify(|n| *n += 1);
                }
            }
            driver.abort();
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Marks this instance of `node` as gone (its heartbeat at minus infinity), so the others
/// stop counting it at once. A tombstone rather than a delete: a heartbeat sent before the
/// node closed but run by the server after this would otherwise bring the row back as live
/// for several seconds. The same name with a new instance (a restart) beats again.
pub(super) async fn leave(pool: &Pool, node: &str, instance: &[u8; 16]) -> StoreResult<()> {
    let client = pool.get().await.map_err(pool_error)?;
    client
        .execute(
            "UPDATE nodes SET heartbeat = '-infinity' WHERE name = $1 AND instance = $2",
            &[&node, &&instance[..]],
        )
        .await
        .map_err(db_error)?;
    Ok(())
}
