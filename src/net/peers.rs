//! What this phone remembers about the network, kept in its own settings and never
//! shared: its key, its partner (who they are, which couple, the couple's network
//! secret, whether the words were checked on this phone), the partner's last addresses, the sync state, whether sync is
//! paused, and why it was stopped if the partner's phone broke the rules.
//!
//! The partner link reads them as one [`Settings`] and asks for changes as a [`Write`].

use automerge::sync;
use chrono::{DateTime, Utc};
use libp2p::identity::Keypair;
use libp2p::{Multiaddr, PeerId};
use serde::{Deserialize, Serialize};

use super::addresses;
use super::pairing::{CoupleNetwork, Role};
use crate::model::PersonId;
use crate::store::{PartnerRules, Store, StoreError};

const KEY: &str = "net.key";
const PARTNER: &str = "net.partner";
const ADDRESSES: &str = "net.partner_addresses";
const SYNC_STATE: &str = "net.sync_state";
const PAUSED: &str = "net.paused";
const LAST_SYNCED: &str = "net.last_synced";
const LISTEN_PORT: &str = "net.listen_port";
/// The couple id whose partner's phone said its person checked the words.
const PARTNER_CONFIRMED: &str = "net.partner_confirmed";
/// Why sync with the partner was stopped, when their phone broke the rules.
const STOPPED: &str = "net.stopped";

#[derive(Debug, thiserror::Error)]
pub enum PeersError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("this phone's saved network settings can't be read ({0}); unpair and pair again")]
    Damaged(&'static str),
}

/// The person this phone is paired with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partner {
    #[serde(with = "peer_text")]
    pub peer: PeerId,
    pub name: String,
    pub paired_at: DateTime<Utc>,
    /// The partner's person id, learned at pairing: their changes must carry it.
    #[serde(default)]
    pub person: PersonId,
    /// The Automerge actors (hex) of the partner's devices. One today; a list so that a
    /// person can later add a second device.
    #[serde(default)]
    pub actors: Vec<String>,
    /// The couple id both phones derived at pairing (hex). Empty in a partner saved
    /// before pairings had one, which is not trusted.
    #[serde(default)]
    pub couple: String,
    /// Whether the person on this phone checked that both phones showed the same words.
    /// Until then this phone sends and accepts nothing of the shared document.
    #[serde(default)]
    pub confirmed: bool,
    /// The four words both screens showed, so they can be checked later.
    #[serde(default)]
    pub safety_words: Vec<String>,
    /// The secret the two phones find each other by on the network (`net::daily`). None
    /// in a partner saved before phones took a new identity each day: this phone then
    /// keeps the one identity it paired with.
    #[serde(default, with = "network_text", skip_serializing_if = "Option::is_none")]
    pub network: Option<CoupleNetwork>,
    /// The side of the pairing this phone took, which tells its identities from the
    /// partner's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// On a phone that continued the couple's document after a restore from a backup:
    /// the heads (hex) of the history the partner's phone named, taken as it is
    /// ([`PartnerRules::history`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<String>,
    /// On the partner's phone: when this partner restored Steady from a backup and the
    /// pairing continued the couple's document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored_at: Option<DateTime<Utc>>,
}

impl Partner {
    /// The couple id as bytes, as the sync session's hello carries it.
    pub fn couple_bytes(&self) -> Option<[u8; 16]> {
        from_hex(&self.couple)?.try_into().ok()
    }

    /// What the store checks every received change against.
    pub fn rules(&self) -> Result<PartnerRules, PeersError> {
        let actors = self
            .actors
            .iter()
            .map(|hex| {
                automerge::ActorId::try_from(hex.as_str()).map_err(|_| PeersError::Damaged("the partner's device id"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let history = self
            .history
            .iter()
            .map(|hex| {
                from_hex(hex)
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
                    .map(automerge::ChangeHash)
                    .ok_or(PeersError::Damaged("the shared history's heads"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PartnerRules { person: self.person, actors, history })
    }
}

/// What this phone's settings say about the partner, read from the file: all the link
/// needs of them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    pub partner: Option<Partner>,
    pub paused: bool,
    /// Why sync with the partner stopped, when their phone broke the rules.
    pub stopped: Option<String>,
    /// Whether the person has set up this phone (their name), which pairing needs.
    pub set_up: bool,
}

/// What to write to this phone's settings. The link hears how a pause, an unpair or a
/// new partner went ([`Write::answered`]); the others it only asks for.
#[derive(Clone, Debug, PartialEq)]
pub enum Write {
    Paused(bool),
    Unpair,
    /// Start the couple's document with a new partner, the earlier one forgotten. `role`
    /// and `words` are not written: they finish the pairing once it is saved.
    NewPartner {
        partner: Box<Partner>,
        reached: Option<Multiaddr>,
        role: Role,
        words: [&'static str; 4],
        /// The past pairing whose document the pairing continues, on the inviting phone.
        past: Option<i64>,
    },
    Stopped(String),
    LastSynced(DateTime<Utc>),
    PartnerConfirmed {
        couple: String,
        confirmed: bool,
    },
    Address(Multiaddr),
    ListenPort(u16),
}

impl Write {
    /// Whether the link waits to hear how this write went.
    pub fn answered(&self) -> bool {
        matches!(self, Write::Paused(_) | Write::Unpair | Write::NewPartner { .. })
    }
}

/// Where pairing stands on this phone, as `status --json` says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum PairingState {
    #[serde(rename = "none")]
    Unpaired,
    /// Paired, and the person on this phone has not checked the words yet.
    #[serde(rename = "unconfirmed")]
    Unconfirmed,
    #[serde(rename = "confirmed")]
    Confirmed,
}

mod network_text {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::{from_hex, to_hex};
    use crate::net::pairing::CoupleNetwork;

    pub fn serialize<S: Serializer>(network: &Option<CoupleNetwork>, s: S) -> Result<S::Ok, S::Error> {
        match network {
            Some(network) => s.serialize_str(&to_hex(network.as_bytes())),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<CoupleNetwork>, D::Error> {
        let Some(text) = Option::<String>::deserialize(d)? else { return Ok(None) };
        let bytes =
            from_hex(&text).ok_or_else(|| serde::de::Error::custom("the couple's network secret is not hex"))?;
        let bytes: [u8; 32] =
            bytes.try_into().map_err(|_| serde::de::Error::custom("the couple's network secret is not 32 bytes"))?;
        Ok(Some(CoupleNetwork::from_bytes(bytes)))
    }
}

mod peer_text {
    use libp2p::PeerId;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(peer: &PeerId, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&peer.to_base58())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PeerId, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The network identity a node starting now takes. Paired, it is the one the partner's
/// phone knows, kept since the pairing. Not paired, it is made afresh at every start and
/// the one before is forgotten, so that nobody who saw an earlier one (a stranger on a
/// café's Wi-Fi, or the phone of an earlier partner) can recognize this phone by it.
pub fn identity_for_start(store: &mut Store) -> Result<Keypair, PeersError> {
    if partner(store)?.is_some() {
        return keypair(store);
    }
    store.remove_setting(LISTEN_PORT)?;
    let key = Keypair::generate_ed25519();
    use_keypair(store, &key)?;
    Ok(key)
}

/// This phone's network key, made on first use.
pub fn keypair(store: &mut Store) -> Result<Keypair, PeersError> {
    if let Some(text) = store.setting(KEY)? {
        let bytes = from_hex(&text).ok_or(PeersError::Damaged("the key is not hex"))?;
        return Keypair::from_protobuf_encoding(&bytes).map_err(|_| PeersError::Damaged("the key"));
    }
    let key = Keypair::generate_ed25519();
    use_keypair(store, &key)?;
    Ok(key)
}

/// Gives this phone `key` as its network identity, in place of one made at random: for
/// simulations that replay a whole run from one seed.
#[doc(hidden)]
pub fn use_keypair(store: &mut Store, key: &Keypair) -> Result<(), PeersError> {
    let bytes = key.to_protobuf_encoding().map_err(|_| PeersError::Damaged("the new key"))?;
    store.set_setting(KEY, &to_hex(&bytes))?;
    Ok(())
}

/// This phone's network identity, if it has one yet.
pub fn peer_id(store: &Store) -> Result<Option<PeerId>, PeersError> {
    let Some(text) = store.setting(KEY)? else { return Ok(None) };
    let bytes = from_hex(&text).ok_or(PeersError::Damaged("the key is not hex"))?;
    let key = Keypair::from_protobuf_encoding(&bytes).map_err(|_| PeersError::Damaged("the key"))?;
    Ok(Some(key.public().to_peer_id()))
}

/// The partner this phone is paired with. A partner saved before pairings had a couple
/// id, or one whose couple is not the store's, is not trusted: this phone then counts as
/// not paired ([`forget_untrusted`] clears it away).
pub fn partner(store: &Store) -> Result<Option<Partner>, PeersError> {
    let Some(partner) = saved_partner(store)? else { return Ok(None) };
    let trusted = !partner.couple.is_empty()
        && partner.couple_bytes().is_some()
        && !partner.actors.is_empty()
        && store.couple()?.as_deref() == Some(partner.couple.as_str());
    Ok(trusted.then_some(partner))
}

/// Changes whenever what [`partner`] reads is written: a session reads the partner again
/// only then.
pub fn partner_stamp(store: &Store) -> Result<Vec<u8>, PeersError> {
    Ok(store.settings_stamp(&[PARTNER])?)
}

fn saved_partner(store: &Store) -> Result<Option<Partner>, PeersError> {
    match store.setting(PARTNER)? {
        None => Ok(None),
        Some(text) => serde_json::from_str::<Partner>(&text)
            .map(|mut p| {
                // Saved by an earlier version, perhaps before names were cleaned.
                p.name = crate::model::text::partner_name(&p.name);
                Some(p)
            })
            .map_err(|_| PeersError::Damaged("the partner")),
    }
}

/// Forgets a saved partner that is not trusted (see [`partner`]). The store's upgrade has
/// already set the document shared with them apart. Says whether there was one.
pub fn forget_untrusted(store: &mut Store) -> Result<bool, PeersError> {
    let saved = match saved_partner(store) {
        Ok(saved) => saved.is_some(),
        // Unreadable is untrusted too.
        Err(PeersError::Damaged(_)) => true,
        Err(e) => return Err(e),
    };
    if saved && partner(store).unwrap_or(None).is_none() {
        forget_partner(store)?;
        return Ok(true);
    }
    Ok(false)
}

/// Where pairing stands on this phone.
pub fn pairing_state(partner: Option<&Partner>) -> PairingState {
    match partner {
        None => PairingState::Unpaired,
        Some(p) if p.confirmed => PairingState::Confirmed,
        Some(_) => PairingState::Unconfirmed,
    }
}

/// The person on this phone checked the words: from now on this phone syncs with the
/// partner, once the partner's phone has confirmed too. Returns the partner.
pub fn confirm(store: &mut Store) -> Result<Option<Partner>, PeersError> {
    let Some(mut partner) = partner(store)? else { return Ok(None) };
    if !partner.confirmed {
        partner.confirmed = true;
        set_partner(store, &partner)?;
    }
    Ok(Some(partner))
}

/// The words did not match: forgets the unconfirmed pairing on this phone, and its
/// (still empty) shared document. The other phone is not told. Returns the partner it
/// forgot.
pub fn reject(store: &mut Store) -> Result<Option<Partner>, PeersError> {
    let Some(partner) = partner(store)? else { return Ok(None) };
    store.cancel_couple(&partner.name)?;
    forget_partner(store)?;
    forget_identity(store)?;
    // Letters made for this partner, or from them, and the courier's profile go too.
    store.mailbox().empty().map_err(StoreError::from)?;
    if let Some(dir) = store.path().parent() {
        super::courier::forget_profile(dir)?;
    }
    Ok(Some(partner))
}

/// Ends the pairing on this phone: a confirmed pairing's shared document is set apart,
/// read-only, and my entries in it become private again; an unconfirmed one exchanged
/// nothing and is simply forgotten. The partner's phone is not told.
pub fn unpair(store: &mut Store) -> Result<Option<Partner>, PeersError> {
    let Some(partner) = partner(store)? else { return Ok(None) };
    if partner.confirmed {
        store.end_couple(&partner.name)?;
    } else {
        store.cancel_couple(&partner.name)?;
    }
    forget_partner(store)?;
    forget_identity(store)?;
    // Letters made for this partner, or from them, the courier's profile and the
    // couple's relays go too (`net::relay::forget_all` tells the relays).
    store.mailbox().empty().map_err(StoreError::from)?;
    if let Some(dir) = store.path().parent() {
        super::courier::forget_profile(dir)?;
    }
    super::relay::Known::default().write(store)?;
    Ok(Some(partner))
}

/// Forgets the network identity and port the partner's phone knew this phone by. The
/// running node keeps them until it stops; the next start takes new ones.
fn forget_identity(store: &mut Store) -> Result<(), PeersError> {
    store.remove_setting(KEY)?;
    store.remove_setting(LISTEN_PORT)?;
    Ok(())
}

/// Whether the partner's phone said its person checked the words, for this couple.
pub fn partner_confirmed(store: &Store, partner: &Partner) -> Result<bool, PeersError> {
    Ok(store.setting(PARTNER_CONFIRMED)?.is_some_and(|c| c == partner.couple))
}

/// Remembers what the partner's phone said about its person checking the words.
pub fn set_partner_confirmed(store: &mut Store, couple: &str, confirmed: bool) -> Result<(), PeersError> {
    if confirmed {
        store.set_setting(PARTNER_CONFIRMED, couple)?;
    } else {
        store.remove_setting(PARTNER_CONFIRMED)?;
    }
    Ok(())
}

/// Why sync was stopped, if the partner's phone broke the rules.
pub fn stopped(store: &Store) -> Result<Option<String>, PeersError> {
    Ok(store.setting(STOPPED)?)
}

pub fn set_stopped(store: &mut Store, reason: &str) -> Result<(), PeersError> {
    store.set_setting(STOPPED, reason)?;
    Ok(())
}

pub fn set_partner(store: &mut Store, partner: &Partner) -> Result<(), PeersError> {
    let text = serde_json::to_string(partner).map_err(|_| PeersError::Damaged("the partner"))?;
    store.set_setting(PARTNER, &text)?;
    Ok(())
}

/// Forgets the partner and everything about reaching them. Entries stay.
pub fn forget_partner(store: &mut Store) -> Result<(), PeersError> {
    for key in [PARTNER, ADDRESSES, SYNC_STATE, PAUSED, LAST_SYNCED, PARTNER_CONFIRMED, STOPPED] {
        store.remove_setting(key)?;
    }
    Ok(())
}

/// The partner's last known addresses, newest first.
pub fn addresses(store: &Store) -> Result<Vec<Multiaddr>, PeersError> {
    let Some(text) = store.setting(ADDRESSES)? else { return Ok(Vec::new()) };
    let list: Vec<String> = serde_json::from_str(&text).map_err(|_| PeersError::Damaged("the address book"))?;
    Ok(addresses::kept(list.iter().filter_map(|a| a.parse().ok()).collect()))
}

/// Puts an address at the front of the partner's address book. Says whether it was new.
pub fn remember_address(store: &mut Store, address: &Multiaddr) -> Result<bool, PeersError> {
    let (book, new) = addresses::remembered(addresses(store)?, address);
    let text: Vec<String> = book.iter().map(|a| a.to_string()).collect();
    store.set_setting(ADDRESSES, &serde_json::to_string(&text).map_err(|_| PeersError::Damaged("addresses"))?)?;
    Ok(new)
}

/// The sync state last saved for the partner: only the heads both sides agreed on, which
/// is all a new session needs to send just what is missing.
pub fn sync_state(store: &Store) -> sync::State {
    store
        .setting(SYNC_STATE)
        .ok()
        .flatten()
        .and_then(|text| from_hex(&text))
        .and_then(|bytes| sync::State::decode(&bytes).ok())
        .unwrap_or_default()
}

pub fn save_sync_state(store: &mut Store, state: &sync::State) -> Result<(), PeersError> {
    store.set_setting(SYNC_STATE, &to_hex(&state.encode()))?;
    Ok(())
}

pub fn paused(store: &Store) -> Result<bool, PeersError> {
    Ok(store.setting(PAUSED)?.is_some())
}

/// Pauses sync, or resumes it. Resuming also lifts a stop after the partner's phone
/// broke the rules: the person chose to trust it again.
pub fn set_paused(store: &mut Store, paused: bool) -> Result<(), PeersError> {
    if paused {
        store.set_setting(PAUSED, "yes")?
    } else {
        store.remove_setting(PAUSED)?;
        store.remove_setting(STOPPED)?;
    }
    Ok(())
}

pub fn last_synced(store: &Store) -> Result<Option<DateTime<Utc>>, PeersError> {
    Ok(store.setting(LAST_SYNCED)?.and_then(|t| DateTime::parse_from_rfc3339(&t).ok()).map(|t| t.to_utc()))
}

pub fn set_last_synced(store: &mut Store, at: DateTime<Utc>) -> Result<(), PeersError> {
    store.set_setting(LAST_SYNCED, &at.to_rfc3339())?;
    Ok(())
}

/// The TCP port this phone listened on last time, so that a partner paired before
/// daily identities (`net::daily`) finds it there after a restart. Forgotten when a
/// pairing ends, and at every start without a partner.
pub fn listen_port(store: &Store) -> Result<Option<u16>, PeersError> {
    Ok(store.setting(LISTEN_PORT)?.and_then(|p| p.parse().ok()))
}

pub fn set_listen_port(store: &mut Store, port: u16) -> Result<(), PeersError> {
    store.set_setting(LISTEN_PORT, &port.to_string())?;
    Ok(())
}

pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok()).collect()
}

/// What the link needs of this phone's settings.
pub fn settings(store: &Store) -> Result<Settings, PeersError> {
    let partner = partner(store)?;
    let stopped = if partner.is_some() { stopped(store)? } else { None };
    Ok(Settings { paused: paused(store)?, stopped, set_up: store.me().is_some(), partner })
}

/// Does what the link asked to write.
pub fn write(store: &mut Store, write: &Write) -> Result<(), PeersError> {
    match write {
        Write::Paused(paused) => set_paused(store, *paused),
        Write::Unpair => unpair(store).map(|_| ()),
        Write::NewPartner { partner, reached, past, .. } => save_new_partner(store, partner, reached.as_ref(), *past),
        Write::Stopped(reason) => set_stopped(store, reason),
        Write::LastSynced(at) => set_last_synced(store, *at),
        Write::PartnerConfirmed { couple, confirmed } => set_partner_confirmed(store, couple, *confirmed),
        Write::Address(address) => remember_address(store, address).map(|_| ()),
        Write::ListenPort(port) => set_listen_port(store, *port),
    }
}

/// When `partner` last moved Steady to a new phone (as their phone wrote it in the shared
/// document) or restored it from a backup and continued the pairing (as this phone saw
/// it), whichever came last, and whether that was the restore.
pub fn partner_moved(store: &Store, partner: &Partner) -> Option<(DateTime<Utc>, bool)> {
    let moved = store.moved_at(partner.person).map(|at| (at, false));
    let restored = partner.restored_at.map(|at| (at, true));
    moved.into_iter().chain(restored).max_by_key(|(at, _)| *at)
}

/// Saves a partner just paired with: the store starts the couple's own (empty) shared
/// document, or continues past pairing `past`'s, and whatever this phone remembered about
/// an earlier partner is cleared first. The pairing is unconfirmed until the person
/// checks the words.
fn save_new_partner(
    store: &mut Store,
    partner: &Partner,
    reached: Option<&Multiaddr>,
    past: Option<i64>,
) -> Result<(), PeersError> {
    let me = store.me().map(|p| p.id);
    let earlier = store.people()?.into_iter().find(|(id, _)| Some(*id) != me).map(|(_, name)| name);
    let earlier = earlier.as_deref().unwrap_or("your earlier partner");
    forget_partner(store)?;
    match past {
        Some(past) => store.continue_couple(&partner.couple, past, earlier)?,
        None => store.start_couple(&partner.couple, earlier)?,
    }
    // A restored phone that continues: what the restore set apart for the partner it
    // continues with is in the document again.
    store.restored_pairing_continued(partner.person, !partner.history.is_empty())?;
    set_partner(store, partner)?;
    if let Some(address) = reached {
        remember_address(store, address)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_refuses_junk() {
        assert_eq!(from_hex(&to_hex(&[0, 1, 254, 255])).unwrap(), vec![0, 1, 254, 255]);
        assert!(from_hex("abc").is_none());
        assert!(from_hex("zz").is_none());
        assert!(from_hex("é1").is_none());
    }
}
