//! The rules for addresses, as pure functions: which addresses count as nearby (the only
//! ones Steady dials, keeps or hands out), which of this phone's own an invitation offers,
//! how the partner's address book keeps the latest, and an address as a person types it
//! (`192.168.1.20:4001`) and reads it.
//!
//! Nothing dials the internet: an address that is not private, link-local or loopback is
//! refused when typed, ignored in an invitation or an announcement, and never remembered.

use std::net::{IpAddr, SocketAddr};

use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;

/// How many of the partner's addresses are remembered.
pub const ADDRESS_BOOK: usize = 8;

/// How many addresses are read from an invitation.
pub const IN_AN_INVITATION: usize = 8;

/// Why text a person typed is not an address Steady can connect to.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("{0:?} is not an address")]
    Garbled(String),
    #[error("{0:?} is not an address like 192.168.1.20:4001 (host:port)")]
    NotHostPort(String),
    #[error("{0:?} names no address")]
    NamesNone(String),
    #[error("{0} is not on your local network; Steady only connects to phones nearby")]
    NotLocal(String),
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

/// Whether an address is this device's own loopback, which no other phone can reach.
pub fn is_loopback(address: &Multiaddr) -> bool {
    address.iter().any(|p| match p {
        Protocol::Ip4(ip) => ip.is_loopback(),
        Protocol::Ip6(ip) => ip.is_loopback(),
        _ => false,
    })
}

/// Whether this phone, listening at these addresses, is on a network another phone could
/// reach it on (not only its own loopback): the badge then says it is looking for the
/// partner, not that it is offline.
pub fn on_a_network(listening: &[Multiaddr]) -> bool {
    listening.iter().any(|a| !is_loopback(a))
}

/// The addresses an invitation offers, from those this phone listens at: the nearby ones,
/// loopback last, so the joining phone tries the Wi-Fi first.
pub fn offered(listening: &[Multiaddr]) -> Vec<Multiaddr> {
    let mut addresses: Vec<Multiaddr> = listening.iter().filter(|a| is_local(a)).cloned().collect();
    addresses.sort_by_key(is_loopback);
    addresses
}

/// The partner's address book with `address` put first: each host and port once,
/// without the phone's identity (which changes from day to day), at most
/// [`ADDRESS_BOOK`] of them. Says too whether the address was not first already.
pub fn remembered(book: Vec<Multiaddr>, address: &Multiaddr) -> (Vec<Multiaddr>, bool) {
    let address = without_peer(address);
    let mut book = kept(book);
    let was_first = book.first() == Some(&address);
    book.retain(|a| *a != address);
    book.insert(0, address);
    book.truncate(ADDRESS_BOOK);
    (book, !was_first)
}

/// An address book as it is kept: each host and port once, in order, without the
/// phone's identity (a book saved before identities changed by day may hold it).
pub fn kept(book: Vec<Multiaddr>) -> Vec<Multiaddr> {
    let mut kept: Vec<Multiaddr> = Vec::with_capacity(book.len());
    for address in book.iter().map(without_peer) {
        if !kept.contains(&address) {
            kept.push(address);
        }
    }
    kept
}

pub fn tcp_port(address: &Multiaddr) -> Option<u16> {
    address.iter().find_map(|p| match p {
        Protocol::Tcp(port) => Some(port),
        _ => None,
    })
}

/// The same host and port without the phone's identity, which changes from day to day.
pub fn without_peer(address: &Multiaddr) -> Multiaddr {
    address.iter().filter(|p| !matches!(p, Protocol::P2p(_))).collect()
}

/// The same host at another TCP port, for an address that has one.
pub fn at_port(address: &Multiaddr, port: u16) -> Option<Multiaddr> {
    tcp_port(address)?;
    Some(address.iter().map(|p| if let Protocol::Tcp(_) = p { Protocol::Tcp(port) } else { p }).collect())
}

/// Every IPv4 address of this phone, on `port`; on any free port when it is 0.
pub fn all_interfaces(port: u16) -> Multiaddr {
    Multiaddr::empty().with(Protocol::Ip4([0, 0, 0, 0].into())).with(Protocol::Tcp(port))
}

/// A TCP address as libp2p dials it.
pub fn from_socket(socket: SocketAddr) -> Multiaddr {
    let ip = match socket.ip() {
        IpAddr::V4(v4) => Protocol::Ip4(v4),
        IpAddr::V6(v6) => Protocol::Ip6(v6),
    };
    Multiaddr::empty().with(ip).with(Protocol::Tcp(socket.port()))
}

/// An address as a person types it: `192.168.1.20:4001`.
pub fn host_port(address: &Multiaddr) -> String {
    let mut host = None;
    let mut port = None;
    for p in address.iter() {
        match p {
            Protocol::Ip4(ip) => host = Some(ip.to_string()),
            Protocol::Ip6(ip) => host = Some(format!("[{ip}]")),
            Protocol::Dns(name) | Protocol::Dns4(name) | Protocol::Dns6(name) => host = Some(name.to_string()),
            Protocol::Tcp(p) => port = Some(p),
            _ => {}
        }
    }
    match (host, port) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        _ => address.to_string(),
    }
}

/// The TCP address `host:port` (or a multiaddr) names, as a dialable address. Only
/// addresses on the local network are accepted. A host name is looked up by the system,
/// the one thing here that is not a pure function of the text.
pub fn parse_host_port(text: &str) -> Result<Multiaddr, AddressError> {
    use std::net::ToSocketAddrs;
    let text = text.trim();
    if text.starts_with('/') {
        let address: Multiaddr = text.parse().map_err(|_| AddressError::Garbled(text.to_owned()))?;
        return if is_local(&address) { Ok(address) } else { Err(AddressError::NotLocal(text.to_owned())) };
    }
    let mut found = text.to_socket_addrs().map_err(|_| AddressError::NotHostPort(text.to_owned()))?;
    let socket = found.next().ok_or_else(|| AddressError::NamesNone(text.to_owned()))?;
    if !is_local_ip(socket.ip()) {
        return Err(AddressError::NotLocal(text.to_owned()));
    }
    Ok(from_socket(socket))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Multiaddr {
        text.parse().unwrap()
    }

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
    fn a_typed_address_becomes_the_one_it_names_or_says_why_not() {
        assert_eq!(parse_host_port(" 192.168.1.20:4001 ").unwrap(), at("/ip4/192.168.1.20/tcp/4001"));
        assert_eq!(parse_host_port("[fe80::1]:5").unwrap(), at("/ip6/fe80::1/tcp/5"));
        assert_eq!(
            parse_host_port("8.8.8.8:53").unwrap_err().to_string(),
            "8.8.8.8:53 is not on your local network; Steady only connects to phones nearby"
        );
        assert_eq!(
            parse_host_port("nonsense").unwrap_err().to_string(),
            "\"nonsense\" is not an address like 192.168.1.20:4001 (host:port)"
        );
        assert_eq!(parse_host_port("/nonsense").unwrap_err().to_string(), "\"/nonsense\" is not an address");
    }

    #[test]
    fn nearby_means_private_link_local_or_loopback() {
        for local in ["10.1.2.3", "172.31.0.1", "192.168.0.1", "127.0.0.1", "169.254.1.1", "::1", "fe80::1", "fd00::1"]
        {
            assert!(is_local_ip(local.parse().unwrap()), "{local}");
        }
        for far in ["8.8.8.8", "172.32.0.1", "100.64.0.1", "2001:db8::1", "fec0::1"] {
            assert!(!is_local_ip(far.parse().unwrap()), "{far}");
        }
        assert!(!is_local(&at("/dns4/example.com/tcp/1")), "a name is never dialed as nearby");
    }

    #[test]
    fn an_invitation_offers_the_wifi_before_loopback_and_nothing_far() {
        let listening =
            [at("/ip4/127.0.0.1/tcp/1"), at("/ip4/8.8.8.8/tcp/2"), at("/ip4/192.168.1.20/tcp/3"), at("/ip6/::1/tcp/4")];
        assert_eq!(
            offered(&listening),
            vec![at("/ip4/192.168.1.20/tcp/3"), at("/ip4/127.0.0.1/tcp/1"), at("/ip6/::1/tcp/4")]
        );
        assert!(on_a_network(&listening));
        assert!(!on_a_network(&[at("/ip4/127.0.0.1/tcp/1")]));
        assert!(!on_a_network(&[]));
    }

    #[test]
    fn the_address_book_keeps_the_latest_first_each_once() {
        let book: Vec<Multiaddr> = (0..ADDRESS_BOOK as u16).map(|p| at(&format!("/ip4/10.0.0.1/tcp/{p}"))).collect();
        let newest = at("/ip4/10.0.0.2/tcp/9");
        let (after, new) = remembered(book.clone(), &newest);
        assert!(new);
        assert_eq!(after.len(), ADDRESS_BOOK);
        assert_eq!(after[0], newest);
        assert_eq!(after[1..], book[..ADDRESS_BOOK - 1]);
        let (again, new) = remembered(after.clone(), &newest);
        assert!(!new);
        assert_eq!(again, after);
        let (moved, new) = remembered(after.clone(), &book[2]);
        assert!(new);
        assert_eq!((moved[0].clone(), moved[1].clone(), moved.len()), (book[2].clone(), newest.clone(), ADDRESS_BOOK));
        // The phone's identity is not kept: the same host and port under another day's
        // identity is the same address.
        let peer = libp2p::identity::Keypair::generate_ed25519().public().to_peer_id();
        let (same, new) = remembered(moved.clone(), &newest.clone().with(Protocol::P2p(peer)));
        assert!(new);
        assert_eq!((same[0].clone(), same.len()), (newest.clone(), ADDRESS_BOOK));
        assert_eq!(kept(vec![newest.clone().with(Protocol::P2p(peer)), newest.clone()]), vec![newest]);
    }

    #[test]
    fn an_address_reads_as_a_person_types_it() {
        assert_eq!(host_port(&at("/ip4/192.168.1.20/tcp/4001")), "192.168.1.20:4001");
        assert_eq!(host_port(&at("/ip6/fe80::1/tcp/5")), "[fe80::1]:5");
        assert_eq!(host_port(&at("/dns4/phone.local/tcp/7")), "phone.local:7");
        assert_eq!(host_port(&at("/ip4/10.0.0.1/udp/9")), "/ip4/10.0.0.1/udp/9");
        assert_eq!(tcp_port(&at("/ip4/10.0.0.1/tcp/9")), Some(9));
        assert_eq!(tcp_port(&at("/ip4/10.0.0.1/udp/9")), None);
        assert_eq!(all_interfaces(4001), at("/ip4/0.0.0.0/tcp/4001"));
        assert_eq!(from_socket("[::1]:3".parse().unwrap()), at("/ip6/::1/tcp/3"));
    }
}
