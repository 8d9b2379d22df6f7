//! Applications for a credential and their state machine (pure): queued → issued or
//! rejected, or, with an uploaded photo, reviewing → queued | rejected. Also the photo
//! checks an upload must pass.

use keys::jwk::HolderJwk;
use keys::licence::{LicenceNumber, PhotoDigest};
use keys::{PublicKey, UnixTime};
use serde::{Deserialize, Serialize};

use crate::domain::queue::Lane;

/// An application's ticket: 16 random bytes, written as 32 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ticket(pub [u8; 16]);

impl Ticket {
    /// The 32 digits, on the stack.
    fn digits(&self) -> [u8; 32] {
        let mut text = [0u8; 32];
        keys::lower_hex::encode_into(&self.0, &mut text);
        text
    }
}

impl std::fmt::Display for Ticket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let digits = self.digits();
        f.write_str(std::str::from_utf8(&digits).map_err(|_| std::fmt::Error)?)
    }
}

impl std::fmt::Debug for Ticket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Ticket({self})")
    }
}

impl std::str::FromStr for Ticket {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        keys::lower_hex::decode(s.as_bytes()).map(Ticket).ok_or(())
    }
}

impl Serialize for Ticket {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let digits = self.digits();
        s.serialize_str(std::str::from_utf8(&digits).map_err(serde::ser::Error::custom)?)
    }
}

impl<'de> Deserialize<'de> for Ticket {
    /// Parses the text where the deserializer holds it (every stored application and
    /// credential names its ticket).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Text;
        impl serde::de::Visitor<'_> for Text {
            type Value = Ticket;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a ticket: 32 lowercase hex digits")
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Ticket, E> {
                text.parse()
                    .map_err(|()| E::custom("a ticket is 32 lowercase hex digits"))
            }
        }
        d.deserialize_str(Text)
    }
}

/// Who applied on the holder's behalf.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// The national app's back end.
    App,
    /// A licence-office clerk.
    Window,
    /// The daemon itself, re-issuing after a registry change.
    Registry,
}

/// Where the credential's photo comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhotoSource {
    /// The compliant photo on file: no review.
    OnFile,
    /// Taken with the phone's camera: reviewed.
    Camera,
    /// Chosen from the phone's album: reviewed.
    Album,
}

/// An uploaded photo's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PhotoFormat {
    /// JPEG.
    Jpeg,
    /// PNG.
    Png,
}

impl PhotoFormat {
    /// The media type.
    pub fn media_type(self) -> &'static str {
        match self {
            PhotoFormat::Jpeg => "image/jpeg",
            PhotoFormat::Png => "image/png",
        }
    }
}

/// The photo an application uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Photo {
    /// The one on file.
    OnFile,
    /// An uploaded one, stored by digest.
    Uploaded {
        /// Its digest.
        digest: PhotoDigest,
        /// Its format.
        format: PhotoFormat,
        /// Camera or album.
        source: PhotoSource,
    },
}

/// Where an application stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ApplicationState {
    /// Waiting for a reviewer's decision on the uploaded photo.
    Reviewing,
    /// In the queue.
    Queued {
        /// Its lane.
        lane: Lane,
        /// Its sequence number in the lane.
        sequence: u64,
    },
    /// Done: a credential was issued.
    Issued {
        /// The credential id (hex).
        credential_id: String,
    },
    /// Done: refused.
    Rejected {
        /// Why, for the holder.
        reason: String,
    },
}

impl ApplicationState {
    /// Whether the application is still open (a new one for the licence returns it).
    pub fn is_open(&self) -> bool {
        matches!(
            self,
            ApplicationState::Reviewing | ApplicationState::Queued { .. }
        )
    }

    /// The state's name, as the API shows it.
    pub fn name(&self) -> &'static str {
        match self {
            ApplicationState::Reviewing => "reviewing",
            ApplicationState::Queued { .. } => "queued",
            ApplicationState::Issued { .. } => "issued",
            ApplicationState::Rejected { .. } => "rejected",
        }
    }
}

/// One application.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Application {
    /// Its ticket.
    pub ticket: Ticket,
    /// The licence.
    pub licence: LicenceNumber,
    /// Who applied.
    pub channel: Channel,
    /// The client that applied (its name).
    pub client: String,
    /// The photo.
    pub photo: Photo,
    /// Where it stands.
    pub state: ApplicationState,
    /// When it was accepted.
    pub created_at: UnixTime,
    /// When its state last changed.
    pub updated_at: UnixTime,
    /// Whether the licence already had a credential when this was accepted (a re-issue).
    #[serde(default, skip_serializing_if = "is_false")]
    pub reissue: bool,
    /// The wait quoted when it joined the queue, seconds (low, high), if one was known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quoted: Option<(u64, u64)>,
    /// The licence's application before this one (its latest when this one was
    /// accepted). A licence's applications form a chain from its latest back to its
    /// first, and the issued ones on it name the licence's credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<Ticket>,
    /// The holder's device key the credential is bound to (`cnf`), if the app sent one.
    /// A re-issue keeps it; a new device key takes a new application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder_key: Option<HolderJwk>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A stored holder key that no longer reads: it was checked at intake, so this is a damaged
/// store, never a reason to issue an unbound credential.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the holder_key of application {0}: {1}")]
pub struct DamagedHolderKey(pub Ticket, pub String);

/// Where a new application waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// With an uploaded photo: for a reviewer.
    Review,
    /// Before the opening time: until it is put in (random) order at the opening.
    BeforeOpening(Lane),
    /// In its lane of the queue.
    Queue(Lane),
}

/// Whether an application through `channel` re-issues a credential: one from the app for
/// a licence that has had credentials. (A registry change's re-issue is always one.)
pub(crate) fn is_reissue(channel: Channel, has_credentials: bool) -> bool {
    channel == Channel::App && has_credentials
}

/// A transition that the application's state does not allow.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the application is {0}")]
pub struct StateError(pub &'static str);

impl Application {
    /// The device key this application's credential is bound to (`cnf`), if any.
    pub fn bound_to(&self) -> Result<Option<PublicKey>, DamagedHolderKey> {
        self.holder_key
            .as_ref()
            .map(HolderJwk::to_public_key)
            .transpose()
            .map_err(|e| DamagedHolderKey(self.ticket, e.to_string()))
    }

    /// The re-issue a registry change starts when it supersedes a licence's credential:
    /// queued at `sequence` of the re-issue lane, on file, for the client that made the
    /// licence's `latest` application (the app's back end or an office follows it by its
    /// ticket; `actor` if there is none) and bound to the same device key.
    pub fn reissue(
        ticket: Ticket,
        licence: LicenceNumber,
        latest: Option<&Application>,
        actor: &str,
        sequence: u64,
        at: UnixTime,
    ) -> Application {
        Application {
            ticket,
            licence,
            channel: Channel::Registry,
            client: latest.map_or(actor, |a| a.client.as_str()).to_owned(),
            photo: Photo::OnFile,
            state: ApplicationState::Queued {
                lane: Lane::Reissue,
                sequence,
            },
            created_at: at,
            updated_at: at,
            reissue: true,
            quoted: None,
            previous: latest.map(|a| a.ticket),
            holder_key: latest.and_then(|a| a.holder_key.clone()),
        }
    }

    /// Where the application waits when it is made, `before_opening` or not.
    pub fn placement(&self, before_opening: bool) -> Placement {
        match self.photo {
            Photo::Uploaded { .. } => Placement::Review,
            Photo::OnFile if before_opening => Placement::BeforeOpening(self.lane()),
            Photo::OnFile => Placement::Queue(self.lane()),
        }
    }

    /// The lane the application joins: the window's, the re-issues' (after a registry
    /// change, or a new application for a licence that already had a credential), or the
    /// first applications'.
    pub fn lane(&self) -> Lane {
        match self.channel {
            Channel::Window => Lane::Window,
            Channel::Registry => Lane::Reissue,
            Channel::App if self.reissue => Lane::Reissue,
            Channel::App => Lane::First,
        }
    }

    /// The reviewer approved the photo: join the queue.
    pub fn approve(&mut self, sequence: u64, now: UnixTime) -> Result<(), StateError> {
        if self.state != ApplicationState::Reviewing {
            return Err(StateError(self.state.name()));
        }
        self.state = ApplicationState::Queued {
            lane: self.lane(),
            sequence,
        };
        self.updated_at = now;
        Ok(())
    }

    /// Refused, by a reviewer or because the licence cannot be issued.
    pub fn reject(&mut self, reason: String, now: UnixTime) -> Result<(), StateError> {
        if !self.state.is_open() {
            return Err(StateError(self.state.name()));
        }
        self.state = ApplicationState::Rejected { reason };
        self.updated_at = now;
        Ok(())
    }

    /// Issued.
    pub fn issue(&mut self, credential_id: String, now: UnixTime) -> Result<(), StateError> {
        if !matches!(self.state, ApplicationState::Queued { .. }) {
            return Err(StateError(self.state.name()));
        }
        self.state = ApplicationState::Issued { credential_id };
        self.updated_at = now;
        Ok(())
    }
}

/// Why an uploaded photo was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PhotoError {
    /// Larger than the configured limit.
    #[error("photo is {size} bytes, more than the {limit} allowed")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Neither JPEG nor PNG.
    #[error("photo is neither JPEG nor PNG")]
    Format,
    /// Truncated or damaged.
    #[error("photo is truncated or damaged")]
    Damaged,
}

/// Checks an uploaded photo: size, then JPEG (SOI … EOI) or PNG (signature, IHDR first,
/// IEND last) structure.
pub(crate) fn check_photo(bytes: &[u8], limit: usize) -> Result<PhotoFormat, PhotoError> {
    if bytes.len() > limit {
        return Err(PhotoError::TooLarge {
            size: bytes.len(),
            limit,
        });
    }
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        if bytes.len() < 8 || !bytes.ends_with(&[0xFF, 0xD9]) {
            return Err(PhotoError::Damaged);
        }
        return Ok(PhotoFormat::Jpeg);
    }
    if let Some(rest) = bytes.strip_prefix(PNG) {
        let ihdr = rest.get(4..8) == Some(b"IHDR");
        let iend =
            bytes.len() >= 12 && bytes.get(bytes.len() - 8..bytes.len() - 4) == Some(b"IEND");
        if !(ihdr && iend) {
            return Err(PhotoError::Damaged);
        }
        return Ok(PhotoFormat::Png);
    }
    Err(PhotoError::Format)
}

#[cfg(test)]
mod tests;
