//! `edl-verify init`: sets a terminal up in one command. It pins the root key (after the
//! person at the terminal compared its kid with the one the authority published), copies
//! the API key beside the configuration with mode 0600, writes the configuration, runs the
//! first sync and says what to try next.
//!
//! The configuration folder ends up self-contained: `verify.toml` names `root.pub.pem`,
//! `verify-api-key` and `server-ca.pem` by relative paths, so it can be moved or copied to
//! another terminal as a whole. Every file is written to a temporary name and renamed into
//! place: an interrupted `init` leaves no half-written file.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use keys::{PublicKey, UnixTime};

use crate::cli::InitArgs;
use crate::config::{self, Config};
use crate::{Failure, Io, World, sync};

/// The file names `init` writes beside the configuration.
pub const ROOT_FILE: &str = "root.pub.pem";
/// The API key's file name.
pub const API_KEY_FILE: &str = "verify-api-key";
/// The server's trust anchors' file name.
pub const CA_FILE: &str = "server-ca.pem";

/// The cache folder `init` names for the system-wide configuration: the state directory of
/// `edl-verify-sync.service`.
const SYSTEM_CACHE: &str = "/var/lib/edl-verify";

/// Runs `init`, writing the configuration to `config_path`.
pub fn run(
    args: &InitArgs,
    config_path: &Path,
    io: &mut Io<'_>,
    world: &World<'_>,
) -> Result<(), Failure> {
    let server = config::check_url(&args.server).map_err(Failure::Usage)?;
    let root_pem = fs::read_to_string(&args.root)
        .map_err(|e| Failure::Io(format!("reading {}: {e}", args.root.display())))?;
    let root = PublicKey::from_spki_pem(&root_pem).map_err(|e| {
        let hint = if root_pem.contains("PRIVATE KEY") {
            ": that is a private key; give the root's public key (root.pub.pem)"
        } else {
            ""
        };
        Failure::Usage(format!("{}: {e}{hint}", args.root.display()))
    })?;
    let api_key = match &args.key_file {
        Some(path) => {
            let text = fs::read_to_string(path)
                .map_err(|e| Failure::Io(format!("reading {}: {e}", path.display())))?;
            let key = text.lines().next().unwrap_or_default().trim().to_owned();
            if key.is_empty() || !key.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(Failure::Usage(format!(
                    "{}: the first line must be the API key (printable ASCII, no spaces)",
                    path.display()
                )));
            }
            Some(key)
        }
        None => None,
    };
    let ca = match &args.ca {
        Some(path) => Some(
            fs::read(path).map_err(|e| Failure::Io(format!("reading {}: {e}", path.display())))?,
        ),
        None => None,
    };
    if config_path.exists() && !args.force {
        return Err(Failure::Usage(format!(
            "{} exists already: give --force to replace it",
            config_path.display()
        )));
    }

    say(
        io,
        &format!(
            "root key {} (from {})\n",
            root.key_id(),
            args.root.display()
        ),
    )?;
    if world.stdin_is_terminal && !args.yes {
        say(
            io,
            "Compare this kid with the one your authority published. Pin this root key? [y/N] ",
        )?;
        let mut answer = String::new();
        io.stdin
            .read_line(&mut answer)
            .map_err(|e| Failure::Io(format!("reading the answer: {e}")))?;
        if !matches!(
            answer.trim().to_lowercase().as_str(),
            "y" | "yes" | "是" | "是的"
        ) {
            return Err(Failure::Usage("not confirmed: nothing was written".into()));
        }
    }

    let folder = config_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    fs::create_dir_all(&folder)
        .map_err(|e| Failure::Io(format!("creating {}: {e}", folder.display())))?;
    write_file(
        &folder.join(ROOT_FILE),
        root.to_spki_pem().as_bytes(),
        0o644,
    )?;
    if let Some(key) = &api_key {
        write_file(
            &folder.join(API_KEY_FILE),
            format!("{key}\n").as_bytes(),
            0o600,
        )?;
    }
    if let Some(ca) = &ca {
        write_file(&folder.join(CA_FILE), ca, 0o644)?;
    }
    let cache_dir = args.cache_dir.clone().unwrap_or_else(|| {
        if config_path == Path::new(config::DEFAULT_PATH) {
            PathBuf::from(SYSTEM_CACHE)
        } else {
            PathBuf::from("cache")
        }
    });
    let text = config_text(&ConfigText {
        server: &server,
        api_key: api_key.is_some(),
        ca: ca.is_some(),
        cache_dir: &cache_dir,
        purpose: args.purpose.as_deref(),
        now: (world.clock)(),
    });
    write_file(config_path, text.as_bytes(), 0o644)?;
    say(io, &format!("wrote {}\n", config_path.display()))?;

    // The file as written is the one the terminal will use: check it the same way.
    let config = Config::load(Some(config_path), &io.env)
        .map_err(|e| Failure::Config(format!("the configuration just written: {e}")))?;
    let client = world.client(&config, config.sync_timeout)?;
    let request = sync::SyncRequest {
        server: &server,
        roots: &config.roots,
        cache_dir: &config.cache_dir,
        force: true,
        clock_tolerance: config.clock_tolerance,
    };
    let report = match sync::sync(&request, &client, (world.clock)()) {
        Ok(report) => report,
        Err(failure) => {
            say(
                io,
                &format!(
                    "the first sync failed; once that is fixed, run:\n  {}sync\n",
                    command_prefix(config_path)
                ),
            )?;
            return Err(failure);
        }
    };
    let trust = crate::check::Trust::load(&config.cache_dir, &config.roots).ok();
    say(
        io,
        &sync::describe(&report, trust.as_ref().map(|t| &t.trust_list)),
    )?;
    let prefix = command_prefix(config_path);
    say(
        io,
        &format!(
            "ready. Try:\n  {prefix}check 'DL1:…'          # or --image photo.jpg\n  \
             {prefix}scan                  # a QR scanner that types lines\n"
        ),
    )
}

/// What the configuration file says.
struct ConfigText<'a> {
    server: &'a str,
    api_key: bool,
    ca: bool,
    cache_dir: &'a Path,
    purpose: Option<&'a str>,
    now: UnixTime,
}

fn config_text(c: &ConfigText<'_>) -> String {
    let quote = |s: &str| toml::Value::String(s.to_owned()).to_string();
    let mut text = format!(
        "# Written by `edl-verify init` at {}. Relative paths are relative to this file.\n\
         server = {}\n\
         roots = [{}]                  # pinned root public key(s)\n",
        c.now,
        quote(c.server),
        quote(ROOT_FILE),
    );
    if c.api_key {
        text.push_str(&format!(
            "api_key_file = {}           # mode 0600\n",
            quote(API_KEY_FILE)
        ));
    }
    if c.ca {
        text.push_str(&format!("ca = {}\n", quote(CA_FILE)));
    }
    text.push_str(&format!(
        "cache_dir = {}\n",
        quote(&c.cache_dir.to_string_lossy())
    ));
    if let Some(purpose) = c.purpose {
        text.push_str(&format!("purpose = {}\n", quote(purpose)));
    }
    text
}

/// `edl-verify --config PATH ` unless PATH is where edl-verify looks by itself.
fn command_prefix(config_path: &Path) -> String {
    if config_path == Path::new(config::DEFAULT_PATH) {
        "edl-verify ".to_owned()
    } else {
        format!("edl-verify --config {} ", config_path.display())
    }
}

/// Writes `bytes` to a temporary file created with `mode`, fsyncs it and renames it over
/// `path`: readers see the old file or the new one, and a secret is never readable by
/// others, not even for an instant.
fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Failure> {
    let mut staged = path.as_os_str().to_owned();
    staged.push(format!(".{}.tmp", std::process::id()));
    let staged = PathBuf::from(staged);
    let _ = fs::remove_file(&staged);
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&staged)
        .and_then(|mut file| {
            file.write_all(bytes)?;
            file.sync_all()
        })
        .and_then(|()| fs::rename(&staged, path));
    written.map_err(|e| {
        let _ = fs::remove_file(&staged);
        Failure::Io(format!("writing {}: {e}", path.display()))
    })
}

fn say(io: &mut Io<'_>, text: &str) -> Result<(), Failure> {
    io.stdout
        .write_all(text.as_bytes())
        .and_then(|()| io.stdout.flush())
        .map_err(|e| Failure::Io(format!("writing: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sync unit reads what `init` writes for the system-wide configuration: the same
    /// configuration path, the API key beside it under the same name, handed over by
    /// systemd under that name and named to edl-verify through the environment.
    #[test]
    fn sync_unit_agrees_with_init() {
        let unit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../systemd/edl-verify-sync.service");
        let unit = fs::read_to_string(&unit).unwrap_or_else(|e| panic!("{}: {e}", unit.display()));
        let value = |key: &str| -> Vec<&str> {
            unit.lines()
                .filter_map(|line| line.strip_prefix(key)?.strip_prefix('='))
                .collect()
        };
        let folder = Path::new(config::DEFAULT_PATH)
            .parent()
            .unwrap_or(Path::new("/"));
        assert_eq!(
            value("ExecStart"),
            [format!(
                "/usr/bin/edl-verify sync --config {}",
                config::DEFAULT_PATH
            )]
        );
        assert_eq!(
            value("LoadCredential"),
            [format!(
                "{API_KEY_FILE}:{}",
                folder.join(API_KEY_FILE).display()
            )]
        );
        // The fallback for a terminal without a key: blank, which is "no key".
        assert_eq!(value("SetCredential"), [format!("{API_KEY_FILE}:\\n")]);
        let blank = tempfile::NamedTempFile::new().unwrap();
        fs::write(blank.path(), "\n").unwrap();
        assert_eq!(config::read_api_key_file(blank.path(), true).unwrap(), None);
        assert_eq!(
            value("Environment"),
            [format!("{}=%d/{API_KEY_FILE}", config::API_KEY_FILE_ENV)]
        );
        assert_eq!(value("StateDirectory"), ["edl-verify"]);
        assert_eq!(Path::new(SYSTEM_CACHE), Path::new("/var/lib/edl-verify"));
        // And `init` names the key file by that name in the configuration it writes.
        let text = config_text(&ConfigText {
            server: "https://edl.example",
            api_key: true,
            ca: false,
            cache_dir: Path::new(SYSTEM_CACHE),
            purpose: None,
            now: UnixTime(0),
        });
        assert!(
            text.contains(&format!("api_key_file = \"{API_KEY_FILE}\"")),
            "{text}"
        );
    }
}
