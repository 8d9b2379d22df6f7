//! The trust list spec: the TOML file an operator keeps under change control that says what
//! the next trust list holds. `trust-list sign` reads it; `rotate` and `revoke` edit it in
//! place, keeping the operator's comments and layout.

use std::path::{Path, PathBuf};

use keys::{KeyId, KeyUse, TrustedKey, UnixTime};
use serde::{Deserialize, Deserializer, de};
use toml_edit::{ArrayOfTables, DocumentMut, Item, Table};

use crate::exit::Failure;
use crate::files;
use crate::times::{self, OPEN_ENDED};

/// The spec format, for `--help` and the example file.
pub(crate) const FORMAT_HELP: &str = "\
TRUST LIST SPEC (TOML)

  issuer = \"https://dl.example.gov\"       # as credentials' iss: the authority's URI or code
  sequence = 12                           # must grow with every list published
  next_update = \"7d\"                      # RFC 3339 time, or a duration from signing
  status_lists = [\"https://dl.example.gov/v1/status-lists/1\"]

  [[keys]]                                # one table per credential or status key
  path = \"credential-2025.pub.pem\"        # public (or private) PEM, relative to the spec
  kid = \"3f1c0a9b2e4d6f70\"                # optional; checked against the key file
  use = \"credential\"                      # credential | status
  not_before = 2025-01-01T00:00:00Z       # start of the key's signing window
  not_after = 2026-01-31T00:00:00Z        # optional end; absent: open-ended
  revoked = false                         # optional; true: nothing it signed verifies

Times are RFC 3339 with an offset, quoted or not. A key's window bounds when it may sign:
tokens it signed stay valid until their own expiry unless the key is revoked. 'rotate' and
'revoke' edit the spec in place (comments are kept) and bump the sequence; 'trust-list
sign' publishes it. The edl sources hold a complete example in
keys/testdata/trust-list.example.toml.";

/// The spec as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Spec {
    /// The issuing authority, as credentials' `iss`.
    pub(crate) issuer: String,
    /// The trust list's sequence number.
    pub(crate) sequence: u64,
    /// When the next list will be out at the latest.
    pub(crate) next_update: Moment,
    /// Status list URIs.
    #[serde(default)]
    pub(crate) status_lists: Vec<String>,
    /// The credential and status keys.
    #[serde(default)]
    pub(crate) keys: Vec<KeyEntry>,
}

/// One `[[keys]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeyEntry {
    /// The key file, relative to the spec's folder.
    pub(crate) path: PathBuf,
    /// The key id the operator expects; checked against the file.
    #[serde(default)]
    pub(crate) kid: Option<KeyId>,
    /// `credential` or `status`.
    #[serde(rename = "use")]
    pub(crate) key_use: KeyUse,
    /// Start of the signing window.
    pub(crate) not_before: Timestamp,
    /// End of the signing window; none is open-ended.
    #[serde(default)]
    pub(crate) not_after: Option<Timestamp>,
    /// Withdrawn.
    #[serde(default)]
    pub(crate) revoked: bool,
}

impl KeyEntry {
    /// The end of the signing window, [`OPEN_ENDED`] when none is written.
    pub(crate) fn end(&self) -> UnixTime {
        self.not_after.map_or(OPEN_ENDED, |t| t.0)
    }

    /// Whether the key may sign at `now`; both ends of the window are inclusive, as in
    /// `TrustedKey::covers`.
    pub(crate) fn is_active(&self, now: UnixTime) -> bool {
        !self.revoked && self.not_before.0 <= now && now <= self.end()
    }
}

/// An absolute time in the spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Timestamp(pub(crate) UnixTime);

/// A time given absolutely or as a duration after the signing time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Moment {
    /// This time.
    At(UnixTime),
    /// This many seconds after signing.
    After(u64),
}

impl Moment {
    /// The time this moment names when signing at `now`.
    pub(crate) fn resolve(self, now: UnixTime) -> UnixTime {
        match self {
            Moment::At(t) => t,
            Moment::After(seconds) => now.plus(seconds),
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = time_text(deserializer)?;
        times::parse_timestamp(&text)
            .map(Timestamp)
            .map_err(de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for Moment {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = time_text(deserializer)?;
        if let Ok(seconds) = times::parse_duration(&text) {
            return Ok(Moment::After(seconds));
        }
        times::parse_timestamp(&text).map(Moment::At).map_err(|_| {
            de::Error::custom(format!(
                "{text:?} is neither an RFC 3339 time (2025-07-01T00:00:00Z) nor a duration (7d)"
            ))
        })
    }
}

/// A time as text, whether written as a TOML string or a TOML offset date-time.
fn time_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    match toml::Value::deserialize(deserializer)? {
        toml::Value::String(text) => Ok(text),
        toml::Value::Datetime(datetime) => Ok(datetime.to_string()),
        other => Err(de::Error::custom(format!(
            "expected a time, found a {}",
            other.type_str()
        ))),
    }
}

/// A spec file read from disk.
pub(crate) struct SpecFile {
    /// Where it was read from.
    pub(crate) path: PathBuf,
    /// Its text, for editing.
    pub(crate) text: String,
    /// What it says.
    pub(crate) spec: Spec,
}

/// A key entry with its key file read.
pub(crate) struct ResolvedKey {
    /// The path as written in the spec.
    pub(crate) written_path: PathBuf,
    /// The key as the trust list will carry it.
    pub(crate) trusted: TrustedKey,
}

impl SpecFile {
    /// Reads and parses a spec.
    pub(crate) fn load(path: &Path) -> Result<SpecFile, Failure> {
        let text = files::read_text(path)?;
        let spec = parse(&text).map_err(|e| Failure::data(format!("{}: {e}", path.display())))?;
        Ok(SpecFile {
            path: path.to_path_buf(),
            text,
            spec,
        })
    }

    /// The folder key paths are relative to.
    pub(crate) fn base_directory(&self) -> PathBuf {
        match self.path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    /// Reads every key file and checks each entry, in spec order.
    pub(crate) fn resolve_keys(&self) -> Result<Vec<ResolvedKey>, Failure> {
        let base = self.base_directory();
        let mut resolved: Vec<ResolvedKey> = Vec::with_capacity(self.spec.keys.len());
        for (n, entry) in self.spec.keys.iter().enumerate() {
            let bad = |reason: String| {
                Failure::data(format!(
                    "{}: keys[{n}] ({}): {reason}",
                    self.path.display(),
                    entry.path.display()
                ))
            };
            if entry.key_use == KeyUse::Root {
                return Err(bad(
                    "use root: the root key signs the list and is never listed in it".into(),
                ));
            }
            let public = files::load_key(&base.join(&entry.path))?.public().clone();
            if let Some(kid) = entry.kid
                && kid != public.key_id()
            {
                return Err(bad(format!(
                    "kid {kid} does not match the key file, whose kid is {}",
                    public.key_id()
                )));
            }
            if entry.end() < entry.not_before.0 {
                return Err(bad("not_after is before not_before".into()));
            }
            if let Some(earlier) = resolved.iter().find(|r| r.trusted.public == public) {
                return Err(bad(format!(
                    "the same key as {} (kid {})",
                    earlier.written_path.display(),
                    public.key_id()
                )));
            }
            resolved.push(ResolvedKey {
                written_path: entry.path.clone(),
                trusted: TrustedKey {
                    public,
                    key_use: entry.key_use,
                    not_before: entry.not_before.0,
                    not_after: entry.end(),
                    revoked: entry.revoked,
                },
            });
        }
        Ok(resolved)
    }

    /// The spec's text as an editable document.
    pub(crate) fn document(&self) -> Result<SpecDocument, Failure> {
        let doc = self
            .text
            .parse::<DocumentMut>()
            .map_err(|e| Failure::data(format!("{}: {e}", self.path.display())))?;
        Ok(SpecDocument { doc })
    }

    /// The sequence number after this one.
    pub(crate) fn next_sequence(&self) -> Result<u64, Failure> {
        // TOML integers are signed 64-bit: the sequence must stay representable.
        let next = self.spec.sequence.saturating_add(1);
        if i64::try_from(next).is_err() {
            return Err(Failure::data(format!(
                "{}: sequence {} cannot grow any further",
                self.path.display(),
                self.spec.sequence
            )));
        }
        Ok(next)
    }
}

/// Parses spec text; the error names the line and column.
pub(crate) fn parse(text: &str) -> Result<Spec, String> {
    let spec: Spec = toml::from_str(text).map_err(|e| {
        let place = e
            .span()
            .map(|span| {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.len() - before.rfind('\n').map_or(0, |at| at + 1) + 1;
                format!("line {line}, column {column}: ")
            })
            .unwrap_or_default();
        format!("{place}{}", e.message().trim())
    })?;
    if spec.issuer.trim().is_empty() {
        return Err("issuer is empty".into());
    }
    if let Some(uri) = spec.status_lists.iter().find(|u| u.trim().is_empty()) {
        return Err(format!("status_lists holds an empty URI {uri:?}"));
    }
    Ok(spec)
}

/// A spec being edited. Only the values a command changes are touched; comments,
/// ordering and formatting of everything else stay as the operator wrote them.
pub(crate) struct SpecDocument {
    doc: DocumentMut,
}

impl SpecDocument {
    /// Sets `sequence`.
    pub(crate) fn set_sequence(&mut self, sequence: u64) {
        set_keeping_decor(self.doc.as_table_mut(), "sequence", to_integer(sequence));
    }

    /// Sets `not_after` of the `index`th key.
    pub(crate) fn set_not_after(&mut self, index: usize, end: UnixTime) {
        if let Some(table) = self.keys().get_mut(index) {
            set_keeping_decor(table, "not_after", datetime(end));
        }
    }

    /// Sets `revoked = true` on the `index`th key.
    pub(crate) fn set_revoked(&mut self, index: usize) {
        if let Some(table) = self.keys().get_mut(index) {
            set_keeping_decor(table, "revoked", toml_edit::Value::from(true));
        }
    }

    /// Appends a `[[keys]]` table with an open-ended window, under `comment`.
    pub(crate) fn push_key(
        &mut self,
        path: &str,
        kid: KeyId,
        key_use: KeyUse,
        not_before: UnixTime,
        comment: &str,
    ) {
        let mut table = Table::new();
        table["path"] = toml_edit::value(path);
        table["kid"] = toml_edit::value(kid.to_string());
        table["use"] = toml_edit::value(key_use.as_str());
        table["not_before"] = Item::Value(datetime(not_before));
        table.decor_mut().set_prefix(format!("\n# {comment}\n"));
        self.keys().push(table);
    }

    /// The document as text.
    pub(crate) fn render(&self) -> String {
        self.doc.to_string()
    }

    /// The `[[keys]]` tables; an inline `keys = [...]` array becomes tables first.
    fn keys(&mut self) -> &mut ArrayOfTables {
        let item = self
            .doc
            .as_table_mut()
            .entry("keys")
            .or_insert(Item::ArrayOfTables(ArrayOfTables::new()));
        if !item.is_array_of_tables() {
            let taken = std::mem::take(item);
            *item = match taken.into_array_of_tables() {
                Ok(tables) => Item::ArrayOfTables(tables),
                // Not an array of tables at all: the spec did not parse, so no caller
                // gets here; start a fresh list rather than fail.
                Err(_) => Item::ArrayOfTables(ArrayOfTables::new()),
            };
        }
        match item {
            Item::ArrayOfTables(tables) => tables,
            // Set just above.
            _ => unreachable!("keys is an array of tables"),
        }
    }
}

/// Replaces the value of `key` in `table`, keeping the comments around the old value.
fn set_keeping_decor(table: &mut Table, key: &str, mut value: toml_edit::Value) {
    if let Some(old) = table.get(key).and_then(Item::as_value) {
        *value.decor_mut() = old.decor().clone();
    }
    table[key] = Item::Value(value);
}

fn to_integer(n: u64) -> toml_edit::Value {
    // Callers check the range with `next_sequence`; saturate rather than wrap regardless.
    toml_edit::Value::from(i64::try_from(n).unwrap_or(i64::MAX))
}

/// A TOML offset date-time for `time`, e.g. `2025-07-01T00:00:00Z`.
fn datetime(time: UnixTime) -> toml_edit::Value {
    let text = time.to_string();
    match text.parse::<toml_edit::Datetime>() {
        Ok(datetime) => toml_edit::Value::from(datetime),
        // UnixTime writes RFC 3339 for every time up to year 9999; beyond that, quote it.
        Err(_) => toml_edit::Value::from(text),
    }
}

#[cfg(test)]
mod tests;
