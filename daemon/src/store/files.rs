//! Files written so that they survive power loss: every file edld creates goes to a
//! temporary name, is fsynced, renamed over the final name, and the directory is fsynced,
//! so after a crash the file is either the old one or the whole new one, never empty.

use std::fs::File;
use std::io::Write;
use std::path::Path;

/// Syncs a directory so that entries created or renamed in it survive power loss.
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Writes `bytes` to `path` durably: temporary name, fsync, rename, fsync of the
/// directory. `mode` sets the file's permissions (e.g. 0o600 for secrets) before any byte
/// is written.
pub(crate) fn write_durably(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp_name);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        sync_dir(if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        })?;
    }
    Ok(())
}
