//! What the codecs cost beside the Ed25519 work inside them: raw ed25519-dalek sign and
//! verify_strict next to `token::sign` and `token::verify` over the same bytes, the QR text,
//! and a full-size status list (2^20 two-bit entries) built, compressed, signed and
//! verified. Run with `cargo bench -p keys --bench token`; after the measurements it prints
//! each median and the token/raw ratios. `verify/envelope` and `verify/inspect` split the
//! verifier's overhead into envelope parsing and claims parsing.

// Setup works on fixed inputs, as a test's does: a failure there is a broken bench and
// should stop it loudly.
#![allow(clippy::expect_used)]

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use coset::{CoseSign1, TaggedCborSerializable};
use criterion::Criterion;
use ed25519_dalek::Signer;

use keys::licence::{LicenceClasses, LicenceNumber, PhotoDigest, Validity, parse_date};
use keys::status_list::{self, StatusList, StatusListClaims};
use keys::token::{self, CredentialId, LicenceDetails, StatusReference};
use keys::{
    CredentialClaims, KeyUse, Keyring, SigningKey, TrustedKey, UnixTime, VerifyPolicy, danger, qr,
};

/// 2026-11-01T00:00:00Z.
const NOW: UnixTime = UnixTime(1_793_491_200);
const DAY: u64 = 86_400;

/// Entries in the benchmarked status list: 2^20, eight times the minimum list.
const STATUS_ENTRIES: usize = 1 << 20;

/// Entries set to a nonzero status in it: about 1 %, as a mature list might have.
const STATUS_SET: usize = STATUS_ENTRIES / 100;

const CREDENTIAL_SEED: [u8; 32] = [1; 32];
const STATUS_SEED: [u8; 32] = [2; 32];

fn main() {
    let mut criterion = Criterion::default()
        .output_directory(&criterion_directory())
        .configure_from_args();
    sign(&mut criterion);
    verify(&mut criterion);
    qr_text(&mut criterion);
    status_lists(&mut criterion);
    criterion.final_summary();
    summarise(&criterion_directory());
}

fn sign(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("sign");
    let claims = credential();
    let key = SigningKey::from_seed(&CREDENTIAL_SEED);
    let raw = ed25519_dalek::SigningKey::from_bytes(&CREDENTIAL_SEED);
    let to_be_signed = to_be_signed(&token::sign(&claims, &key));
    group.bench_function("raw", |b| b.iter(|| raw.sign(black_box(&to_be_signed))));
    group.bench_function("token", |b| {
        b.iter(|| token::sign(black_box(&claims), &key))
    });
    group.finish();
}

fn verify(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("verify");
    let claims = credential();
    let key = SigningKey::from_seed(&CREDENTIAL_SEED);
    let signed = token::sign(&claims, &key);
    let message = CoseSign1::from_tagged_slice(&signed).expect("a token just signed");
    let message_bytes = message.tbs_data(b"");
    let signature = ed25519_dalek::Signature::from_slice(&message.signature).expect("64 bytes");
    let raw = ed25519_dalek::SigningKey::from_bytes(&CREDENTIAL_SEED).verifying_key();
    let keyring = keyring();
    let policy = VerifyPolicy::at(NOW);
    assert!(raw.verify_strict(&message_bytes, &signature).is_ok());
    assert_eq!(
        token::verify(&signed, &keyring, &policy).map(|v| v.claims),
        Ok(claims)
    );
    group.bench_function("raw", |b| {
        b.iter(|| raw.verify_strict(black_box(&message_bytes), black_box(&signature)))
    });
    group.bench_function("token", |b| {
        b.iter(|| token::verify(black_box(&signed), &keyring, &policy))
    });
    // Where the difference goes: the envelope parse and Sig_structure alone, then the
    // envelope and claims parse without the signature check.
    group.bench_function("envelope", |b| b.iter(|| to_be_signed(black_box(&signed))));
    group.bench_function("inspect", |b| {
        b.iter(|| danger::inspect_credential(black_box(&signed)))
    });
    group.finish();
}

fn qr_text(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("qr");
    let signed = token::sign(&credential(), &SigningKey::from_seed(&CREDENTIAL_SEED));
    let text = qr::encode(&signed);
    group.bench_function("encode", |b| b.iter(|| qr::encode(black_box(&signed))));
    group.bench_function("decode", |b| b.iter(|| qr::decode(black_box(&text))));
    group.finish();
}

fn status_lists(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("status_list");
    // Each step takes milliseconds: fewer, longer samples.
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(10));
    let key = SigningKey::from_seed(&STATUS_SEED);
    let keyring = keyring();
    let list = status_list();
    let claims = StatusListClaims {
        uri: "https://dl.example.gov.cn/v1/status-lists/0".into(),
        issued_at: NOW,
        expires_at: NOW.plus(DAY),
        ttl: 3_600,
        list: list.clone(),
    };
    let signed = status_list::sign(&claims, &key);
    let policy = VerifyPolicy::at(NOW);
    assert!(status_list::verify(&signed, &keyring, &policy, Some(&claims.uri)).is_ok());
    group.bench_function("build", |b| b.iter(status_list));
    group.bench_function("compress", |b| b.iter(|| black_box(&list).compress()));
    group.bench_function("sign", |b| {
        b.iter(|| status_list::sign(black_box(&claims), &key))
    });
    group.bench_function("verify", |b| {
        b.iter(|| status_list::verify(black_box(&signed), &keyring, &policy, None))
    });
    group.finish();
}

/// A credential as the daemon issues it: a CJK name and authority, two classes, a fixed
/// end of validity and a status reference.
fn credential() -> CredentialClaims {
    CredentialClaims {
        issuer: "https://dl.example.gov.cn".into(),
        licence_number: "11010519491231002X"
            .parse::<LicenceNumber>()
            .expect("a valid number"),
        credential_id: CredentialId([7; 16]),
        issued_at: NOW.minus(DAY),
        not_before: NOW.minus(DAY),
        expires_at: NOW.plus(90 * DAY),
        licence: LicenceDetails {
            name: "张三".into(),
            classes: "C1 C2".parse::<LicenceClasses>().expect("valid classes"),
            validity: Validity::new(
                parse_date("2020-03-01").expect("a date"),
                Some(parse_date("2030-03-01").expect("a date")),
            )
            .expect("until after from"),
            authority: "北京市公安局公安交通管理局".into(),
            photo: PhotoDigest::of(b"photo"),
        },
        status: StatusReference {
            index: 424_242,
            uri: "https://dl.example.gov.cn/v1/status-lists/0".into(),
        },
    }
}

/// A verifier's keyring: the credential and status keys under test among older ones.
fn keyring() -> Keyring {
    let trusted = |seed: [u8; 32], key_use| TrustedKey {
        public: SigningKey::from_seed(&seed).public().clone(),
        key_use,
        not_before: NOW.minus(365 * DAY),
        not_after: NOW.plus(365 * DAY),
        revoked: false,
    };
    Keyring::new(vec![
        trusted([11; 32], KeyUse::Credential),
        trusted([12; 32], KeyUse::Credential),
        trusted(CREDENTIAL_SEED, KeyUse::Credential),
        trusted([13; 32], KeyUse::Status),
        trusted(STATUS_SEED, KeyUse::Status),
    ])
}

/// A 2^20-entry two-bit list with 1 % of the entries set, at indices spread as random
/// allocation spreads them (a fixed xorshift sequence, so every run builds the same list).
fn status_list() -> StatusList {
    let mut list = StatusList::new(2, STATUS_ENTRIES).expect("two bits is a valid width");
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for _ in 0..STATUS_SET {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let index = state % STATUS_ENTRIES as u64;
        let status = 1 + (state >> 32) as u8 % 3;
        list.set(index, status).expect("index and value in range");
    }
    list
}

/// The bytes Ed25519 signs for `signed`: its COSE Sig_structure.
fn to_be_signed(signed: &[u8]) -> Vec<u8> {
    CoseSign1::from_tagged_slice(signed)
        .expect("a token just signed")
        .tbs_data(b"")
}

/// Where criterion keeps its estimates: `target/criterion`, beside the `target/tmp` that
/// cargo names for benches.
fn criterion_directory() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap_or(Path::new("target"))
        .join("criterion")
}

/// Prints the medians criterion just estimated and the ratios that matter.
fn summarise(directory: &Path) {
    let median = |id: &str| -> Option<f64> {
        let json = std::fs::read(directory.join(id).join("new/estimates.json")).ok()?;
        let estimates: serde_json::Value = serde_json::from_slice(&json).ok()?;
        estimates["median"]["point_estimate"].as_f64()
    };
    println!("\nmedians:");
    for id in [
        "sign/raw",
        "sign/token",
        "verify/raw",
        "verify/token",
        "verify/envelope",
        "verify/inspect",
        "qr/encode",
        "qr/decode",
        "status_list/build",
        "status_list/compress",
        "status_list/sign",
        "status_list/verify",
    ] {
        if let Some(nanos) = median(id) {
            println!("  {id:<22} {}", format_nanos(nanos));
        }
    }
    for what in ["sign", "verify"] {
        if let (Some(token), Some(raw)) = (
            median(&format!("{what}/token")),
            median(&format!("{what}/raw")),
        ) {
            println!(
                "  {what}: token/raw = {:.3} (+{})",
                token / raw,
                format_nanos(token - raw)
            );
        }
    }
}

fn format_nanos(nanos: f64) -> String {
    match nanos {
        n if n >= 1e6 => format!("{:.3} ms", n / 1e6),
        n if n >= 1e3 => format!("{:.3} µs", n / 1e3),
        n => format!("{n:.1} ns"),
    }
}
