//! What checking a holder's presentation costs next to checking a plain credential: a
//! verifier's work from the scanned text (`DL2:` against `DL1:`) and from the bytes, beside
//! the raw ed25519-dalek verify_strict calls inside (one for a credential, two for a
//! presentation), and what making one costs the holder's device. Run with
//! `cargo bench -p keys --bench presentation`; after the measurements it prints each median,
//! the presentation/credential ratios and the load average before and after.

// Setup works on fixed inputs, as a test's does: a failure there is a broken bench and
// should stop it loudly.
#![allow(clippy::expect_used)]

use std::hint::black_box;
use std::path::{Path, PathBuf};

use coset::{CoseSign1, TaggedCborSerializable};
use criterion::Criterion;

use keys::licence::{LicenceClasses, LicenceNumber, PhotoDigest, Validity, parse_date};
use keys::presentation::{self, PresentationPolicy, Slot};
use keys::token::{self, CredentialId, LicenceDetails, StatusReference};
use keys::{CredentialClaims, KeyUse, Keyring, SigningKey, TrustedKey, UnixTime, VerifyPolicy, qr};

/// 2026-11-01T00:00:10Z: ten seconds into a 30-second slot.
const NOW: UnixTime = UnixTime(1_793_491_210);
const DAY: u64 = 86_400;

const CREDENTIAL_SEED: [u8; 32] = [1; 32];
const HOLDER_SEED: [u8; 32] = [7; 32];

/// The medians printed at the end, in order.
const REPORTED: [&str; 10] = [
    "presentation/raw-1",
    "presentation/raw-2",
    "presentation/token",
    "presentation/bound-token",
    "presentation/presentation",
    "presentation/presented",
    "presentation/dl1-text",
    "presentation/dl2-text",
    "presentation/present",
    "presentation/dl2-encode",
];

fn main() {
    let load_before = load_average();
    let mut criterion = Criterion::default()
        .output_directory(&criterion_directory())
        .configure_from_args();
    presentations(&mut criterion);
    criterion.final_summary();
    summarise(&criterion_directory(), &load_before, &load_average());
}

fn presentations(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("presentation");
    let issuer = SigningKey::from_seed(&CREDENTIAL_SEED);
    let holder = SigningKey::from_seed(&HOLDER_SEED);
    let claims = credential();
    let bearer = token::sign(&claims, &issuer);
    let bound = token::sign_bound(&claims, holder.public(), &issuer);
    let slot = Slot::containing(NOW, presentation::DEFAULT_SLOT_LENGTH).expect("30 s");
    let shown = presentation::present(&bound, &holder, slot, None);
    let dl1 = qr::encode(&bearer);
    let dl2 = qr::encode_presentation(&shown);
    let keyring = keyring();
    let token_policy = VerifyPolicy::at(NOW);
    let policy = PresentationPolicy::at(NOW);
    assert_eq!(
        token::verify(&bearer, &keyring, &token_policy).map(|v| v.claims),
        Ok(claims.clone())
    );
    assert_eq!(
        presentation::verify(&shown, &keyring, &policy).map(|v| v.credential.claims),
        Ok(claims)
    );

    // The floor: the Ed25519 verifications themselves, over the same bytes.
    let (issuer_message, issuer_signature) = signed_parts(&bound);
    let (holder_message, holder_signature) = signed_parts(&shown);
    let issuer_raw = ed25519_dalek::SigningKey::from_bytes(&CREDENTIAL_SEED).verifying_key();
    let holder_raw = ed25519_dalek::SigningKey::from_bytes(&HOLDER_SEED).verifying_key();
    group.bench_function("raw-1", |b| {
        b.iter(|| issuer_raw.verify_strict(black_box(&issuer_message), &issuer_signature))
    });
    group.bench_function("raw-2", |b| {
        b.iter(|| {
            (
                issuer_raw.verify_strict(black_box(&issuer_message), &issuer_signature),
                holder_raw.verify_strict(black_box(&holder_message), &holder_signature),
            )
        })
    });
    group.bench_function("token", |b| {
        b.iter(|| token::verify(black_box(&bearer), &keyring, &token_policy))
    });
    group.bench_function("bound-token", |b| {
        b.iter(|| token::verify_token(black_box(&bound), &keyring, &token_policy))
    });
    group.bench_function("presentation", |b| {
        b.iter(|| presentation::verify(black_box(&shown), &keyring, &policy))
    });
    // The credential verified already (as a batch verifies it): the holder's part alone.
    let verified = token::verify_token(&bound, &keyring, &token_policy).expect("bound verifies");
    assert!(presentation::verify_presented(&shown, &bound, &verified.credential, &policy).is_ok());
    group.bench_function("presented", |b| {
        b.iter(|| {
            presentation::verify_presented(black_box(&shown), &bound, &verified.credential, &policy)
        })
    });
    // As a verifier starts: from the scanned text.
    group.bench_function("dl1-text", |b| {
        b.iter(|| {
            let bytes = qr::decode(black_box(&dl1)).expect("DL1 text");
            token::verify(&bytes, &keyring, &token_policy)
        })
    });
    group.bench_function("dl2-text", |b| {
        b.iter(|| {
            let bytes = qr::decode_presentation(black_box(&dl2)).expect("DL2 text");
            presentation::verify(&bytes, &keyring, &policy)
        })
    });
    // The holder's side: a new presentation every slot.
    group.bench_function("present", |b| {
        b.iter(|| presentation::present(black_box(&bound), &holder, slot, None))
    });
    group.bench_function("dl2-encode", |b| {
        b.iter(|| {
            qr::encode_presentation(&presentation::present(
                black_box(&bound),
                &holder,
                slot,
                None,
            ))
        })
    });
    group.finish();
}

/// The bytes Ed25519 signs for `signed` (its COSE Sig_structure) and the signature.
fn signed_parts(signed: &[u8]) -> (Vec<u8>, ed25519_dalek::Signature) {
    let message = CoseSign1::from_tagged_slice(signed).expect("a document just signed");
    let signature = ed25519_dalek::Signature::from_slice(&message.signature).expect("64 bytes");
    (message.tbs_data(b""), signature)
}

/// The golden vectors' kind of credential: a CJK name and authority, two classes, a fixed
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
        expires_at: NOW.plus(30 * DAY),
        licence: LicenceDetails {
            name: "张三".into(),
            classes: "C1 D".parse::<LicenceClasses>().expect("valid classes"),
            validity: Validity::new(
                parse_date("2019-07-01").expect("a date"),
                Some(parse_date("2029-07-01").expect("a date")),
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

/// A verifier's keyring: the credential key under test among others of both uses.
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
    ])
}

/// The 1, 5 and 15 minute load averages, as `/proc/loadavg` gives them.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".into())
}

/// Where criterion keeps its estimates: `target/criterion`, beside the `target/tmp` that
/// cargo names for benches.
fn criterion_directory() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap_or(Path::new("target"))
        .join("criterion")
}

/// Prints the medians criterion just estimated, the ratios that matter and the load.
fn summarise(directory: &Path, load_before: &str, load_after: &str) {
    let median = |id: &str| -> Option<f64> {
        let json = std::fs::read(directory.join(id).join("new/estimates.json")).ok()?;
        let estimates: serde_json::Value = serde_json::from_slice(&json).ok()?;
        estimates["median"]["point_estimate"].as_f64()
    };
    println!("\nmedians:");
    for id in REPORTED {
        if let Some(nanos) = median(id) {
            println!("  {id:<28} {}", format_nanos(nanos));
        }
    }
    let ratio = |what: &str, numerator: &str, denominator: &str| {
        let at = |id: &str| median(&format!("presentation/{id}"));
        if let (Some(n), Some(d)) = (at(numerator), at(denominator)) {
            println!("  {what}: {n:.0} / {d:.0} ns = {:.2}", n / d);
        }
    };
    ratio("presentation/token", "presentation", "token");
    ratio("presented/token", "presented", "token");
    ratio("DL2 text/DL1 text", "dl2-text", "dl1-text");
    ratio("presentation/raw-2", "presentation", "raw-2");
    ratio("token/raw-1", "token", "raw-1");
    println!("load average (1, 5, 15 min): before {load_before}, after {load_after}");
}

fn format_nanos(nanos: f64) -> String {
    match nanos {
        n if n >= 1e6 => format!("{:.3} ms", n / 1e6),
        n if n >= 1e3 => format!("{:.3} µs", n / 1e3),
        n => format!("{n:.1} ns"),
    }
}
