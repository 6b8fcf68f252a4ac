//! Pairing and sync between the partners' phones, directly over the local network.
//!
//! - [`pairing`]: the code exchange (SPAKE2), sans-IO.
//! - [`addresses`]: which addresses count as nearby, and an address as a person types it.
//! - [`invite`]: the invitation, as a link and a QR code.
//! - [`frame`]: length-prefixed frames with a ceiling, and the sync stream's frames.
//! - [`peers`]: what this phone remembers about the network, in its own settings.
//! - [`daily`]: who this phone is on the network, day by day.
//! - [`link`]: the link with the partner's phone, sans-IO: inputs in, effects out.
//! - [`sync`]: the sync session, sans-IO: frames and ticks in, frames and reports out.
//! - [`session`]: the pairing and sync conversations on their streams, one task each.
//! - [`node`]: the libp2p swarm, and the driver that feeds the link and does its effects.
//! - [`source_limit`]: a cap on the connections one address may have, first in line.
//! - [`worker`]: the node's connection to the journal, on a thread of its own.
//! - [`watch`]: knowing when another process writes the journal, without polling.
//! - [`moving`]: a move to a new phone: the code, the words, the files and the key.
//! - [`wire`]: frames and JSON on one stream, and a short connection to one peer.
//! - [`error`]: what can go wrong, in words a person can act on.
//!
//! Only the shared document travels, except in a move to a new phone ([`moving`]), which
//! carries the whole data folder, sealed at rest as it is, to the author's next phone.

pub mod addresses;
pub mod courier;
pub mod daily;
pub mod error;
pub mod frame;
pub mod invite;
pub mod letters;
pub mod link;
pub mod moving;
pub mod node;
pub mod pairing;
pub mod peers;
pub mod relay;
pub mod session;
pub mod source_limit;
pub mod sync;
pub mod watch;
pub mod wire;
pub mod worker;

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::Serialize;

pub use error::{NetError, Paired};
pub use node::{NetConfig, Node};
pub use peers::PairingState;

/// Records everything this phone hands to the network before encryption, for tests that
/// prove what never leaves the phone, and for counting what a sync costs. A compressed
/// sync message is recorded as it reads before compression, so a search of the bytes
/// finds what it carried, and counted as the bytes that went.
#[derive(Clone, Default)]
pub struct WireTap(Arc<Mutex<Tapped>>);

#[derive(Default)]
struct Tapped {
    plain: Vec<u8>,
    sent: usize,
}

impl WireTap {
    /// Records bytes sent as they are.
    pub fn record(&self, bytes: &[u8]) {
        self.record_packed(bytes, bytes.len());
    }

    /// Records a frame that went as `sent` bytes (compressed) and reads as `plain`.
    pub fn record_packed(&self, plain: &[u8], sent: usize) {
        let mut tapped = self.0.lock().unwrap_or_else(|p| p.into_inner());
        tapped.plain.extend_from_slice(plain);
        tapped.sent += sent;
    }

    /// Everything said so far, readable (compressed messages inflated).
    pub fn bytes(&self) -> Vec<u8> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).plain.clone()
    }

    /// How long [`WireTap::bytes`] is.
    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).plain.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes handed to the network so far, compressed where they went compressed.
    pub fn sent(&self) -> usize {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).sent
    }
}

/// A task that stops when this is dropped.
pub(crate) struct AbortOnDrop(pub(crate) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Something that happened on the network, as `sync --json` prints it, one per line.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum NetEvent {
    /// This phone accepts connections at this address.
    Listening { address: String },
    /// The partner's phone was seen on the network.
    Discovered { peer: String, address: String },
    /// A connection to the partner's phone is open.
    Connected { peer: String },
    /// Both phones hold the same shared entries.
    Synced { peer: String, at: DateTime<Utc>, received: usize },
    /// The connection to the partner's phone ended.
    Disconnected { peer: String, reason: String },
    /// A device that is not the partner's phone was turned away, a peer broke the
    /// protocol or is in another pairing, or the partner's phone sent changes that break
    /// the rules (sync then stops until resumed).
    Refused { peer: Option<String>, reason: String },
    /// An address given to connect to could not be reached.
    Unreachable { address: String, reason: String },
    /// Pairing finished; both screens show the same words. Nothing syncs until the person
    /// on each phone confirms that they match.
    Paired {
        partner: String,
        name: String,
        safety_words: Vec<String>,
        /// The pairing continues the couple's shared document (a restore from a backup).
        continued: bool,
    },
    /// An invite ended without a partner joining.
    InviteEnded { reason: String },
    /// A sealed letter left this phone, for the partner's phone or a relay.
    LetterSent { bytes: usize },
    /// A sealed letter arrived, kept sealed until the journal opens it.
    LetterReceived { bytes: usize },
    /// The courier (or a relay) stopped.
    CourierEnded { reason: String },
    /// A relay kept a sealed letter for a phone.
    LetterStored { bytes: usize },
    /// A phone fetched a sealed letter from a relay, which deleted it.
    LetterFetched { bytes: usize },
}

/// Where sync stands, for the badge that is always on screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    /// Not paired with anyone yet.
    NotPaired,
    /// Paired, and sync is paused on this phone.
    Paused,
    /// The partner's phone sent changes that break the rules; nothing syncs until the
    /// person resumes sync, or unpairs.
    Stopped,
    /// No network to look on.
    Offline,
    /// On a network, and the partner's phone is not (yet) found.
    Looking,
    /// Connected, and the first exchange is under way.
    Connected,
    /// Connected and holding the same shared entries.
    Synced,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PartnerView {
    pub peer_id: String,
    pub name: String,
    /// When the partner last moved Steady to a new phone, as their phone wrote it in the
    /// shared document; `None` when never. Nothing about where or when it is used.
    pub moved_at: Option<DateTime<Utc>>,
    /// Whether that last time was a restore from a backup, which continued the pairing,
    /// rather than a move.
    pub restored: bool,
}

/// The state of sync on this phone.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NetStatus {
    pub peer_id: Option<String>,
    pub link: LinkState,
    pub partner: Option<PartnerView>,
    pub paused: bool,
    pub last_synced: Option<DateTime<Utc>>,
    /// Shared changes the partner's phone does not have yet, as far as this phone knows:
    /// those in the document, and shares and edits still waiting on this phone.
    pub unsent_changes: usize,
    pub listening: Vec<String>,
    /// Whether the person on this phone checked the safety words.
    pub pairing: PairingState,
    /// Whether the partner's phone said its person checked them too.
    pub partner_confirmed: bool,
    /// Why sync was stopped, when the partner's phone broke the rules.
    pub stopped: Option<String>,
    /// The stored size of a shared document too big to open (`store::MAX_OPENED`):
    /// nothing is synced until the pairing ends.
    pub shared_document_too_big: Option<u64>,
    /// The couple's home relays (`net::relay`).
    pub relays: Vec<RelayView>,
}

/// A home relay of the couple, as `status --json` lists it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RelayView {
    pub id: String,
    /// `me` or `partner`: who added it.
    pub added_by: String,
    pub addresses: Vec<String>,
}

impl NetStatus {
    /// What this phone knows without a network: from its own settings. Its `peer_id`s
    /// are the ones kept; the day's are the running node's to say (or
    /// [`daily::peers_on`]'s, as `status` does).
    pub fn at_rest(store: &crate::store::Store) -> Result<NetStatus, peers::PeersError> {
        let partner = peers::partner(store)?;
        let paused = peers::paused(store)?;
        let stopped = if partner.is_some() { peers::stopped(store)? } else { None };
        let since = peers::sync_state(store).shared_heads;
        let in_document = if partner.is_some() { store.changes_since(&since)? } else { 0 };
        let unsent_changes = in_document + store.waiting_count()?;
        let partner_confirmed = match &partner {
            Some(p) => peers::partner_confirmed(store, p)?,
            None => false,
        };
        Ok(NetStatus {
            peer_id: peers::peer_id(store)?.map(|p| p.to_base58()),
            link: match (&partner, paused, &stopped) {
                (None, _, _) => LinkState::NotPaired,
                (Some(_), _, Some(_)) => LinkState::Stopped,
                (Some(_), true, None) => LinkState::Paused,
                (Some(_), false, None) => LinkState::Offline,
            },
            pairing: peers::pairing_state(partner.as_ref()),
            partner: partner.map(|p| {
                let moved = peers::partner_moved(store, &p);
                PartnerView {
                    peer_id: p.peer.to_base58(),
                    moved_at: moved.map(|(at, _)| at),
                    restored: moved.is_some_and(|(_, restored)| restored),
                    name: p.name,
                }
            }),
            paused,
            last_synced: peers::last_synced(store)?,
            unsent_changes,
            listening: Vec::new(),
            partner_confirmed,
            stopped,
            shared_document_too_big: store.document_too_big(),
            relays: relay::Known::read(store)?
                .relays
                .into_iter()
                .map(|r| RelayView { id: r.id, added_by: r.added_by, addresses: r.addresses })
                .collect(),
        })
    }
}
