//! Where a connection is served, decided by its first request: a connection that opens
//! with an issuance request (an application, a review, a refresh, a registry change: the
//! routes of kind `Issuance`) is served on the issuance runtime, whose threads yield the
//! CPU to verification, so the TLS and HTTP work of an issuance flood is what the kernel
//! sheds first and live status keeps the cores. The first request line is read ahead
//! (within the header timeout) and put back in front of the stream for hyper.
//!
//! Written here because it needs nothing but a look at the request line before hyper
//! parses it: hyper has no hook between reading a request and choosing where to run the
//! connection.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::Method;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

use crate::http::routes::{Kind, Route};

/// The most bytes read ahead to find the request line.
const LOOK_AHEAD: usize = 8 * 1024;

/// The method and path patterns of the issuance routes.
#[derive(Clone, Debug, Default)]
pub(crate) struct IssuanceRoutes {
    routes: Vec<(Method, Vec<&'static str>)>,
}

impl IssuanceRoutes {
    /// The issuance routes of a route table.
    pub(crate) fn of(routes: &[Route]) -> IssuanceRoutes {
        IssuanceRoutes {
            routes: routes
                .iter()
                .filter(|r| r.kind == Kind::Issuance)
                .map(|r| (r.method.clone(), r.path.split('/').collect()))
                .collect(),
        }
    }

    /// Whether the request line `line` (`METHOD SP target SP version`) asks for an
    /// issuance route.
    pub(crate) fn matches(&self, line: &[u8]) -> bool {
        let Ok(line) = std::str::from_utf8(line) else {
            return false;
        };
        let mut parts = line.split(' ');
        let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
            return false;
        };
        let path = target.split(['?', '#']).next().unwrap_or(target);
        self.routes.iter().any(|(m, pattern)| {
            m.as_str() == method && {
                let mut segments = path.split('/');
                pattern.iter().all(|p| {
                    segments.next().is_some_and(|s| {
                        if p.starts_with('{') {
                            !s.is_empty()
                        } else {
                            *p == s
                        }
                    })
                }) && segments.next().is_none()
            }
        })
    }
}

/// A stream with the bytes already read from it put back in front.
pub(crate) struct Rewound<S> {
    ahead: Vec<u8>,
    at: usize,
    inner: S,
}

/// Reads from `stream` until the first request line is complete (or `LOOK_AHEAD` bytes,
/// or the end), within `timeout`; gives the stream back with those bytes in front, and
/// whether the request asks for an issuance route. None when the client sent nothing
/// in time or the read failed: the connection is dropped, as hyper would at its header
/// timeout.
pub(crate) async fn classify<S: AsyncRead + Unpin>(
    mut stream: S,
    routes: &IssuanceRoutes,
    timeout: Duration,
) -> Option<(Rewound<S>, bool)> {
    let mut ahead = Vec::with_capacity(1024);
    let read = async {
        loop {
            let mut chunk = [0u8; 2048];
            let n = stream.read(&mut chunk).await?;
            ahead.extend_from_slice(&chunk[..n]);
            if n == 0 || ahead.len() >= LOOK_AHEAD || line_end(&ahead).is_some() {
                return Ok::<(), io::Error>(());
            }
        }
    };
    match tokio::time::timeout(timeout, read).await {
        Ok(Ok(())) => {}
        _ => return None,
    }
    let (start, end) = line_end(&ahead).unwrap_or((0, ahead.len()));
    let issuance = routes.matches(&ahead[start..end]);
    Some((
        Rewound {
            ahead,
            at: 0,
            inner: stream,
        },
        issuance,
    ))
}

/// Where the first request line starts and ends in `ahead`, once it is complete. Blank
/// lines before it are allowed (RFC 9112 2.2).
fn line_end(ahead: &[u8]) -> Option<(usize, usize)> {
    let start = ahead.iter().position(|b| !matches!(b, b'\r' | b'\n'))?;
    let length = ahead[start..].windows(2).position(|w| w == b"\r\n")?;
    Some((start, start + length))
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewound<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.at < this.ahead.len() {
            let n = buf.remaining().min(this.ahead.len() - this.at);
            buf.put_slice(&this.ahead[this.at..this.at + n]);
            this.at += n;
            if this.at == this.ahead.len() {
                this.ahead = Vec::new();
                this.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewound<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes() -> IssuanceRoutes {
        IssuanceRoutes::of(&crate::http::routes::public())
    }

    #[test]
    fn issuance_request_lines_are_told_from_verification_ones() {
        let r = routes();
        assert!(r.matches(b"POST /v1/applications HTTP/1.1"));
        assert!(r.matches(b"GET /v1/applications/abc HTTP/1.1"));
        assert!(r.matches(b"POST /v1/applications/abc/approve?x=1 HTTP/1.1"));
        assert!(!r.matches(b"GET /v1/credentials/abc/status HTTP/1.1"));
        assert!(!r.matches(b"GET /v1/applications HTTP/1.1"));
        assert!(!r.matches(b"POST /v1/applications/ HTTP/1.1"));
        assert!(!r.matches(b"GET /metrics HTTP/1.1"));
        assert!(!r.matches(b"\xff\xfe"));
    }

    #[tokio::test]
    async fn the_bytes_read_ahead_are_read_again_in_order() {
        let (mut client, server) = tokio::io::duplex(64);
        let request = b"\r\nPOST /v1/applications HTTP/1.1\r\nHost: x\r\n\r\n{}";
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            for chunk in request.chunks(5) {
                client.write_all(chunk).await.unwrap();
            }
            client
        });
        let (mut stream, issuance) = classify(server, &routes(), Duration::from_secs(5))
            .await
            .unwrap();
        assert!(issuance);
        drop(writer.await.unwrap());
        let mut all = Vec::new();
        stream.read_to_end(&mut all).await.unwrap();
        assert_eq!(all, request);
    }

    #[tokio::test]
    async fn a_client_that_sends_nothing_in_time_is_dropped() {
        let (_client, server) = tokio::io::duplex(64);
        assert!(
            classify(server, &routes(), Duration::from_millis(50))
                .await
                .is_none()
        );
    }
}
