//! An invite this phone shows: the code the partner types, how long it lasts, and the five
//! wrong codes that cancel it. One exchange runs at a time; a phone that asks while one
//! does is told the invite is busy.

use std::time::{Duration, Instant};

use libp2p::PeerId;

use super::{Door, Effect, PartnerLink};
use crate::net::NetEvent;
use crate::net::addresses::offered;
use crate::net::error::NetError;
use crate::net::invite::Invitation;
use crate::net::pairing::{InviteCode, PairFailure, PairingError, Refusal};

/// An invite lasts this long.
pub const INVITE_LIFETIME: Duration = Duration::from_secs(10 * 60);
/// This many wrong codes cancel an invite.
pub const MAX_TRIES: u8 = 5;

/// An invite under way.
pub(super) struct OpenInvite {
    code: InviteCode,
    expires: Instant,
    tries: u8,
    /// The phone an exchange is under way with.
    busy: Option<PeerId>,
}

impl PartnerLink {
    pub(super) fn open_invite(
        &mut self,
        now: Instant,
        code: InviteCode,
        out: &mut Vec<Effect>,
    ) -> Result<Invitation, NetError> {
        self.may_pair()?;
        if self.join.is_some() {
            return Err(NetError::PairingUnderWay);
        }
        let expires = now + self.started.invite_lifetime;
        self.invite = Some(OpenInvite { code: code.clone(), expires, tries: 0, busy: None });
        out.push(Effect::Door(Door::Open));
        Ok(Invitation { code, peer: Some(self.me), addresses: offered(&self.network.listening), continues: false })
    }

    /// Whether an exchange on the open invite is under way with this phone.
    pub(super) fn inviting(&self, peer: PeerId) -> bool {
        self.invite.as_ref().is_some_and(|i| i.busy == Some(peer))
    }

    /// When the open invite expires, unless an exchange is under way then.
    pub(super) fn invite_due(&self) -> Option<Instant> {
        self.invite.as_ref().filter(|i| i.busy.is_none()).map(|i| i.expires)
    }

    pub(super) fn on_incoming_pair(&mut self, now: Instant, peer: PeerId, out: &mut Vec<Effect>) {
        let Some(invite) = &mut self.invite else {
            // No invite open: say nothing about whether one ever was.
            out.push(Effect::DropStream);
            return;
        };
        let refusal = if now >= invite.expires {
            Some(Refusal::Expired)
        } else if invite.tries >= MAX_TRIES {
            Some(Refusal::TooManyTries)
        } else if invite.busy.is_some() {
            Some(Refusal::Busy)
        } else {
            None
        };
        match refusal {
            Some(reason) => out.push(Effect::RefusePair(reason)),
            None => {
                invite.busy = Some(peer);
                out.push(Effect::Invitee { peer, code: invite.code.clone() });
            }
        }
    }

    /// An exchange on the open invite failed.
    pub(super) fn invite_attempt_failed(&mut self, peer: PeerId, failure: PairFailure, out: &mut Vec<Effect>) {
        let Some(invite) = &mut self.invite else { return };
        invite.busy = None;
        // Only an exchange that completed with a wrong code uses up a try: junk, a stalled
        // stream or a phone that left can't cancel the invite without guessing codes.
        if matches!(failure, PairFailure::Pairing(PairingError::WrongCode)) {
            invite.tries += 1;
        }
        let used_up = invite.tries >= MAX_TRIES;
        out.push(Effect::Emit(NetEvent::Refused { peer: Some(peer.to_base58()), reason: failure.to_string() }));
        out.push(Effect::Disconnect(peer));
        if used_up {
            self.invite = None;
            out.push(Effect::Emit(NetEvent::InviteEnded { reason: "cancelled after five wrong codes".to_owned() }));
            self.restore_door(out);
        }
        out.push(Effect::Publish);
    }

    /// The invite ends when its time is up, unless an exchange is under way.
    pub(super) fn invite_tick(&mut self, now: Instant, out: &mut Vec<Effect>) {
        if let Some(invite) = &self.invite
            && now >= invite.expires
            && invite.busy.is_none()
        {
            self.invite = None;
            out.push(Effect::Emit(NetEvent::InviteEnded { reason: "expired".to_owned() }));
            self.restore_door(out);
            out.push(Effect::Publish);
        }
    }
}
