//! The libp2p swarm the driver owns: TCP with Noise and Yamux, and its behaviour in the
//! order a connection meets it: the cap on one address's connections, the caps on
//! connections in total and per identity (the partner exempt), the allow list, mDNS, and
//! the streams. Also what the swarm's events tell the link, and what a failed dial means,
//! in words a person can act on.

use std::collections::HashMap;
use std::time::Duration;

use libp2p::core::ConnectedPoint;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::{ConnectionId, NetworkBehaviour, SwarmEvent};
use libp2p::{
    PeerId, StreamProtocol, Swarm, SwarmBuilder, allow_block_list, connection_limits, identity, mdns, noise, tcp, yamux,
};

use super::NetConfig;
use crate::net::error::{DialError, NetError};
use crate::net::link::{DialId, Door, Input};
use crate::net::source_limit::SourceLimit;

pub(super) const SYNC_PROTOCOL: StreamProtocol = StreamProtocol::new("/steady/sync/1");
pub(super) const PAIR_PROTOCOL: StreamProtocol = StreamProtocol::new("/steady/pair/1");

/// How many connections may be opening, or open, at once. Only the partner's phone ever
/// needs one (two for a moment when both dial), and strangers only while an invite is
/// open; these leave room for that and turn a flood away.
const MAX_PENDING_INCOMING: u32 = 16;
const MAX_ESTABLISHED_INCOMING: u32 = 32;
const MAX_PER_PEER: u32 = 2;

#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    /// First: a cap on the connections one address may have, so one phone flooding is
    /// turned away at once and leaves room for the others.
    per_source: SourceLimit,
    /// Then caps on how many connections may be opening or open at once, in total and
    /// per identity. The partner is exempt.
    pub(super) limits: connection_limits::Behaviour,
    /// Then the allow list, so a stranger's connection is closed before anything else
    /// sees it.
    pub(super) allow: Toggle<allow_block_list::Behaviour<allow_block_list::AllowedPeers>>,
    pub(super) mdns: Toggle<mdns::tokio::Behaviour>,
    pub(crate) stream: libp2p_stream::Behaviour,
}

/// The swarm, with this phone's key, letting in whom `door` says and exempting `partner`
/// from the caps.
pub(crate) fn build(
    key: identity::Keypair,
    config: &NetConfig,
    door: &Door,
    partner: Option<PeerId>,
    also: Option<PeerId>,
) -> Result<Swarm<Behaviour>, NetError> {
    let query_interval = if partner.is_some() { config.query_interval_paired } else { config.query_interval };
    let mdns_config = mdns::Config { ttl: config.ttl, query_interval, enable_ipv6: false };
    let discovery = config.discovery;
    let swarm = SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)
        .map_err(|e| NetError::Start(e.to_string()))?
        .with_behaviour(|key| -> Result<Behaviour, Box<dyn std::error::Error + Send + Sync>> {
            let mdns = if discovery {
                Some(mdns::tokio::Behaviour::new(mdns_config, key.public().to_peer_id())?)
            } else {
                None
            };
            Ok(Behaviour {
                per_source: SourceLimit::default(),
                limits: connection_limits(partner),
                allow: allow_list(door, also),
                mdns: Toggle::from(mdns),
                stream: libp2p_stream::Behaviour::new(),
            })
        })
        .map_err(|e| NetError::Start(e.to_string()))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(10)))
        .build();
    Ok(swarm)
}

/// The allow list for `door`; with a partner, `also` (the partner's courier) too.
pub(super) fn allow_list(
    door: &Door,
    also: Option<PeerId>,
) -> Toggle<allow_block_list::Behaviour<allow_block_list::AllowedPeers>> {
    match door {
        Door::Open => Toggle::from(None),
        Door::Only(partner) => {
            let mut allow = allow_block_list::Behaviour::default();
            if let Some(p) = partner {
                allow.allow_peer(*p);
                if let Some(also) = also {
                    allow.allow_peer(also);
                }
            }
            Toggle::from(Some(allow))
        }
    }
}

fn connection_limits(partner: Option<PeerId>) -> connection_limits::Behaviour {
    let limits = connection_limits::ConnectionLimits::default()
        .with_max_pending_incoming(Some(MAX_PENDING_INCOMING))
        .with_max_established_incoming(Some(MAX_ESTABLISHED_INCOMING))
        .with_max_established_per_peer(Some(MAX_PER_PEER));
    let mut behaviour = connection_limits::Behaviour::new(limits);
    if let Some(partner) = partner {
        behaviour.bypass_peer_id(&partner);
    }
    behaviour
}

/// What a swarm event tells the link, if anything. `dials` holds the link's name for each
/// dial under way, by its connection; a dial that connects or fails leaves it.
pub(super) fn inputs(
    event: SwarmEvent<BehaviourEvent>,
    dials: &mut HashMap<ConnectionId, DialId>,
    partner: Option<PeerId>,
) -> Vec<Input> {
    let input = match event {
        SwarmEvent::NewListenAddr { address, .. } => Input::Listening(address),
        SwarmEvent::ExpiredListenAddr { address, .. } => Input::ListenExpired(address),
        SwarmEvent::ListenerError { error, .. } => {
            tracing::warn!("a listener failed: {error}");
            return Vec::new();
        }
        SwarmEvent::ListenerClosed { reason: Err(error), .. } => {
            tracing::warn!("a listener closed: {error}");
            Input::ListenersGone
        }
        SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(found))) => {
            return found.into_iter().map(|(peer, address)| Input::Discovered { peer, address }).collect();
        }
        SwarmEvent::ConnectionEstablished { peer_id, endpoint, connection_id, .. } => {
            let address = match endpoint {
                ConnectedPoint::Dialer { address, .. } => Some(address),
                ConnectedPoint::Listener { .. } => None,
            };
            Input::Connected { peer: peer_id, dial: dials.remove(&connection_id), address }
        }
        SwarmEvent::ConnectionClosed { peer_id, num_established, cause, .. } => {
            let cause = cause.map(|c| c.to_string()).unwrap_or_else(|| "closed".to_owned());
            Input::Closed { peer: peer_id, remaining: num_established, cause }
        }
        SwarmEvent::OutgoingConnectionError { connection_id, peer_id, error } => {
            let Some(dial) = dials.remove(&connection_id) else {
                if peer_id.is_some() && peer_id == partner {
                    tracing::debug!("the partner's phone is not reachable yet: {error}");
                }
                return Vec::new();
            };
            Input::DialFailed { dial, reason: dial_error(&error).to_string() }
        }
        SwarmEvent::IncomingConnectionError {
            peer_id,
            error: libp2p::swarm::ListenError::Denied { .. },
            send_back_addr,
            ..
        } => Input::TurnedAway { peer: peer_id, from: send_back_addr.to_string() },
        _ => return Vec::new(),
    };
    vec![input]
}

/// What went wrong with a dial the swarm made, as the person is told it.
pub(crate) fn dial_error(error: &libp2p::swarm::DialError) -> DialError {
    match error {
        libp2p::swarm::DialError::Denied { .. } => DialError::NotPartner,
        libp2p::swarm::DialError::WrongPeerId { .. } => DialError::WrongPhone,
        other => {
            let text = other.to_string();
            if text.contains("Connection refused") {
                DialError::NothingListening
            } else if text.contains("unreachable") || text.contains("No route") {
                DialError::NoRoute
            } else if text.contains("timed out") || text.contains("Timeout") {
                DialError::TimedOut
            } else {
                DialError::Other(text)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use libp2p::TransportError;
    use libp2p::swarm::{ConnectionDenied, DialError as SwarmDialError};

    use super::*;

    fn transport(kind: io::ErrorKind, text: &str) -> SwarmDialError {
        let address = "/ip4/192.168.1.20/tcp/4001".parse().unwrap();
        SwarmDialError::Transport(vec![(address, TransportError::Other(io::Error::new(kind, text.to_owned())))])
    }

    #[test]
    fn a_failed_dial_says_what_went_wrong_in_plain_words() {
        let denied = SwarmDialError::Denied { cause: ConnectionDenied::new(io::Error::other("not allowed")) };
        assert_eq!(dial_error(&denied), DialError::NotPartner);
        assert_eq!(
            dial_error(&transport(io::ErrorKind::ConnectionRefused, "Connection refused")),
            DialError::NothingListening
        );
        assert_eq!(dial_error(&transport(io::ErrorKind::Other, "Network is unreachable")), DialError::NoRoute);
        assert_eq!(dial_error(&transport(io::ErrorKind::Other, "No route to host")), DialError::NoRoute);
        assert_eq!(dial_error(&transport(io::ErrorKind::TimedOut, "connection timed out")), DialError::TimedOut);
        let other = dial_error(&transport(io::ErrorKind::Other, "something odd"));
        assert!(matches!(&other, DialError::Other(text) if text.contains("something odd")), "{other:?}");
        assert_eq!(
            DialError::NothingListening.to_string(),
            "nothing is listening there; is Steady open on your partner's phone?"
        );
        assert_eq!(DialError::NotLocal.to_string(), "it is not on your local network");
    }
}
