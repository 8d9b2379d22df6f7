//! Signatures already verified, remembered between processes.
//!
//! A roadside terminal starts a process per check, and every check verifies the same
//! cached trust list and status list again before the credential: two of its three Ed25519
//! verifications. A [`SignatureMemo`] lets such a process skip a verification that an
//! earlier process of the same user already did, and nothing else: an entry is the
//! SHA-256 of the public key, the signature and the exact bytes signed, so it vouches for
//! that one combination only. A changed byte, another key or another signature is
//! verified in full (and remembered if it verifies); time windows, revocation and every
//! other check still run each time.
//!
//! The memo is exactly as trustworthy as the storage it is read from: an entry makes its
//! signature count as verified. So it must come from storage only the verifying user can
//! write (the verifier keeps it in a private directory of that user's and ignores it
//! otherwise), never from the cache a less trusted sync process writes. This module does
//! no I/O: it reads and writes bytes.

use std::collections::BTreeSet;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use crate::key::{PublicKey, SIGNATURE_LEN};

/// The first line of a memo's bytes.
const HEADER: &str = "edl-signature-memo 1";
/// Entries kept: the signatures one process used or added (a terminal needs a handful).
const MAX_ENTRIES: usize = 256;

/// One remembered verification: SHA-256 over a domain label, key, signature and message.
type Entry = [u8; 32];

/// A set of remembered signature verifications (see the module documentation).
#[derive(Debug, Default)]
pub struct SignatureMemo {
    /// What was read, trusted as verified.
    known: BTreeSet<Entry>,
    /// The entries this process relied on or added.
    this_run: Mutex<BTreeSet<Entry>>,
}

impl SignatureMemo {
    /// An empty memo: every signature is verified, and those that verify are remembered.
    pub fn new() -> SignatureMemo {
        SignatureMemo::default()
    }

    /// Reads a memo written by [`SignatureMemo::to_bytes`]. Only for bytes from storage
    /// no one but the verifying user can write. Anything malformed reads as empty: the
    /// memo only ever saves work.
    pub fn from_bytes(bytes: &[u8]) -> SignatureMemo {
        let Ok(text) = std::str::from_utf8(bytes) else {
            return SignatureMemo::new();
        };
        let mut lines = text.lines();
        if lines.next() != Some(HEADER) {
            return SignatureMemo::new();
        }
        let mut known = BTreeSet::new();
        for line in lines.take(MAX_ENTRIES) {
            let mut entry = [0; 32];
            if hex::decode_to_slice(line, &mut entry).is_err() {
                return SignatureMemo::new();
            }
            known.insert(entry);
        }
        SignatureMemo {
            known,
            this_run: Mutex::default(),
        }
    }

    /// The memo to keep, if this process added to it: the entries it relied on or added
    /// (so ones no longer used fall away). `None` when nothing new was verified, so there
    /// is nothing to write.
    pub fn to_bytes(&self) -> Option<Vec<u8>> {
        let entries = self.this_run.lock().unwrap_or_else(|e| e.into_inner());
        if entries.is_subset(&self.known) {
            return None;
        }
        let mut text = String::from(HEADER);
        for entry in entries.iter().take(MAX_ENTRIES) {
            text.push('\n');
            text.push_str(&hex::encode(entry));
        }
        text.push('\n');
        Some(text.into_bytes())
    }

    /// Whether `signature` by `key` over `message` verifies (RFC 8032 strict): at once if
    /// remembered, else verified and, if good, remembered.
    pub(crate) fn verify(&self, key: &PublicKey, message: &[u8], signature: &[u8]) -> bool {
        if signature.len() != SIGNATURE_LEN {
            // Never verifies; and entries assume the signature's length.
            return false;
        }
        let entry = entry(key, message, signature);
        let good = self.known.contains(&entry) || key.verify_strict(message, signature);
        if good {
            let mut this_run = self.this_run.lock().unwrap_or_else(|e| e.into_inner());
            this_run.insert(entry);
        }
        good
    }
}

/// The entry for one verification. The label keeps these digests apart from any other
/// SHA-256 of the same bytes; the key and the signature have fixed lengths (32 and 64
/// bytes, checked before), so the message that follows them cannot shift into them.
pub(crate) fn entry(key: &PublicKey, message: &[u8], signature: &[u8]) -> Entry {
    let mut hash = Sha256::new();
    hash.update(b"edl signature memo\0");
    hash.update(key.to_bytes());
    hash.update(signature);
    hash.update(message);
    hash.finalize().into()
}

#[cfg(test)]
mod tests;
