//! `check` remembers the cached lists' verified signatures for the next check (src/memo.rs,
//! `keys::memo`): in a private place of the user's own only, and never in place of any
//! other check.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use keys::status_list::CredentialStatus;
use keys::{SigningKey, UnixTime};

use crate::support::*;

const BASE: &str = "https://edl.example";

/// `check --json --offline qr` in-process at NOW, with `XDG_CACHE_HOME` set to `home`.
fn check(terminal: &Terminal, qr: &str, home: &Path) -> (u8, String) {
    check_at(terminal, qr, home, NOW)
}

fn check_at(terminal: &Terminal, qr: &str, home: &Path, now: UnixTime) -> (u8, String) {
    let config = terminal.config.to_str().unwrap();
    let argv = [
        "edl-verify",
        "--config",
        config,
        "check",
        "--json",
        "--offline",
        qr,
    ];
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let home = home.to_str().unwrap().to_owned();
    let env = move |name: &str| (name == "XDG_CACHE_HOME").then(|| home.clone());
    let mut io = verifier::Io {
        stdin: &mut &b""[..],
        stdout: &mut stdout,
        stderr: &mut stderr,
        env: &env,
        stdout_is_terminal: false,
    };
    let code = verifier::run(argv, &mut io, now);
    let output = String::from_utf8(stdout).unwrap() + &String::from_utf8(stderr).unwrap();
    (code, output)
}

fn memo_path(home: &Path) -> PathBuf {
    home.join("edl-verify").join("signatures")
}

fn seeded(authority: &Authority) -> Terminal {
    let terminal = Terminal::new(authority, None, "");
    let list = authority.status_list(&[(7, CredentialStatus::Suspended)], 0);
    terminal.seed_cache(authority, 1, &list, NOW);
    terminal
}

#[test]
fn a_check_remembers_the_cached_lists_signatures_for_the_next_one() {
    let authority = Authority::new(BASE);
    let terminal = seeded(&authority);
    let qr = authority.qr(&authority.claims(7));
    let home = terminal.dir.path().join("home");

    let (code, first) = check(&terminal, &qr, &home);
    assert_eq!(code, 1, "{first}");
    assert!(first.contains("\"suspended\""), "{first}");
    let path = memo_path(&home);
    let memo = std::fs::read_to_string(&path).unwrap();
    // The trust list's signature and the status list's; not the credential's, which is
    // a new one at every check.
    assert!(memo.starts_with("edl-signature-memo 1\n"), "{memo}");
    assert_eq!(memo.lines().count(), 3, "{memo}");
    let file = std::fs::metadata(&path).unwrap();
    let dir = std::fs::metadata(path.parent().unwrap()).unwrap();
    assert_eq!(file.mode() & 0o777, 0o600);
    assert_eq!(dir.mode() & 0o777, 0o700);

    // The next check: the same verdict, and nothing new to write.
    let (code, second) = check(&terminal, &qr, &home);
    assert_eq!((code, &second), (1, &first));
    assert_eq!(std::fs::metadata(&path).unwrap().ino(), file.ino());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), memo);
}

/// A cached trust list changed after it was signed (a credential key swapped for an
/// impostor's) does not verify, and an impostor's credential is refused. A memo entry
/// vouching for exactly that list makes it count as verified — which is why the memo is
/// read only from the user's own directory and file that no one else can write.
#[test]
fn a_planted_entry_counts_only_in_a_private_memo() {
    let authority = Authority::new(BASE);
    let terminal = seeded(&authority);
    let impostor = SigningKey::from_seed(&[7; 32]);
    let trust_list = verifier::cache::current_generation(&terminal.cache_dir())
        .unwrap()
        .join("trust-list.cose");
    let signed = std::fs::read(&trust_list).unwrap();
    let genuine = authority.credential.public().to_bytes();
    let at = signed.windows(32).position(|w| w == genuine).unwrap();
    let mut forged = signed.clone();
    forged[at..at + 32].copy_from_slice(&impostor.public().to_bytes());
    let genuine_kid = authority.credential.public().key_id();
    let kid_at = forged
        .windows(8)
        .position(|w| w == genuine_kid.as_bytes())
        .unwrap();
    forged[kid_at..kid_at + 8].copy_from_slice(impostor.public().key_id().as_bytes());
    std::fs::write(&trust_list, &forged).unwrap();
    let qr = authority.qr_signed_by(&authority.claims(8), &impostor);

    let home = terminal.dir.path().join("home");
    let (code, output) = check(&terminal, &qr, &home);
    assert_eq!(code, 69, "{output}");
    assert!(
        output.contains("the cached trust list does not verify"),
        "{output}"
    );

    // Planted in a private memo: taken as verified (and the impostor's credential with it).
    let entry =
        keys::danger::memo_entry(&forged, keys::trust_list::TYP, authority.root.public()).unwrap();
    let path = memo_path(&home);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mode = |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m));
    mode(path.parent().unwrap(), 0o700).unwrap();
    std::fs::write(&path, format!("edl-signature-memo 1\n{entry}\n")).unwrap();
    mode(&path, 0o600).unwrap();
    let (code, output) = check(&terminal, &qr, &home);
    assert_eq!(code, 0, "{output}");

    // Where someone else could have written it, it is not read.
    let dir = path.parent().unwrap();
    for (what, dir_mode, file_mode) in [
        ("group-writable directory", 0o770, 0o600),
        ("world-writable directory", 0o703, 0o600),
        ("group-writable file", 0o700, 0o620),
        ("world-writable file", 0o700, 0o602),
    ] {
        mode(dir, dir_mode).unwrap();
        mode(&path, file_mode).unwrap();
        let (code, output) = check(&terminal, &qr, &home);
        assert_eq!(code, 69, "{what}: {output}");
    }
    mode(dir, 0o700).unwrap();
    mode(&path, 0o600).unwrap();
    assert_eq!(check(&terminal, &qr, &home).0, 0);

    // A symbolic link to a private memo elsewhere: not followed.
    let elsewhere = terminal.dir.path().join("elsewhere");
    std::fs::rename(&path, &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &path).unwrap();
    assert_eq!(check(&terminal, &qr, &home).0, 69);
    std::fs::remove_file(&path).unwrap();
    std::fs::rename(&elsewhere, &path).unwrap();

    // Another user's (only root can make one here).
    if rustix::process::geteuid().is_root() {
        std::os::unix::fs::chown(&path, Some(65534), None).unwrap();
        assert_eq!(check(&terminal, &qr, &home).0, 69);
        std::os::unix::fs::chown(&path, Some(0), None).unwrap();
        std::os::unix::fs::chown(dir, Some(65534), None).unwrap();
        assert_eq!(check(&terminal, &qr, &home).0, 69);
    }
}

/// What a memo remembers is a signature, not a verdict: the time windows and the status
/// are read again at every check.
#[test]
fn a_remembered_list_is_still_judged_at_each_check() {
    let authority = Authority::new(BASE);
    let terminal = seeded(&authority);
    let qr = authority.qr(&authority.claims(7));
    let home = terminal.dir.path().join("home");
    assert_eq!(check(&terminal, &qr, &home).0, 1);
    // Days later the same remembered list is too old for the default policy.
    let (code, output) = check_at(&terminal, &qr, &home, NOW.plus(3 * DAY));
    assert_eq!(code, 2, "{output}");
}
