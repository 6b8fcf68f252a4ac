//! What this phone sees of the network: where it listens, which phones are connected and
//! where it reached them, and the dials it is waiting on; and what the link does as
//! connections open and close, phones are discovered and dials fail.

use std::collections::HashMap;
use std::time::Instant;

use libp2p::{Multiaddr, PeerId};

use super::{DialId, Effect, PartnerLink, Reply};
use crate::net::NetEvent;
use crate::net::addresses::{host_port, is_local, tcp_port};
use crate::net::error::{DialError, NetError};
use crate::net::peers::Write;

/// Why this phone dialed.
#[derive(Clone, Debug)]
pub(super) enum Purpose {
    /// Asked for by the person (or the node's start-up list); `ticket` waits for the answer.
    Asked { address: Multiaddr, ticket: Option<u64> },
    /// One of an invitation's addresses.
    Join(Multiaddr),
}

/// What this phone sees of the network.
#[derive(Default)]
pub(super) struct Network {
    pub(super) listening: Vec<Multiaddr>,
    /// How many connections are open to each phone.
    connections: HashMap<PeerId, u32>,
    /// The address each connected phone was reached at, when this phone dialed it.
    pub(super) reached_at: HashMap<PeerId, Multiaddr>,
    pub(super) dials: HashMap<DialId, Purpose>,
}

impl Network {
    pub(super) fn is_connected(&self, peer: PeerId) -> bool {
        self.connections.get(&peer).is_some_and(|n| *n > 0)
    }

    /// The phones connected now, in order.
    pub(super) fn connected(&self) -> Vec<PeerId> {
        let mut connected: Vec<PeerId> = self.connections.iter().filter(|(_, n)| **n > 0).map(|(p, _)| *p).collect();
        connected.sort();
        connected
    }

    /// A connection to `peer` opened, reached at `address` when this phone dialed it; how
    /// many are open to it now.
    pub(super) fn opened(&mut self, peer: PeerId, address: Option<&Multiaddr>) -> u32 {
        let count = self.connections.entry(peer).or_insert(0);
        *count += 1;
        let count = *count;
        if let Some(address) = address {
            self.reached_at.insert(peer, address.clone());
        }
        count
    }

    /// A connection to `peer` closed, and `remaining` are still open.
    pub(super) fn closed(&mut self, peer: PeerId, remaining: u32) {
        if remaining == 0 {
            self.connections.remove(&peer);
            self.reached_at.remove(&peer);
        } else {
            self.connections.insert(peer, remaining);
        }
    }

    /// Whether a dial for an invitation is still under way.
    pub(super) fn joining_dials(&self) -> bool {
        self.dials.values().any(|p| matches!(p, Purpose::Join(_)))
    }
}

impl PartnerLink {
    /// This phone listens at a new address: its port is remembered for next time.
    pub(super) fn on_listening(&mut self, address: Multiaddr, out: &mut Vec<Effect>) {
        if let Some(port) = tcp_port(&address) {
            out.push(Effect::Write(Write::ListenPort(port)));
        }
        out.push(Effect::Emit(NetEvent::Listening { address: host_port(&address) }));
        self.network.listening.push(address);
        self.redial_soon();
        out.push(Effect::Publish);
    }

    /// The person asked to connect to an address ("Connect by address"), or the node was
    /// started with one.
    pub(super) fn dial_asked(&mut self, address: Multiaddr, ticket: Option<u64>, out: &mut Vec<Effect>) {
        if !is_local(&address) {
            let error = NetError::Unreachable { address: host_port(&address), reason: DialError::NotLocal.to_string() };
            if let Some(ticket) = ticket {
                out.push(Effect::Reply(Reply::Dial { ticket, result: Err(error) }));
            }
        } else {
            let dial = self.next_id();
            self.network.dials.insert(dial, Purpose::Asked { address: address.clone(), ticket });
            out.push(Effect::Dial { dial, peer: None, addresses: vec![address], only_if_apart: false });
        }
    }

    pub(super) fn on_discovered(&mut self, now: Instant, peer: PeerId, address: Multiaddr, out: &mut Vec<Effect>) {
        if !is_local(&address) || peer == self.me {
            return;
        }
        if Some(peer) == self.partner_peer() {
            self.partner_discovered(now, peer, address, out);
        } else {
            self.joinable_discovered(peer, address, out);
        }
    }

    pub(super) fn on_connected(
        &mut self,
        now: Instant,
        peer: PeerId,
        dial: Option<DialId>,
        address: Option<Multiaddr>,
        out: &mut Vec<Effect>,
    ) {
        if let Some(Purpose::Asked { ticket: Some(ticket), .. }) = dial.and_then(|d| self.network.dials.remove(&d)) {
            out.push(Effect::Reply(Reply::Dial { ticket, result: Ok(()) }));
        }
        let address = address.filter(is_local);
        let count = self.network.opened(peer, address.as_ref());
        if Some(peer) == self.partner_peer() {
            self.partner_connected(now, peer, count, address, out);
            return;
        }
        // Another phone: nothing the badge shows changes.
        if self.join.is_some() {
            self.try_join(peer, out);
        }
    }

    pub(super) fn on_closed(
        &mut self,
        now: Instant,
        peer: PeerId,
        remaining: u32,
        cause: String,
        out: &mut Vec<Effect>,
    ) {
        self.network.closed(peer, remaining);
        if remaining == 0 && Some(peer) == self.partner_peer() {
            self.partner_gone(now, peer, cause, out);
        }
    }

    pub(super) fn on_dial_failed(&mut self, dial: DialId, reason: String, out: &mut Vec<Effect>) {
        match self.network.dials.remove(&dial) {
            Some(Purpose::Asked { address, ticket }) => {
                out.push(Effect::Emit(NetEvent::Unreachable { address: host_port(&address), reason: reason.clone() }));
                if let Some(ticket) = ticket {
                    let error = NetError::Unreachable { address: host_port(&address), reason };
                    out.push(Effect::Reply(Reply::Dial { ticket, result: Err(error) }));
                }
            }
            Some(Purpose::Join(address)) => self.join_dial_failed(address, reason, out),
            None => {}
        }
    }
}
