use std::os::unix::fs::PermissionsExt;

use super::{KeyFileError, load, public_path, read_public, replace_durably, write_new_durably};
use crate::config::KeySource;

/// Development keys in a fresh data directory, loaded twice: the second load reads them.
fn data_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let (_, reports) = load(&KeySource::Development, dir.path()).unwrap();
    assert!(reports.iter().all(|r| r.created));
    dir
}

fn root_public_path(dir: &tempfile::TempDir) -> std::path::PathBuf {
    public_path(&dir.path().join("keys/root.pem"))
}

#[track_caller]
fn check_restored(damage: impl FnOnce(&std::path::Path)) {
    let dir = data_dir();
    let path = root_public_path(&dir);
    let before = std::fs::read(&path).unwrap();
    damage(&path);
    let (keys, reports) = load(&KeySource::Development, dir.path()).unwrap();
    assert!(reports.iter().all(|r| !r.created));
    assert_eq!(std::fs::read(&path).unwrap(), before);
    let super::Root::Key(root) = keys.root else {
        panic!("development keys hold the root key")
    };
    assert_eq!(read_public(&path).unwrap(), *root.public());
}

#[test]
fn an_empty_public_key_file_is_derived_again() {
    check_restored(|path| std::fs::File::create(path).map(drop).unwrap())
}
#[test]
fn a_missing_public_key_file_is_derived_again() {
    check_restored(|path| std::fs::remove_file(path).unwrap())
}
#[test]
fn a_torn_public_key_file_is_derived_again() {
    check_restored(|path| std::fs::write(path, "-----BEGIN PUBLIC KEY-----\nMCowBQ").unwrap())
}
#[test]
fn another_key_in_the_public_key_file_is_replaced() {
    check_restored(|path| {
        let other = keys::SigningKey::from_seed(&[9; 32]);
        std::fs::write(path, other.public().to_spki_pem()).unwrap()
    })
}

#[test]
fn every_key_file_is_whole_and_no_temporary_is_left() {
    let dir = data_dir();
    let mut names: Vec<String> = std::fs::read_dir(dir.path().join("keys"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "credential.pem",
            "credential.pub.pem",
            "root.pem",
            "root.pub.pem",
            "status.pem",
            "status.pub.pem"
        ]
    );
    for name in ["credential.pem", "root.pem", "status.pem"] {
        let path = dir.path().join("keys").join(name);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{name}");
        let public = read_public(&public_path(&path)).unwrap();
        assert_eq!(super::read_private(&path).unwrap().public(), &public);
    }
}

#[test]
fn a_new_file_never_replaces_an_existing_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("key.pem");
    write_new_durably(&path, b"first", 0o600).unwrap();
    let err = write_new_durably(&path, b"second", 0o600).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
    assert_eq!(std::fs::read(&path).unwrap(), b"first");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn a_replacement_takes_its_mode_even_over_a_leftover_temporary() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("key.pub.pem");
    // An interrupted earlier write left its temporary behind, readable by anyone.
    std::fs::write(dir.path().join(".key.pub.pem.tmp"), b"old").unwrap();
    std::fs::write(&path, b"old").unwrap();
    replace_durably(&path, b"new", 0o640).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"new");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn an_unreadable_private_key_is_still_refused() {
    let dir = data_dir();
    let path = dir.path().join("keys/root.pem");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::remove_file(root_public_path(&dir)).unwrap();
    let err = load(&KeySource::Development, dir.path()).err().unwrap();
    assert!(matches!(err, KeyFileError::Permissions { .. }), "{err}");
}
