//! QR images of real credentials made hard the way phone photos are (verifier/corpus/
//! generate.py: rotation, perspective, scale, blur, noise, JPEG, light and glare, screen
//! moire, busy photos, inverted colours, all at once), read by edl-verify's decoder and by
//! zbarimg: in every category, edl-verify must read at least as many as zbar (the README
//! has the full corpus's figures per category).
//!
//! A fixed-seed subset of 3 images per category runs by default; `EDL_CORPUS_FULL=1` runs
//! the whole corpus (28 per category), as `verifier/corpus/run` does from outside.

use std::collections::BTreeMap;
use std::process::Command;

use crate::support::*;

#[test]
fn edl_reads_at_least_what_zbar_reads() {
    let per_category = if std::env::var_os("EDL_CORPUS_FULL").is_some() {
        "28"
    } else {
        "3"
    };
    let authority = Authority::new("https://edl.example");
    let dir = tempfile::tempdir().unwrap();
    let tokens: Vec<String> = (0..8).map(|i| authority.qr(&authority.claims(i))).collect();
    let tokens_file = dir.path().join("tokens.txt");
    std::fs::write(&tokens_file, tokens.join("\n")).unwrap();
    let images = dir.path().join("images");
    std::fs::create_dir(&images).unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/generate.py");
    let generated = Command::new("python3")
        .arg(&script)
        .arg(&tokens_file)
        .arg(&images)
        .args(["--seed", "13", "--per-category", per_category])
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 ({e}): run `bash .ci/setup`"));
    assert!(
        generated.status.success(),
        "{}: {}\n(segno, qrcode, numpy and pillow come from .ci/requirements.txt: run `bash .ci/setup`)",
        script.display(),
        String::from_utf8_lossy(&generated.stderr)
    );

    let manifest = std::fs::read_to_string(images.join("manifest.tsv")).unwrap();
    // category -> (images, read by edl-verify, read by zbar)
    let mut counts: BTreeMap<String, (u32, u32, u32)> = BTreeMap::new();
    for row in manifest.lines() {
        let fields: Vec<&str> = row.split('\t').collect();
        let [file, category, expected] = fields[..] else {
            panic!("bad manifest row {row:?}");
        };
        assert!(tokens.iter().any(|t| t == expected));
        let path = images.join(file);
        let edl = verifier::qr_image::decode_file(&path).ok().as_deref() == Some(expected);
        let zbar = Command::new("zbarimg")
            .args(["--quiet", "--raw", "-Sdisable", "-Sqrcode.enable"])
            .arg(&path)
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run zbarimg ({e}): run `bash .ci/setup` (zbar-tools)")
            });
        let zbar = String::from_utf8_lossy(&zbar.stdout)
            .lines()
            .any(|line| line == expected);
        let entry = counts.entry(category.to_owned()).or_default();
        *entry = (
            entry.0 + 1,
            entry.1 + u32::from(edl),
            entry.2 + u32::from(zbar),
        );
    }
    let table: String = counts
        .iter()
        .map(|(c, (n, edl, zbar))| format!("{c:<12} {n:>3} edl {edl:>3} zbar {zbar:>3}\n"))
        .collect();
    eprintln!("{table}");
    assert_eq!(counts.len(), 11, "{table}");
    let zbar: u32 = counts.values().map(|(_, _, zbar)| zbar).sum();
    // Not an empty victory: zbar reads at least one per category on average.
    assert!(zbar >= counts.len() as u32, "{table}");
    for (category, (_, edl, zbar)) in &counts {
        assert!(
            edl >= zbar,
            "edl-verify reads fewer {category} images than zbar:\n{table}"
        );
    }
}
