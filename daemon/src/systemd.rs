//! systemd integration: `READY=1` once the listeners are bound and the store is open,
//! watchdog pings while the service is healthy, and `STOPPING=1` when draining starts.
//! Outside systemd (no `NOTIFY_SOCKET`) every call does nothing.

use std::time::Duration;

use sd_notify::NotifyState;

/// Tells systemd the daemon is serving.
pub(crate) fn ready() {
    send(&[NotifyState::Ready]);
}

/// Tells systemd the daemon is draining.
pub(crate) fn stopping() {
    send(&[NotifyState::Stopping]);
}

/// The watchdog interval systemd asked for, if any. Pings go out at half of it.
pub(crate) fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled()
}

/// Pings the watchdog every half interval while `healthy()` holds, until `stop` resolves.
/// A daemon whose check fails stops pinging and is restarted by systemd.
pub(crate) async fn watchdog(
    healthy: impl Fn() -> bool,
    stop: impl std::future::Future<Output = ()>,
) {
    let Some(interval) = watchdog_interval() else {
        stop.await;
        return;
    };
    let mut ticker = tokio::time::interval(interval / 2);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = ticker.tick() => {
                if healthy() {
                    send(&[NotifyState::Watchdog]);
                } else {
                    tracing::warn!("health check failed: withholding the watchdog ping");
                }
            }
        }
    }
}

fn send(state: &[NotifyState]) {
    if let Err(error) = sd_notify::notify(state) {
        tracing::warn!(%error, "could not notify systemd");
    }
}
