//! `edld demo`: starts the daemon on loopback with sample licences and walks through
//! apply → issue → QR → verify → revoke → verify, printing each step and the HTTP call
//! behind it. The state lives in a temporary directory that is removed at the end unless
//! `--keep` (or `--data`) says otherwise; the demo says where it is either way.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::Args;
use keys::UnixTime;
use keys::presentation::{DEFAULT_SLOT_LENGTH, PresentationPolicy, Slot};
use keys::token::VerifyPolicy;
use rand_core::OsRng;
use serde_json::{Value, json};
use ureq::http::{Method, StatusCode};

use super::{Exit, load, runtime};
use crate::clock::Clock;
use crate::config::{Config, Overrides};
use crate::{Listeners, keyfiles};

/// `edld demo [--keep]`.
#[derive(Args)]
pub struct DemoArgs {
    /// Keep the demo's state directory (removed at the end otherwise; a directory named
    /// with --data is always kept).
    #[arg(long)]
    keep: bool,
}

/// Runs the demo on free loopback ports and, unless `--data` names one, a fresh
/// temporary state directory.
pub fn command(args: &DemoArgs, overrides: &Overrides, clock: Arc<dyn Clock>) -> Exit {
    let mut overrides = overrides.clone();
    if overrides.listen.is_none() {
        overrides.listen = Some("127.0.0.1:0".into());
    }
    if overrides.admin_listen.is_none() {
        overrides.admin_listen = Some("127.0.0.1:0".into());
    }
    let temporary = overrides.data_dir.is_none();
    if temporary {
        let dir = std::env::temp_dir().join(format!("edl-demo-{}", std::process::id()));
        overrides.data_dir = Some(dir);
    }
    let mut config = match load(None, &overrides) {
        Ok(c) => c,
        Err(exit) => return exit,
    };
    // Show a revocation in the next status list within a fraction of a second.
    config.status_coalesce = Duration::from_millis(100);
    let data_dir = config.data_dir.clone();
    let result = runtime()
        .map_err(anyhow::Error::from)
        .and_then(|rt| rt.block_on(run(config, clock, std::io::stdout())));
    let exit = match result {
        Ok(()) => Exit::Success,
        Err(e) => {
            eprintln!("edld demo: {e:#}");
            Exit::Software
        }
    };
    if temporary && !args.keep {
        match std::fs::remove_dir_all(&data_dir) {
            Ok(()) => println!(
                "Removed the demo's state directory {} (edld demo --keep keeps it).",
                data_dir.display()
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                eprintln!("edld demo: removing {}: {e}", data_dir.display());
                return Exit::Software;
            }
        }
    } else {
        println!("The demo's state is kept in {}.", data_dir.display());
    }
    exit
}

/// Sample licences, as JSON Lines in the import format.
pub const SAMPLE_LICENCES: &str = r#"{"number":"11010519491231002X","name":"张伟","classes":["C1","D"],"valid_from":"2020-03-01","valid_until":"2032-03-01","authority":"北京市公安局公安交通管理局","points":2,"photo":"55c64d0fcd6f9d5f7c828093857e3fdfda68478bb4e9bd24d481ef391c7804e8"}
{"number":"440304199001010011","name":"李娜","classes":["C2"],"valid_from":"2019-07-15","authority":"深圳市公安局交通警察支队","photo":"3a6eb0790f39ac87c94f3856b2dd2c5d110e6811602261a9a923d3bb23adc8b7"}
{"number":"110105200002290013","name":"Wang Fang","classes":["A1","B1","C1"],"valid_from":"2021-01-01","valid_until":"2027-01-01","authority":"Beijing Traffic Administration"}
"#;

/// Runs the walkthrough on a daemon started in-process, writing to `out`. The walkthrough
/// makes blocking HTTP calls, so it runs on a blocking thread beside the daemon.
pub async fn run(
    config: Config,
    clock: Arc<dyn Clock>,
    mut out: impl Write + Send + 'static,
) -> anyhow::Result<()> {
    let listeners = Listeners::bind(&config).await?;
    let addr = listeners.public_addr()?;
    let data_dir = config.data_dir.clone();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(crate::run(config, listeners, clock.clone(), async {
        let _ = stop_rx.await;
    }));
    let walked =
        tokio::task::spawn_blocking(move || walkthrough(addr, &data_dir, clock.as_ref(), &mut out))
            .await;
    let _ = stop_tx.send(());
    daemon.await.context("daemon task")??;
    walked.context("demo thread")?
}

macro_rules! say {
    ($out:expr, $($arg:tt)*) => {{
        writeln!($out, $($arg)*)?;
        $out.flush()?;
    }};
}

fn walkthrough(
    addr: SocketAddr,
    data_dir: &Path,
    clock: &dyn Clock,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let base = format!("http://{addr}");
    let http = connect_when_ready(addr, clock)?;
    say!(
        out,
        "edld demo: the daemon is up on {base} (state in {})",
        data_dir.display()
    );
    let keys = crate::service::clients::read_dev_clients(&data_dir.join("dev-clients.txt"))
        .context("reading dev-clients.txt")?;
    let key = |role: &str| -> anyhow::Result<String> {
        keys.iter()
            .find(|(r, _)| r == role)
            .map(|(_, k)| k.clone())
            .with_context(|| format!("no development key for {role}"))
    };
    let (registry, gateway, officer) = (key("registry")?, key("gateway")?, key("officer")?);
    say!(
        out,
        "  development API keys, one per role, are in {}",
        data_dir.join("dev-clients.txt").display()
    );

    say!(
        out,
        "\n1. The licence office loads three sample licences (role registry):"
    );
    for line in SAMPLE_LICENCES.lines() {
        let body: Value = serde_json::from_str(line)?;
        let number = body["number"].as_str().unwrap_or_default().to_owned();
        let reply = http.json(
            Method::PUT,
            &format!("/v1/licences/{number}"),
            Some(&registry),
            &body,
        )?;
        expect(&reply, &[StatusCode::CREATED, StatusCode::OK])?;
        say!(
            out,
            "   PUT {base}/v1/licences/{number} -> {} ({}, classes {})",
            reply.status,
            body["name"],
            body["classes"]
        );
    }

    let number = "11010519491231002X";
    say!(
        out,
        "\n2. The national app applies for {number} with the photo on file (role gateway),"
    );
    // The phone's device key, as `edl-holder keygen` makes one: the credential is bound to
    // it, so only this phone can show it.
    let device = keys::SigningKey::generate(&mut OsRng);
    let holder_key = keys::jwk::HolderJwk::from_public_key(device.public());
    say!(
        out,
        "   with the phone's device key {} as holder_key:",
        device.key_id()
    );
    let reply = http.json(
        Method::POST,
        "/v1/applications",
        Some(&gateway),
        &json!({"licence_number": number, "photo_source": "on_file", "holder_key": holder_key}),
    )?;
    expect(&reply, &[StatusCode::ACCEPTED, StatusCode::OK])?;
    let body = reply.json()?;
    let ticket = body["ticket"].as_str().unwrap_or_default().to_owned();
    say!(
        out,
        "   POST {base}/v1/applications -> {} Location: {}",
        reply.status,
        reply.location.as_deref().unwrap_or("-")
    );
    say!(
        out,
        "   ticket {ticket}, position {}, wait {}",
        body["position"],
        body["wait_seconds"]
    );

    say!(
        out,
        "\n3. The application is signed from the queue; the app polls its ticket:"
    );
    let started = clock.monotonic();
    let credential = loop {
        let reply = http.get(&format!("/v1/applications/{ticket}"), Some(&gateway))?;
        expect(&reply, &[StatusCode::OK])?;
        let body = reply.json()?;
        match body["state"].as_str() {
            Some("issued") => break body["credential"].clone(),
            Some("rejected") => bail!("the application was rejected: {}", body["reason"]),
            _ if clock.monotonic().saturating_sub(started) > Duration::from_secs(30) => {
                bail!("not issued after 30 s")
            }
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    let id = credential["id"].as_str().unwrap_or_default().to_owned();
    let qr_text = credential["qr_text"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    say!(
        out,
        "   GET {base}/v1/applications/{ticket} -> issued credential {id}"
    );
    say!(
        out,
        "   token {} bytes, QR text {} characters, also at {base}{} and {base}{}",
        URL_SAFE_NO_PAD
            .decode(credential["token"].as_str().unwrap_or_default())?
            .len(),
        qr_text.len(),
        credential["qr_png"].as_str().unwrap_or_default(),
        credential["qr_svg"].as_str().unwrap_or_default()
    );

    // What `edl-holder present` does on the phone: the credential signed over again by the
    // device key for the current 30-second slot, a new QR code every slot.
    let token = keys::qr::decode(&qr_text)?;
    let now = clock.now();
    let slot = Slot::containing(now, DEFAULT_SLOT_LENGTH)?;
    let shown =
        keys::qr::encode_presentation(&keys::presentation::present(&token, &device, slot, None));
    let next = Slot::containing(UnixTime(now.0 + DEFAULT_SLOT_LENGTH), DEFAULT_SLOT_LENGTH)?;
    let next_text =
        keys::qr::encode_presentation(&keys::presentation::present(&token, &device, next, None));
    say!(
        out,
        "\n4. The holder's phone shows the credential signed again by its device key, a new QR\n   code every {DEFAULT_SLOT_LENGTH} s (edl-holder present does the same; {} characters, this\n   slot's; the next one differs: {}):\n",
        shown.len(),
        if next_text == shown { "no" } else { "yes" }
    );
    say!(out, "{}", crate::http::render::terminal(&shown)?);

    say!(
        out,
        "5. An officer's terminal verifies it offline against the trust list, then live:"
    );
    let root = keyfiles::read_public(&keyfiles::public_path(
        &data_dir.join("keys").join("root.pem"),
    ))?;
    let trust_bytes = http.get("/v1/trust-list", None)?.body;
    let trust = keys::trust_list::verify(&trust_bytes, std::slice::from_ref(&root), None)?;
    say!(
        out,
        "   GET {base}/v1/trust-list -> sequence {}, signed by root key {}",
        trust.sequence,
        root.key_id()
    );
    let presentation = keys::qr::decode_presentation(&shown)?;
    let presented = keys::presentation::verify(
        &presentation,
        &trust.keyring(),
        &PresentationPolicy::at(clock.now()),
    )?;
    let verified = &presented.credential;
    let c = &verified.claims;
    say!(
        out,
        "   signature OK (key {}): {} {}, classes {}, expires {}",
        verified.key_id,
        c.licence.name,
        c.licence_number,
        c.licence.classes,
        c.expires_at
    );
    say!(
        out,
        "   presented by the device it is bound to ({}), fresh: slot from {} for {} s",
        presented.holder_key.key_id(),
        presented.slot.start(),
        presented.slot.length()
    );
    let live = http.get(&format!("/v1/credentials/{id}/status"), Some(&officer))?;
    expect(&live, &[StatusCode::OK])?;
    say!(
        out,
        "   GET {base}/v1/credentials/{id}/status (role officer) -> {}",
        live.json()?["status"]
    );
    let list_status = status_list_value(&http, &trust, &c.status, clock)?;
    say!(
        out,
        "   status list {} entry {} -> {list_status}",
        c.status.uri,
        c.status.index
    );
    say!(out, "   verdict: VALID");

    say!(out, "\n6. The licence office revokes the licence:");
    let reply = http.json(
        Method::POST,
        &format!("/v1/licences/{number}/state"),
        Some(&registry),
        &json!({"action": "revoke"}),
    )?;
    expect(&reply, &[StatusCode::OK])?;
    say!(
        out,
        "   POST {base}/v1/licences/{number}/state {{\"action\":\"revoke\"}} -> {}",
        reply.status
    );

    say!(out, "\n7. The same QR code, checked again:");
    let live = http.get(&format!("/v1/credentials/{id}/status"), Some(&officer))?;
    say!(out, "   live status -> {}", live.json()?["status"]);
    let started = clock.monotonic();
    loop {
        let value = status_list_value(&http, &trust, &c.status, clock)?;
        if value == "invalid (revoked)" {
            say!(
                out,
                "   next status list ({} ms later) -> {value}",
                clock.monotonic().saturating_sub(started).as_millis()
            );
            break;
        }
        if clock.monotonic().saturating_sub(started) > Duration::from_secs(30) {
            bail!("the status list did not show the revocation within 30 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    say!(
        out,
        "   verdict: NOT VALID (revoked); the signature still checks, the status does not"
    );
    say!(
        out,
        "\nDone. Try it yourself: edld serve, then the HTTP calls above with a key from dev-clients.txt."
    );
    Ok(())
}

/// The demo's HTTP client: ureq, blocking, one kept-alive connection to the daemon.
struct Http {
    agent: ureq::Agent,
    base: String,
}

/// An answer.
struct Reply {
    status: StatusCode,
    location: Option<String>,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> anyhow::Result<Value> {
        serde_json::from_slice(&self.body).with_context(|| {
            format!(
                "{} answered {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

impl Http {
    fn new(addr: SocketAddr) -> Http {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(30)))
            .http_status_as_error(false)
            .no_delay(true)
            .proxy(None)
            .user_agent(concat!("edld-demo/", env!("CARGO_PKG_VERSION")))
            .build();
        Http {
            agent: ureq::Agent::new_with_config(config),
            base: format!("http://{addr}"),
        }
    }

    /// Sends one request, with `key` as the bearer token and `body` as JSON.
    fn send(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> anyhow::Result<Reply> {
        let mut request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(key) = key {
            request = request.header("Authorization", format!("Bearer {key}"));
        }
        let request = match body {
            Some(body) => request
                .header("Content-Type", "application/json")
                .body(body.to_string().into_bytes())?,
            None => request.body(Vec::new())?,
        };
        let mut response = self
            .agent
            .run(request)
            .with_context(|| format!("{}{path}", self.base))?;
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response
            .body_mut()
            .read_to_vec()
            .with_context(|| format!("{}{path}", self.base))?;
        Ok(Reply {
            status: response.status(),
            location,
            body,
        })
    }

    fn get(&self, path: &str, key: Option<&str>) -> anyhow::Result<Reply> {
        self.send(Method::GET, path, key, None)
    }

    fn json(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: &Value,
    ) -> anyhow::Result<Reply> {
        self.send(method, path, key, Some(body))
    }
}

/// Polls `/readyz` until the daemon answers 200.
fn connect_when_ready(addr: SocketAddr, clock: &dyn Clock) -> anyhow::Result<Http> {
    let http = Http::new(addr);
    let started = clock.monotonic();
    loop {
        if http
            .get("/readyz", None)
            .is_ok_and(|r| r.status == StatusCode::OK)
        {
            return Ok(http);
        }
        if clock.monotonic().saturating_sub(started) > Duration::from_secs(30) {
            bail!("the daemon did not become ready within 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn expect(reply: &Reply, statuses: &[StatusCode]) -> anyhow::Result<()> {
    if statuses.contains(&reply.status) {
        Ok(())
    } else {
        bail!(
            "unexpected {}: {}",
            reply.status,
            String::from_utf8_lossy(&reply.body)
        )
    }
}

fn status_list_value(
    http: &Http,
    trust: &keys::trust_list::TrustList,
    reference: &keys::token::StatusReference,
    clock: &dyn Clock,
) -> anyhow::Result<&'static str> {
    let path = reference
        .uri
        .find("/v1/status-lists/")
        .map(|i| &reference.uri[i..])
        .context("status list URI")?;
    let reply = http.get(path, None)?;
    expect(&reply, &[StatusCode::OK])?;
    let list = keys::status_list::verify(
        &reply.body,
        &trust.keyring(),
        &VerifyPolicy::at(clock.now()),
        Some(&reference.uri),
    )?;
    Ok(match list.claims.list.get(reference.index) {
        Some(0) => "valid",
        Some(1) => "invalid (revoked)",
        Some(2) => "suspended",
        Some(3) => "superseded",
        _ => "unknown",
    })
}
