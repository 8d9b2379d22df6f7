//! Serving a router on a TCP listener: optional TLS 1.3 (rustls, ring provider) with
//! optional client certificates, HTTP/1.1 with a header-read timeout and a cap on the
//! request head, TCP_NODELAY, and a graceful stop that finishes in-flight requests. Every
//! connection task is tracked and drained. On the public listener a connection that opens
//! with an issuance request is served on the issuance runtime (`first_request`).
//!
//! **Timeouts.** A client has `handshake_timeout` to finish its TLS handshake and
//! `header_timeout` to send each request's line and headers (also while a kept-alive
//! connection idles); hyper enforces the latter only because a timer is installed. A
//! write to the connection that cannot go on for `write_timeout` (a client that stopped
//! reading its answer) closes it. The request body's timeout and size limit are enforced
//! per route in `http`.

use std::convert::Infallible;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::response::Response;
use hyper::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::config::TlsFiles;
use crate::http::first_request::{IssuanceRoutes, classify};
use crate::http::identity::CertificateRoles;
use crate::http::live::{LiveStatus, Serve};

/// How long in-flight requests get after a stop before connections are cut.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// hyper's own cap on a request's line and headers: beyond it hyper answers a bare 431
/// and closes. `limits.max_header_bytes` (at most 60 KiB) sits below it, so ordinary
/// oversized heads get our problem+json 431 from `http`.
const HEAD_CAP: usize = 64 * 1024;

/// How one listener serves.
#[derive(Clone)]
pub(crate) struct ServeOptions {
    /// TLS, for the public listener when configured.
    pub tls: Option<Tls>,
    /// Time to send each request's head.
    pub header_timeout: Duration,
    /// Time to finish the TLS handshake.
    pub handshake_timeout: Duration,
    /// Time a write may wait for the client to read.
    pub write_timeout: Duration,
    /// Where connections that open with an issuance request are served (the public
    /// listener's; none serves every connection here).
    pub issuance: Option<IssuanceServing>,
    /// Threads of their own that serve the connections, each connection start to finish
    /// on one of them; none serves them on the runtime that accepts.
    pub threads: usize,
    /// Live status answered without the router (`http::live`), on the public listener.
    pub live: Option<LiveStatus>,
}

/// The issuance runtime and the routes whose connections it serves.
#[derive(Clone)]
pub(crate) struct IssuanceServing {
    /// The issuance runtime.
    pub runtime: tokio::runtime::Handle,
    /// The issuance routes.
    pub routes: Arc<IssuanceRoutes>,
}

/// A TLS acceptor and what its client certificates stand for.
#[derive(Clone)]
pub(crate) struct Tls {
    /// TLS 1.3 only.
    pub acceptor: TlsAcceptor,
    /// Maps verified client certificates to callers.
    pub client_roles: Arc<CertificateRoles>,
}

/// A TLS 1.3-only acceptor from the configured files. With client certificates
/// configured, rustls verifies any certificate a client sends against the client CA
/// (chain, validity, client-auth usage) and refuses the handshake when it fails; clients
/// that send none are let through to authenticate with an API key.
pub(crate) fn tls(files: &TlsFiles) -> anyhow::Result<Tls> {
    let (cert, key) = (&files.cert, &files.key);
    let certs = read_certificates(cert)?;
    let key =
        PrivateKeyDer::from_pem_file(key).with_context(|| format!("reading {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .context("TLS 1.3 with the ring provider")?;
    let (builder, client_roles) = match &files.clients {
        None => (builder.with_no_client_auth(), CertificateRoles::default()),
        Some(clients) => {
            let mut roots = rustls::RootCertStore::empty();
            for ca in read_certificates(&clients.ca)? {
                roots
                    .add(ca)
                    .with_context(|| format!("{}: not a CA certificate", clients.ca.display()))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .allow_unauthenticated()
            .build()
            .with_context(|| format!("client CA {}", clients.ca.display()))?;
            (
                builder.with_client_cert_verifier(verifier),
                CertificateRoles::new(clients.map.clone()),
            )
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .context("certificate and key do not match")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Tls {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        client_roles: Arc::new(client_roles),
    })
}

fn read_certificates(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("reading {}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing {}", path.display()))?;
    anyhow::ensure!(!certs.is_empty(), "{} holds no certificate", path.display());
    Ok(certs)
}

/// Serves `router` until `stop` turns true, then lets in-flight requests finish.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    options: ServeOptions,
    mut stop: watch::Receiver<bool>,
) {
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(options.header_timeout)
        .max_header_size(HEAD_CAP)
        .keep_alive(true);
    let threads = match options.threads {
        0 => None,
        n => match ConnectionThreads::start(n) {
            Ok(threads) => Some(threads),
            Err(e) => {
                tracing::warn!(error = %e, "starting the connection threads failed; connections are served on the async workers");
                None
            }
        },
    };
    loop {
        // Reap finished connection tasks so the set stays small.
        while connections.try_join_next().is_some() {}
        let accepted = tokio::select! {
            _ = stopped(&mut stop) => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, _peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and similar: back off briefly instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let serving = Connection {
            http: http.clone(),
            watcher: graceful.watcher(),
            router: router.clone(),
            options: options.clone(),
        };
        match threads.as_ref().and_then(ConnectionThreads::least_busy) {
            None => {
                connections.spawn(serving.run(stream));
            }
            Some(thread) => match stream.into_std() {
                // Moved out of this runtime's reactor, registered with the thread's.
                Ok(stream) => {
                    connections.spawn(thread.run(async move {
                        match tokio::net::TcpStream::from_std(stream) {
                            Ok(stream) => serving.run(stream).await,
                            Err(e) => tracing::warn!(error = %e, "registering a connection failed"),
                        }
                    }));
                }
                Err(e) => tracing::warn!(error = %e, "handing a connection over failed"),
            },
        }
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("in-flight requests did not finish in time; closing their connections");
    }
    connections.abort_all();
    while connections.join_next().await.is_some() {}
    if let Some(threads) = threads {
        let _ = tokio::task::spawn_blocking(move || threads.stop()).await;
    }
}

/// What serving one accepted connection needs.
struct Connection {
    http: hyper::server::conn::http1::Builder,
    watcher: Watcher,
    router: Router,
    options: ServeOptions,
}

impl Connection {
    /// The TLS handshake if configured, then HTTP/1.1 until the client or a stop closes it.
    async fn run(self, stream: tokio::net::TcpStream) {
        let Connection {
            http,
            watcher,
            router,
            options,
        } = self;
        let (issuance, header_timeout, live) =
            (options.issuance, options.header_timeout, options.live);
        // Under TLS too: a TLS write is a write to this stream.
        let mut stream = tokio_io_timeout::TimeoutStream::new(stream);
        stream.set_write_timeout(Some(options.write_timeout));
        let stream = Box::pin(stream);
        let Some(tls) = options.tls else {
            let service = Serve::new(router, live, None);
            return dispatch(stream, service, http, watcher, issuance, header_timeout).await;
        };
        let stream = match tokio::time::timeout(
            options.handshake_timeout,
            tls.acceptor.accept(stream),
        )
        .await
        {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "TLS handshake refused");
                return;
            }
            Err(_) => {
                tracing::debug!("TLS handshake timed out");
                return;
            }
        };
        // The certificate rustls verified, read once for the connection.
        let identity = stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|cert| tls.client_roles.identify(cert.as_ref()));
        let service = Serve::new(router, live, identity);
        dispatch(stream, service, http, watcher, issuance, header_timeout).await;
    }
}

/// Single-threaded runtimes, one per thread, that serve connections: each connection's
/// reads, TLS, HTTP and handler run start to finish on one thread, as nginx's workers do,
/// instead of moving between the async workers (a wake-up of another core for each
/// event it steals). A connection goes to the thread serving the fewest.
struct ConnectionThreads {
    threads: Vec<ConnectionThread>,
}

struct ConnectionThread {
    handle: tokio::runtime::Handle,
    /// Connections it serves now.
    serving: Arc<AtomicUsize>,
    /// Dropped to stop it.
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ConnectionThreads {
    fn start(n: usize) -> std::io::Result<ConnectionThreads> {
        let threads = (0..n)
            .map(|i| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                let handle = runtime.handle().clone();
                let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
                let thread = std::thread::Builder::new()
                    .name(format!("edld-conn{i}"))
                    .spawn(move || {
                        let _ = runtime.block_on(stopped);
                        // Whatever still runs is cancelled here, where blocking is allowed.
                        drop(runtime);
                    })?;
                Ok(ConnectionThread {
                    handle,
                    serving: Arc::new(AtomicUsize::new(0)),
                    stop: Some(stop),
                    thread: Some(thread),
                })
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(ConnectionThreads { threads })
    }

    /// The thread serving the fewest connections.
    fn least_busy(&self) -> Option<&ConnectionThread> {
        self.threads
            .iter()
            .min_by_key(|t| t.serving.load(Ordering::Relaxed))
    }

    /// Stops the threads, cancelling what they still serve, and waits for them.
    fn stop(mut self) {
        for t in &mut self.threads {
            t.stop.take();
        }
        for t in &mut self.threads {
            if let Some(thread) = t.thread.take() {
                let _ = thread.join();
            }
        }
    }
}

impl Drop for ConnectionThreads {
    fn drop(&mut self) {
        for t in &mut self.threads {
            t.stop.take();
        }
    }
}

impl ConnectionThread {
    /// Runs `connection` on this thread; completes when it does, and cancels it when
    /// dropped.
    fn run(
        &self,
        connection: impl Future<Output = ()> + Send + 'static,
    ) -> impl Future<Output = ()> + Send + 'static {
        self.serving.fetch_add(1, Ordering::Relaxed);
        let serving = Serving(self.serving.clone());
        let mut task = AbortOnDrop(self.handle.spawn(async move {
            let _serving = serving;
            connection.await;
        }));
        async move {
            let _ = (&mut task.0).await;
        }
    }
}

/// Counts a connection a thread serves until dropped (also when it is cancelled).
struct Serving(Arc<AtomicUsize>);

impl Drop for Serving {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A task that is aborted when its handle is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Serves one connection: on the issuance runtime when `issuance` is given and its first
/// request asks for an issuance route, here otherwise.
async fn dispatch<I, S>(
    io: I,
    service: S,
    http: hyper::server::conn::http1::Builder,
    watcher: Watcher,
    issuance: Option<IssuanceServing>,
    header_timeout: Duration,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: tower::Service<Request<Incoming>, Response = Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let Some(issuance) = issuance else {
        return run_connection(io, service, http, watcher).await;
    };
    let Some((io, on_issuance)) = classify(io, &issuance.routes, header_timeout).await else {
        return;
    };
    if on_issuance {
        let _ = issuance
            .runtime
            .spawn(run_connection(io, service, http, watcher))
            .await;
    } else {
        run_connection(io, service, http, watcher).await;
    }
}

async fn run_connection<I, S>(
    io: I,
    service: S,
    http: hyper::server::conn::http1::Builder,
    watcher: Watcher,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: tower::Service<Request<Incoming>, Response = Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let conn = http.serve_connection(TokioIo::new(io), TowerToHyperService::new(service));
    let _ = watcher.watch(conn).await;
}

/// Completes once `stop` turns true (or its sender is gone).
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The name of the thread a task ran on, and a way to let it finish.
    fn parked() -> (
        impl Future<Output = ()> + Send + 'static,
        tokio::sync::oneshot::Receiver<String>,
        tokio::sync::oneshot::Sender<()>,
    ) {
        let (name_tx, name_rx) = tokio::sync::oneshot::channel();
        let (finish_tx, finish_rx) = tokio::sync::oneshot::channel::<()>();
        let task = async move {
            let name = std::thread::current().name().unwrap_or("").to_owned();
            let _ = name_tx.send(name);
            let _ = finish_rx.await;
        };
        (task, name_rx, finish_tx)
    }

    fn serving(threads: &ConnectionThreads) -> Vec<usize> {
        threads
            .threads
            .iter()
            .map(|t| t.serving.load(Ordering::SeqCst))
            .collect()
    }

    async fn settled(threads: &ConnectionThreads, expected: &[usize]) {
        for _ in 0..500 {
            if serving(threads) == expected {
                return;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        assert_eq!(serving(threads), expected);
    }

    #[tokio::test]
    async fn connections_go_to_the_least_busy_thread_and_run_there_to_the_end() {
        let threads = ConnectionThreads::start(2).unwrap();
        let (a, a_thread, a_finish) = parked();
        let first = tokio::spawn(threads.least_busy().unwrap().run(a));
        let (b, b_thread, b_finish) = parked();
        let second = tokio::spawn(threads.least_busy().unwrap().run(b));
        let (a_thread, b_thread) = (a_thread.await.unwrap(), b_thread.await.unwrap());
        assert!(a_thread.starts_with("edld-conn"), "{a_thread}");
        assert!(b_thread.starts_with("edld-conn"), "{b_thread}");
        assert_ne!(a_thread, b_thread, "one connection on each thread");
        assert_eq!(serving(&threads), [1, 1]);

        // A finished connection is no longer counted; the next goes where it was.
        a_finish.send(()).unwrap();
        first.await.unwrap();
        settled(&threads, &[0, 1]).await;
        let (c, c_thread, c_finish) = parked();
        let third = tokio::spawn(threads.least_busy().unwrap().run(c));
        assert_eq!(c_thread.await.unwrap(), a_thread);

        b_finish.send(()).unwrap();
        c_finish.send(()).unwrap();
        second.await.unwrap();
        third.await.unwrap();
        settled(&threads, &[0, 0]).await;
        tokio::task::spawn_blocking(move || threads.stop())
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_dropped_connection_is_cancelled_on_its_thread_and_uncounted() {
        let threads = ConnectionThreads::start(1).unwrap();
        let (task, thread, _never) = parked();
        // Dropped with the task: tells that the connection's future was dropped.
        let (dropped_tx, dropped_rx) = tokio::sync::oneshot::channel::<()>();
        let connection = async move {
            let _dropped = dropped_tx;
            task.await;
        };
        let waiting = tokio::spawn(threads.least_busy().unwrap().run(connection));
        thread.await.unwrap();
        assert_eq!(serving(&threads), [1]);
        waiting.abort();
        assert!(waiting.await.unwrap_err().is_cancelled());
        // The sender was dropped, not used: the connection's future is gone.
        let dropped = tokio::time::timeout(Duration::from_secs(5), dropped_rx).await;
        assert!(matches!(dropped, Ok(Err(_))), "the connection still runs");
        settled(&threads, &[0]).await;
        tokio::task::spawn_blocking(move || threads.stop())
            .await
            .unwrap();
    }
}
