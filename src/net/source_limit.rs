//! A cap on the connections one address on the Wi-Fi may have opening or open to this
//! phone at once, checked before anything else about them: a phone flooding from one
//! address is turned away at the first byte, and leaves room for everyone else. (The
//! caps in total and per identity are `connection-limits`; an identity costs nothing to
//! make, an address on the Wi-Fi does.)

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::IpAddr;
use std::task::{Context, Poll};

use libp2p::core::Endpoint;
use libp2p::core::transport::PortUse;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{
    ConnectionClosed, ConnectionDenied, ConnectionId, FromSwarm, ListenFailure, NetworkBehaviour, THandler,
    THandlerInEvent, THandlerOutEvent, ToSwarm, dummy,
};
use libp2p::{Multiaddr, PeerId};

/// Connections one address may have opening or open at once: the partner needs one (two
/// for a moment when both dial), a phone joining an invite one.
pub const MAX_PER_SOURCE: u32 = 4;

#[derive(Debug, thiserror::Error)]
#[error("{0} has {MAX_PER_SOURCE} connections opening or open already")]
struct TooMany(IpAddr);

#[derive(Default)]
pub struct SourceLimit {
    sources: HashMap<ConnectionId, IpAddr>,
    counts: HashMap<IpAddr, u32>,
}

fn ip_of(address: &Multiaddr) -> Option<IpAddr> {
    address.iter().find_map(|p| match p {
        Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
        Protocol::Ip6(ip) => Some(IpAddr::V6(ip)),
        _ => None,
    })
}

impl SourceLimit {
    /// Connections counted from `ip` now.
    pub fn count(&self, ip: IpAddr) -> u32 {
        self.counts.get(&ip).copied().unwrap_or(0)
    }

    fn release(&mut self, connection: ConnectionId) {
        if let Some(ip) = self.sources.remove(&connection)
            && let Some(n) = self.counts.get_mut(&ip)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.counts.remove(&ip);
            }
        }
    }
}

impl NetworkBehaviour for SourceLimit {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_pending_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        _local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        let Some(ip) = ip_of(remote) else { return Ok(()) };
        let n = self.counts.entry(ip).or_insert(0);
        if *n >= MAX_PER_SOURCE {
            return Err(ConnectionDenied::new(TooMany(ip)));
        }
        *n += 1;
        self.sources.insert(connection_id, ip);
        Ok(())
    }

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::ConnectionClosed(ConnectionClosed { connection_id, .. })
            | FromSwarm::ListenFailure(ListenFailure { connection_id, .. }) => self.release(connection_id),
            _ => {}
        }
    }

    fn on_connection_handler_event(&mut self, _: PeerId, _: ConnectionId, event: THandlerOutEvent<Self>) {
        libp2p::core::util::unreachable(event)
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_address_gets_four_and_the_fifth_waits_for_one_to_end() {
        let mut limit = SourceLimit::default();
        let local: Multiaddr = "/ip4/10.0.0.2/tcp/4001".parse().unwrap();
        let flood: Multiaddr = "/ip4/10.0.0.9/tcp/50000".parse().unwrap();
        let other: Multiaddr = "/ip4/10.0.0.3/tcp/50000".parse().unwrap();
        let ids: Vec<ConnectionId> = (0..6).map(|_| ConnectionId::new_unchecked(rand_id())).collect();
        for id in &ids[..4] {
            assert!(limit.handle_pending_inbound_connection(*id, &local, &flood).is_ok());
        }
        let refused = limit.handle_pending_inbound_connection(ids[4], &local, &flood).unwrap_err();
        let why = refused.downcast::<TooMany>().map(|t| t.to_string()).unwrap_or_default();
        assert_eq!(why, "10.0.0.9 has 4 connections opening or open already");
        // Another address is not held back by the first.
        assert!(limit.handle_pending_inbound_connection(ids[5], &local, &other).is_ok());
        // One of the four fails: its room is free again.
        let denied = libp2p::swarm::ListenError::Aborted;
        limit.on_swarm_event(FromSwarm::ListenFailure(ListenFailure {
            local_addr: &local,
            send_back_addr: &flood,
            error: &denied,
            connection_id: ids[0],
            peer_id: None,
        }));
        assert_eq!(limit.count(ip_of(&flood).unwrap()), 3);
        assert!(limit.handle_pending_inbound_connection(ids[4], &local, &flood).is_ok());
    }

    fn rand_id() -> usize {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(1);
        NEXT.fetch_add(1, Ordering::Relaxed)
    }
}
