use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::*;
use crate::domain::notify::Secret;

/// What a test receiver saw: the signature headers and the body of each request.
type Seen = Arc<Mutex<Vec<(Vec<(String, String)>, Vec<u8>)>>>;

/// A receiver on loopback answering `status` (after `stall`), over TLS with a certificate
/// for `localhost` when `tls` is given. Returns its address and what it saw.
async fn receiver(
    tls: Option<(CertificateDer<'static>, PrivateKeyDer<'static>)>,
    status: u16,
    stall: Duration,
) -> (SocketAddr, Seen) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let seen: Seen = Arc::default();
    let acceptor = tls.map(|(cert, key)| {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .unwrap();
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    });
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let (log, acceptor) = (log.clone(), acceptor.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |request: http::Request<hyper::body::Incoming>| {
                        let log = log.clone();
                        async move {
                            let headers = [
                                "webhook-id",
                                "webhook-timestamp",
                                "webhook-signature",
                                "content-type",
                            ]
                            .iter()
                            .map(|h| {
                                let value = request
                                    .headers()
                                    .get(*h)
                                    .map(|v| v.to_str().unwrap().to_owned());
                                (h.to_string(), value.unwrap_or_default())
                            })
                            .collect();
                            let body = request
                                .into_body()
                                .collect()
                                .await
                                .unwrap()
                                .to_bytes()
                                .to_vec();
                            log.lock().unwrap().push((headers, body));
                            tokio::time::sleep(stall).await;
                            let mut answer = http::Response::new(Full::new(Bytes::new()));
                            *answer.status_mut() = http::StatusCode::from_u16(status).unwrap();
                            Ok::<_, std::convert::Infallible>(answer)
                        }
                    },
                );
                let builder = hyper::server::conn::http1::Builder::new();
                let _ = match acceptor {
                    Some(acceptor) => {
                        let tls = acceptor.accept(tcp).await.unwrap();
                        builder.serve_connection(TokioIo::new(tls), service).await
                    }
                    None => builder.serve_connection(TokioIo::new(tcp), service).await,
                };
            });
        }
    });
    (address, seen)
}

fn localhost_certificate() -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    (
        cert.der().clone(),
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
}

fn outgoing() -> Outgoing {
    let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    let body = br#"{"type":"credential.expiring"}"#.to_vec();
    Outgoing {
        id: "evt_0000000000000001".into(),
        timestamp: 1_900_000_000,
        signature: secret.sign("evt_0000000000000001", 1_900_000_000, &body),
        body,
    }
}

#[tokio::test]
async fn a_delivery_over_tls_carries_the_signed_headers() {
    let (cert, key) = localhost_certificate();
    let (address, seen) = receiver(Some((cert.clone(), key)), 204, Duration::ZERO).await;
    let target = Target::parse(&format!("https://localhost:{}/hooks?x=1", address.port())).unwrap();
    // Without the receiver's root, TLS fails.
    let untrusting = Sender::new(Vec::new(), Duration::from_secs(5)).unwrap();
    assert!(matches!(
        untrusting.send(&target, address, &outgoing()).await,
        Err(SendError::Failed(_))
    ));
    let sender = Sender::new(vec![cert], Duration::from_secs(5)).unwrap();
    assert_eq!(
        sender.send(&target, address, &outgoing()).await.unwrap(),
        204
    );
    let seen = seen.lock().unwrap();
    let (headers, body) = seen.last().unwrap();
    let o = outgoing();
    assert_eq!(body, &o.body);
    let get = |name: &str| headers.iter().find(|(h, _)| h == name).unwrap().1.clone();
    assert_eq!(get("webhook-id"), o.id);
    assert_eq!(get("webhook-timestamp"), "1900000000");
    assert_eq!(get("webhook-signature"), o.signature);
    assert_eq!(get("content-type"), "application/json");
}

#[tokio::test]
async fn refusals_and_stalls_are_failures() {
    let (address, _) = receiver(None, 500, Duration::ZERO).await;
    let target = Target::parse(&format!("http://127.0.0.1:{}/", address.port())).unwrap();
    let sender = Sender::new(Vec::new(), Duration::from_millis(500)).unwrap();
    assert!(matches!(
        sender.send(&target, address, &outgoing()).await,
        Err(SendError::Status(500))
    ));
    let (address, seen) = receiver(None, 200, Duration::from_secs(30)).await;
    let target = Target::parse(&format!("http://127.0.0.1:{}/", address.port())).unwrap();
    assert!(matches!(
        sender.send(&target, address, &outgoing()).await,
        Err(SendError::Timeout(_))
    ));
    // The stalled receiver did get the request: at least once, never acknowledged.
    assert_eq!(seen.lock().unwrap().len(), 1);
}
