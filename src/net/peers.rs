//! What this phone remembers about the network, kept in its own settings and never
//! shared: its key, its partner, the partner's last addresses, the sync state, and
//! whether sync is paused.

use std::net::IpAddr;

use automerge::sync;
use chrono::{DateTime, Utc};
use libp2p::identity::Keypair;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use serde::{Deserialize, Serialize};

use crate::store::{Store, StoreError};

const KEY: &str = "net.key";
const PARTNER: &str = "net.partner";
const ADDRESSES: &str = "net.partner_addresses";
const SYNC_STATE: &str = "net.sync_state";
const PAUSED: &str = "net.paused";
const LAST_SYNCED: &str = "net.last_synced";
const LISTEN_PORT: &str = "net.listen_port";

/// How many of the partner's addresses are remembered.
const ADDRESS_BOOK: usize = 8;

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

/// This phone's network key, made on first use.
pub fn keypair(store: &mut Store) -> Result<Keypair, PeersError> {
    if let Some(text) = store.setting(KEY)? {
        let bytes = from_hex(&text).ok_or(PeersError::Damaged("the key is not hex"))?;
        return Keypair::from_protobuf_encoding(&bytes).map_err(|_| PeersError::Damaged("the key"));
    }
    let key = Keypair::generate_ed25519();
    let bytes = key.to_protobuf_encoding().map_err(|_| PeersError::Damaged("the new key"))?;
    store.set_setting(KEY, &to_hex(&bytes))?;
    Ok(key)
}

/// This phone's network identity, if it has one yet.
pub fn peer_id(store: &Store) -> Result<Option<PeerId>, PeersError> {
    let Some(text) = store.setting(KEY)? else { return Ok(None) };
    let bytes = from_hex(&text).ok_or(PeersError::Damaged("the key is not hex"))?;
    let key = Keypair::from_protobuf_encoding(&bytes).map_err(|_| PeersError::Damaged("the key"))?;
    Ok(Some(key.public().to_peer_id()))
}

pub fn partner(store: &Store) -> Result<Option<Partner>, PeersError> {
    match store.setting(PARTNER)? {
        None => Ok(None),
        Some(text) => serde_json::from_str(&text).map(Some).map_err(|_| PeersError::Damaged("the partner")),
    }
}

pub fn set_partner(store: &mut Store, partner: &Partner) -> Result<(), PeersError> {
    let text = serde_json::to_string(partner).map_err(|_| PeersError::Damaged("the partner"))?;
    store.set_setting(PARTNER, &text)?;
    Ok(())
}

/// Forgets the partner and everything about reaching them. Entries stay.
pub fn forget_partner(store: &mut Store) -> Result<(), PeersError> {
    for key in [PARTNER, ADDRESSES, SYNC_STATE, PAUSED, LAST_SYNCED] {
        store.remove_setting(key)?;
    }
    Ok(())
}

/// The partner's last known addresses, newest first.
pub fn addresses(store: &Store) -> Result<Vec<Multiaddr>, PeersError> {
    let Some(text) = store.setting(ADDRESSES)? else { return Ok(Vec::new()) };
    let list: Vec<String> = serde_json::from_str(&text).map_err(|_| PeersError::Damaged("the address book"))?;
    Ok(list.iter().filter_map(|a| a.parse().ok()).collect())
}

/// Puts an address at the front of the partner's address book. Says whether it was new.
pub fn remember_address(store: &mut Store, address: &Multiaddr) -> Result<bool, PeersError> {
    let mut list = addresses(store)?;
    let was_first = list.first() == Some(address);
    list.retain(|a| a != address);
    list.insert(0, address.clone());
    list.truncate(ADDRESS_BOOK);
    let text: Vec<String> = list.iter().map(|a| a.to_string()).collect();
    store.set_setting(ADDRESSES, &serde_json::to_string(&text).map_err(|_| PeersError::Damaged("addresses"))?)?;
    Ok(!was_first)
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

pub fn set_paused(store: &mut Store, paused: bool) -> Result<(), PeersError> {
    if paused {
        store.set_setting(PAUSED, "yes")?
    } else {
        store.remove_setting(PAUSED)?
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

/// The TCP port this phone listened on last time, so the partner's address book stays
/// right across restarts.
pub fn listen_port(store: &Store) -> Result<Option<u16>, PeersError> {
    Ok(store.setting(LISTEN_PORT)?.and_then(|p| p.parse().ok()))
}

pub fn set_listen_port(store: &mut Store, port: u16) -> Result<(), PeersError> {
    store.set_setting(LISTEN_PORT, &port.to_string())?;
    Ok(())
}

/// Whether an address is on this network or this device: private, link-local or
/// loopback. Steady never dials anything else.
pub fn is_local(address: &Multiaddr) -> bool {
    address.iter().any(|p| match p {
        Protocol::Ip4(ip) => is_local_ip(IpAddr::V4(ip)),
        Protocol::Ip6(ip) => is_local_ip(IpAddr::V6(ip)),
        _ => false,
    })
}

pub fn is_local_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_private() || v4.is_loopback() || v4.is_link_local(),
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback() || (first & 0xffc0) == 0xfe80 || (first & 0xfe00) == 0xfc00
        }
    }
}

/// The TCP address `host:port` names, as a dialable address. Only names on the local
/// network are accepted.
pub fn parse_host_port(text: &str) -> Result<Multiaddr, String> {
    use std::net::ToSocketAddrs;
    let text = text.trim();
    if text.starts_with('/') {
        let address: Multiaddr = text.parse().map_err(|_| format!("{text:?} is not an address"))?;
        return if is_local(&address) {
            Ok(address)
        } else {
            Err(format!("{text} is not on your local network; Steady only connects to phones nearby"))
        };
    }
    let mut found = text
        .to_socket_addrs()
        .map_err(|_| format!("{text:?} is not an address like 192.168.1.20:4001 ({})", "host:port"))?;
    let socket = found.next().ok_or_else(|| format!("{text:?} names no address"))?;
    if !is_local_ip(socket.ip()) {
        return Err(format!("{text} is not on your local network; Steady only connects to phones nearby"));
    }
    let ip = match socket.ip() {
        IpAddr::V4(v4) => Protocol::Ip4(v4),
        IpAddr::V6(v6) => Protocol::Ip6(v6),
    };
    Ok(Multiaddr::empty().with(ip).with(Protocol::Tcp(socket.port())))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_nearby_addresses_are_dialable() {
        for ok in ["192.168.1.20:4001", "10.0.0.2:1", "127.0.0.1:9", "[fe80::1]:5", "/ip4/172.16.3.4/tcp/7"] {
            assert!(parse_host_port(ok).is_ok(), "{ok}");
        }
        for bad in ["8.8.8.8:53", "/ip4/1.1.1.1/tcp/80", "[2001:db8::1]:4", "nonsense", "192.168.1.1"] {
            assert!(parse_host_port(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hex_round_trips_and_refuses_junk() {
        assert_eq!(from_hex(&to_hex(&[0, 1, 254, 255])).unwrap(), vec![0, 1, 254, 255]);
        assert!(from_hex("abc").is_none());
        assert!(from_hex("zz").is_none());
        assert!(from_hex("é1").is_none());
    }
}
