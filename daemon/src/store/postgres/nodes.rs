//! The nodes sharing one database: each writes its heartbeat every second (the live ones
//! split the cluster's throttle settings), and listens for the throttle changes any node
//! makes (`NOTIFY edl_throttle`, sent by the changing transaction when it commits).

use std::time::Duration;

use deadpool_postgres::Pool;
use tokio_postgres::NoTls;

use super::{db_error, pool_error};
use crate::store::StoreResult;

/// How recent a heartbeat a live node has.
const LIVE_WITHIN_SECONDS: f64 = 5.0;

/// Writes `node`'s heartbeat; returns how many nodes are live. An instance that has left
/// ([`leave`]) is not revived by a beat still in flight when it left.
pub(super) async fn beat(pool: &Pool, node: &str, instance: &[u8; 16]) -> StoreResult<u64> {
    let client = pool.get().await.map_err(pool_error)?;
    let instance = &instance[..];
    let (written, live) = tokio::join!(
        async {
            client
                .execute(
                    "INSERT INTO nodes (name, instance, heartbeat) VALUES ($1, $2, now()) \
                     ON CONFLICT (name) DO UPDATE SET instance = excluded.instance, \
                     heartbeat = now() \
                     WHERE nodes.instance <> excluded.instance \
                     OR nodes.heartbeat > '-infinity'",
                    &[&node, &instance],
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
