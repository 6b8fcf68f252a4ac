//! An invite this phone joins: the person typed a code, or opened an invitation that
//! names the inviting phone and its addresses. Each phone found (by discovery, or at an
//! invitation's address) is asked once; an inviting phone busy with another attempt is
//! asked again each second for a while, and without discovery a phone that went away is
//! asked twice more on a fresh connection.

use std::time::{Duration, Instant};

use libp2p::{Multiaddr, PeerId};

use super::network::Purpose;
use super::{Door, Effect, PartnerLink, Reply};
use crate::net::NetEvent;
use crate::net::addresses::host_port;
use crate::net::error::NetError;
use crate::net::invite::Invitation;
use crate::net::pairing::{PairFailure, Role};

/// A joining phone told the invite is busy asks again after this long,
pub const BUSY_RETRY: Duration = Duration::from_secs(1);
/// for this long before it says so.
pub const BUSY_PATIENCE: Duration = Duration::from_secs(30);
/// A joining phone whose invite went away asks again after this long.
pub const GONE_RETRY: Duration = Duration::from_millis(300);
/// How often a joining phone without discovery asks the invitation's phone again after
/// it went away.
const GONE_RETRIES: u8 = 2;

/// A join under way.
pub(super) struct OpenJoin {
    invitation: Invitation,
    /// The phones asked so far.
    tried: Vec<PeerId>,
    /// Whether an exchange is under way.
    busy: bool,
    /// The inviting phone was busy with another attempt: ask it again then.
    retry: Option<(PeerId, Instant)>,
    /// Since when it has been busy.
    busy_since: Option<Instant>,
    /// How often the invitation's phone was asked again after it went away.
    gone_retries: u8,
}

impl OpenJoin {
    /// Whether `peer` is the inviting phone, as far as this phone knows.
    fn wants(&self, peer: PeerId) -> bool {
        self.invitation.peer.is_none_or(|p| p == peer)
    }

    /// Asks `peer` again at `at`.
    fn ask_again(&mut self, peer: PeerId, at: Instant) {
        self.busy = false;
        self.tried.retain(|p| *p != peer);
        self.retry = Some((peer, at));
    }
}

impl PartnerLink {
    pub(super) fn open_join(&mut self, invitation: Invitation, out: &mut Vec<Effect>) {
        let refused =
            self.may_pair().and_then(|()| if self.pairing_open() { Err(NetError::PairingUnderWay) } else { Ok(()) });
        if let Err(e) = refused {
            out.push(Effect::Reply(Reply::JoinRefused(e)));
            return;
        }
        out.push(Effect::Door(Door::Open));
        self.dial_invitation(invitation.peer, invitation.addresses.clone(), out);
        self.join = Some(OpenJoin {
            invitation,
            tried: Vec::new(),
            busy: false,
            retry: None,
            busy_since: None,
            gone_retries: 0,
        });
        // Phones already connected (found by discovery before the code was typed) can be
        // asked right away.
        for peer in self.network.connected() {
            self.try_join(peer, out);
        }
    }

    /// Dials each of an invitation's addresses.
    fn dial_invitation(&mut self, peer: Option<PeerId>, addresses: Vec<Multiaddr>, out: &mut Vec<Effect>) {
        for address in addresses {
            let dial = self.next_id();
            self.network.dials.insert(dial, Purpose::Join(address.clone()));
            out.push(Effect::Dial { dial, peer, addresses: vec![address], only_if_apart: false });
        }
    }

    /// When the join asks a busy inviting phone again.
    pub(super) fn join_due(&self) -> Option<Instant> {
        self.join.as_ref().and_then(|j| j.retry).map(|(_, at)| at)
    }

    /// Asks a connected phone to pair, unless an exchange is under way, it was asked
    /// already, or it is not the invitation's.
    pub(super) fn try_join(&mut self, peer: PeerId, out: &mut Vec<Effect>) {
        let Some(join) = &mut self.join else { return };
        if join.busy || join.tried.contains(&peer) || !join.wants(peer) {
            return;
        }
        join.busy = true;
        join.tried.push(peer);
        out.push(Effect::JoinAt { peer, code: join.invitation.code.clone(), continues: join.invitation.continues });
    }

    /// Discovery found a phone that is not the partner's: dialed, if the join may want it.
    pub(super) fn joinable_discovered(&mut self, peer: PeerId, address: Multiaddr, out: &mut Vec<Effect>) {
        if let Some(join) = &self.join {
            let wanted = join.wants(peer);
            if wanted && !join.tried.contains(&peer) && !self.is_connected(peer) {
                let dial = self.next_id();
                out.push(Effect::Dial { dial, peer: Some(peer), addresses: vec![address], only_if_apart: true });
            }
        }
    }

    /// One of the invitation's addresses could not be reached. Without discovery, the
    /// invitation's addresses are all there is to try: once none is left, the join ends.
    pub(super) fn join_dial_failed(&mut self, address: Multiaddr, reason: String, out: &mut Vec<Effect>) {
        out.push(Effect::Emit(NetEvent::Unreachable { address: host_port(&address), reason: reason.clone() }));
        let others_pending = self.network.joining_dials();
        if !self.started.discovery && self.join.as_ref().is_some_and(|j| !j.busy) && !others_pending {
            let error = NetError::Unreachable { address: host_port(&address), reason };
            self.finish_pairing(Role::Joiner, Err(error), out);
        }
    }

    /// An exchange this phone started failed.
    pub(super) fn join_attempt_failed(
        &mut self,
        now: Instant,
        peer: PeerId,
        failure: PairFailure,
        out: &mut Vec<Effect>,
    ) {
        if matches!(failure, PairFailure::Busy)
            && let Some(join) = &mut self.join
        {
            // Someone else's attempt holds the invite (a stranger's, or a stalled one):
            // ask again in a moment, for a while.
            let since = *join.busy_since.get_or_insert(now);
            if now.saturating_duration_since(since) < BUSY_PATIENCE {
                join.ask_again(peer, now + BUSY_RETRY);
                out.push(Effect::Publish);
                return;
            }
        }
        out.push(Effect::Disconnect(peer));
        match failure {
            // Not an inviting phone, or it went away: keep looking, when discovery can
            // find another.
            PairFailure::Gone(_) if self.started.discovery => {
                if let Some(join) = &mut self.join {
                    join.busy = false;
                }
            }
            // Without discovery, the invitation's phone is all there is: its connection
            // may have been closing (a retry right after a wrong code), so it is asked
            // twice more on a fresh one.
            PairFailure::Gone(_)
                if self
                    .join
                    .as_ref()
                    .is_some_and(|j| j.gone_retries < GONE_RETRIES && !j.invitation.addresses.is_empty()) =>
            {
                if let Some(join) = &mut self.join {
                    join.gone_retries += 1;
                    join.ask_again(peer, now + GONE_RETRY);
                }
            }
            other => self.finish_pairing(Role::Joiner, Err(other.into()), out),
        }
        out.push(Effect::Publish);
    }

    /// Asks the inviting phone again when it is time: at once if still connected, or
    /// after dialing the invitation's addresses again.
    pub(super) fn join_tick(&mut self, now: Instant, out: &mut Vec<Effect>) {
        if let Some(join) = &mut self.join
            && let Some((peer, at)) = join.retry
            && now >= at
        {
            join.retry = None;
            let (target, addresses) = (join.invitation.peer, join.invitation.addresses.clone());
            if self.is_connected(peer) {
                self.try_join(peer, out);
            } else {
                // Connected, it is asked at once.
                self.dial_invitation(target, addresses, out);
            }
        }
    }
}
