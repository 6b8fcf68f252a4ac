//! The paired partner: which phone dials and opens the session, the sessions themselves,
//! redialing while apart, pause and unpair, settings changed by another process, and who
//! may connect (the door: the allow list, and the caps the partner is exempt from).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use libp2p::{Multiaddr, PeerId};

use super::{Door, Effect, PartnerLink, PartnerPhase, Reply, SessionId};
use crate::net::NetEvent;
use crate::net::addresses::host_port;
use crate::net::error::NetError;
use crate::net::peers::{Settings, Write};
use crate::net::sync::{End, SessionReport};

/// The phone that does not dial first waits this long for the other to open the session
/// (or to dial) before doing it itself. A connection on a LAN takes a few milliseconds, so
/// this is a wide margin, and short enough that a phone rejoining the Wi-Fi is synced well
/// within a second.
pub const FALLBACK: Duration = Duration::from_millis(300);
/// After a session ends, the next one waits this long, so a session that fails at once
/// is not retried in a tight loop.
pub const REST: Duration = Duration::from_millis(500);
/// How soon the partner's remembered addresses are tried again, the first time after
/// parting. Each try that finds nobody doubles the wait, up to [`REDIAL_AT_MOST`]:
/// a phone that runs all day while the partner is away must cost close to nothing, and
/// the partner coming back is heard at once anyway (discovery dials, and a phone that
/// returns to the Wi-Fi asks for its partner itself).
pub const REDIAL_FIRST: Duration = Duration::from_secs(1);
/// The longest wait between tries of the remembered addresses.
pub const REDIAL_AT_MOST: Duration = Duration::from_secs(5 * 60);
/// The same refusal (another pairing, say) is reported at most this often, since the two
/// phones keep finding each other.
pub const REPEAT_REFUSAL: Duration = Duration::from_secs(60);
/// The most addresses discovery reports the partner at in one run.
pub const FOUND_AT_MOST: usize = 16;

/// Which of two phones dials, and opens the session, first: the one with the lower
/// identity. The other waits [`FALLBACK`] before doing it itself, so two phones don't
/// dial each other at the same moment, and a lost first try is made up for.
pub fn dials_first(me: PeerId, other: PeerId) -> bool {
    me < other
}

/// Where the partner stands, and what happened with them lately.
pub(super) struct WithPartner {
    pub(super) phase: PartnerPhase,
    last_redial: Option<Instant>,
    /// The wait before the next try of the remembered addresses ([`REDIAL_FIRST`]
    /// doubling to [`REDIAL_AT_MOST`]); back to the first whenever the partner is heard.
    redial_gap: Duration,
    last_session_end: Option<Instant>,
    /// The last refusal reported, and when.
    last_refusal: Option<(String, Instant)>,
    /// The partner's addresses discovery has found during this run, each said once.
    found_at: HashSet<Multiaddr>,
}

impl Default for WithPartner {
    fn default() -> Self {
        WithPartner {
            phase: PartnerPhase::NotPaired,
            last_redial: None,
            redial_gap: REDIAL_FIRST,
            last_session_end: None,
            last_refusal: None,
            found_at: HashSet::new(),
        }
    }
}

impl PartnerLink {
    /// Who may connect now.
    pub fn door(&self) -> Door {
        if self.pairing_open() {
            Door::Open
        } else if self.may_sync() {
            Door::Only(self.partner_peer())
        } else {
            Door::Only(None)
        }
    }

    /// Whether sessions may run with the partner: paired, not paused, and not stopped.
    pub(super) fn may_sync(&self) -> bool {
        self.settings.partner.is_some() && !self.settings.paused && self.settings.stopped.is_none()
    }

    /// Whether this phone, apart from `partner`, may dial it now: the one that dials first
    /// always may; the other once the partner has had [`FALLBACK`] to dial, or at once
    /// when the partner can't know (this phone just started, or resumed sync).
    fn dials_now(&self, now: Instant, partner: PeerId) -> bool {
        match self.partner.phase {
            PartnerPhase::Apart { since, parted } => {
                dials_first(self.me, partner) || !parted || now.saturating_duration_since(since) >= FALLBACK
            }
            _ => dials_first(self.me, partner),
        }
    }

    /// Puts the phase in line with the settings and the connections.
    pub(super) fn settle(&mut self, now: Instant) {
        let partner = self.partner_peer();
        self.partner.phase = match (&self.partner.phase, partner) {
            (_, None) => PartnerPhase::NotPaired,
            _ if !self.may_sync() => PartnerPhase::Shut,
            (PartnerPhase::NotPaired | PartnerPhase::Shut, Some(peer)) => {
                if self.is_connected(peer) {
                    PartnerPhase::Connected { since: now }
                } else {
                    PartnerPhase::Apart { since: now, parted: false }
                }
            }
            (phase, _) => phase.clone(),
        };
    }

    /// Reports a refusal, unless the same one was reported a moment ago.
    fn refused(&mut self, now: Instant, peer: Option<PeerId>, reason: String, out: &mut Vec<Effect>) {
        if let Some((last, at)) = &self.partner.last_refusal
            && *last == reason
            && now.saturating_duration_since(*at) < REPEAT_REFUSAL
        {
            return;
        }
        self.partner.last_refusal = Some((reason.clone(), now));
        out.push(Effect::Emit(NetEvent::Refused { peer: peer.map(|p| p.to_base58()), reason }));
    }

    // ----- Pause and unpair -----

    pub(super) fn set_paused(&mut self, paused: bool, out: &mut Vec<Effect>) {
        if self.settings.partner.is_none() {
            out.push(Effect::Reply(Reply::Done(Err(NetError::NotPaired))));
        } else {
            out.push(Effect::Write(Write::Paused(paused)));
        }
    }

    pub(super) fn unpair(&mut self, now: Instant, out: &mut Vec<Effect>) {
        if self.settings.partner.is_none() {
            out.push(Effect::Reply(Reply::Done(Err(NetError::NotPaired))));
        } else {
            // The session ends before the pairing does, so it writes nothing after.
            self.stop_session(now, out);
            out.push(Effect::Write(Write::Unpair));
        }
    }

    pub(super) fn paused_written(
        &mut self,
        now: Instant,
        paused: bool,
        result: Result<(), NetError>,
        out: &mut Vec<Effect>,
    ) {
        if let Err(e) = result {
            out.push(Effect::Reply(Reply::Done(Err(e))));
            return;
        }
        self.settings.paused = paused;
        if !paused {
            // Resuming is the person's choice to trust the partner's phone again; the
            // partner is tried at once, not after the wait left over from before the pause.
            self.settings.stopped = None;
            self.redial_soon();
        }
        if paused {
            self.shut_out(now, out);
        }
        self.settle(now);
        self.restore_door(out);
        out.push(Effect::Reply(Reply::Done(Ok(()))));
        out.push(Effect::Publish);
    }

    pub(super) fn unpaired_written(&mut self, now: Instant, result: Result<(), NetError>, out: &mut Vec<Effect>) {
        if let Err(e) = result {
            out.push(Effect::Reply(Reply::Done(Err(e))));
            return;
        }
        let was = self.partner_peer();
        self.settings.partner = None;
        self.settings.paused = false;
        self.settings.stopped = None;
        self.stop_session(now, out);
        self.settle(now);
        if let Some(was) = was {
            let_go(was, out);
        }
        self.restore_door(out);
        out.push(Effect::Reply(Reply::Done(Ok(()))));
        out.push(Effect::Publish);
    }

    /// Ends the session and closes the partner's connection: sync is paused or stopped.
    fn shut_out(&mut self, now: Instant, out: &mut Vec<Effect>) {
        self.stop_session(now, out);
        if let Some(partner) = self.partner_peer() {
            out.push(Effect::Disconnect(partner));
        }
    }

    // ----- Settings changed by another process -----

    pub(super) fn on_settings(&mut self, now: Instant, settings: Settings, out: &mut Vec<Effect>) {
        let old = &self.settings;
        let same_pairing = match (&settings.partner, &old.partner) {
            (Some(now), Some(was)) => now.peer == was.peer && now.couple == was.couple,
            (None, None) => true,
            _ => false,
        };
        let stopped = if settings.partner.is_some() { settings.stopped.clone() } else { None };
        let door_changed = !same_pairing || settings.paused != old.paused || stopped.is_some() != old.stopped.is_some();
        if !same_pairing {
            // Rejected or unpaired elsewhere: the session ends, and the old partner is let go.
            self.stop_session(now, out);
            if let Some(was) = self.partner_peer() {
                let_go(was, out);
            }
            self.partner.phase = PartnerPhase::NotPaired;
        }
        if (settings.paused || stopped.is_some()) && self.may_sync() {
            self.shut_out(now, out);
        }
        self.settings = Settings { stopped, ..settings };
        self.settle(now);
        if door_changed {
            self.restore_door(out);
        }
        out.push(Effect::Publish);
    }

    // ----- Who may connect -----

    /// Back to the partner only (nobody while paused or stopped), and anyone else
    /// connected is let go. Not while a pairing is open.
    pub(super) fn restore_door(&mut self, out: &mut Vec<Effect>) {
        if self.pairing_open() {
            return;
        }
        out.push(Effect::Door(self.door()));
        let partner = self.partner_peer();
        if let Some(partner) = partner {
            out.push(Effect::Exempt(partner));
        }
        let welcome = if self.may_sync() { partner } else { None };
        let others = self.network.connected().into_iter().filter(|p| Some(*p) != welcome);
        out.extend(others.map(Effect::Disconnect));
    }

    // ----- Connections -----

    /// Discovery found the partner's phone: the address is remembered, and the partner
    /// dialed if this phone may.
    pub(super) fn partner_discovered(&mut self, now: Instant, peer: PeerId, address: Multiaddr, out: &mut Vec<Effect>) {
        // Announcements are not authenticated: what one says is kept only as far as the
        // address book keeps it, and said at most a few times a run.
        if self.partner.found_at.len() >= FOUND_AT_MOST {
            return;
        }
        out.push(Effect::Write(Write::Address(address.clone())));
        if self.partner.found_at.insert(address.clone()) {
            out.push(Effect::Emit(NetEvent::Discovered { peer: peer.to_base58(), address: host_port(&address) }));
        }
        // The partner is here again: tries start again from the shortest wait.
        self.partner.redial_gap = REDIAL_FIRST;
        if self.may_sync() && !self.is_connected(peer) && self.dials_now(now, peer) {
            self.redial(now, peer, out);
        }
    }

    /// A connection to the partner opened (`count` are open now), reached at `address`
    /// when this phone dialed it.
    pub(super) fn partner_connected(
        &mut self,
        now: Instant,
        peer: PeerId,
        count: u32,
        address: Option<Multiaddr>,
        out: &mut Vec<Effect>,
    ) {
        if let Some(address) = address {
            out.push(Effect::Write(Write::Address(address)));
        }
        if count == 1 && self.may_sync() {
            self.partner.redial_gap = REDIAL_FIRST;
            self.partner.phase = PartnerPhase::Connected { since: now };
            out.push(Effect::Emit(NetEvent::Connected { peer: peer.to_base58() }));
        }
        if dials_first(self.me, peer) {
            self.open_session(now, peer, out);
        }
        out.push(Effect::Publish);
    }

    /// The partner's last connection closed.
    pub(super) fn partner_gone(&mut self, now: Instant, peer: PeerId, cause: String, out: &mut Vec<Effect>) {
        self.stop_session(now, out);
        if self.may_sync() {
            self.partner.phase = PartnerPhase::Apart { since: now, parted: true };
        }
        out.push(Effect::Emit(NetEvent::Disconnected { peer: peer.to_base58(), reason: cause }));
        out.push(Effect::Publish);
    }

    // ----- Sync sessions -----

    pub(super) fn open_session(&mut self, now: Instant, peer: PeerId, out: &mut Vec<Effect>) {
        let connected = match self.partner.phase {
            PartnerPhase::Connected { since } => since,
            _ => return,
        };
        let Some(partner) = self.settings.partner.clone() else { return };
        let id = self.next_id();
        self.partner.phase = PartnerPhase::InSession { connected, id, outbound: true, started: now, synced: false };
        out.push(Effect::OpenSession { id, peer, partner: Box::new(partner) });
    }

    pub(super) fn on_incoming_sync(&mut self, now: Instant, peer: PeerId, out: &mut Vec<Effect>) {
        if self.inviting(peer) {
            // The phone pairing with this one finished first and is already asking to
            // sync: not a stranger, just early. It asks again once this side has saved.
            out.push(Effect::DropStream);
            return;
        }
        if Some(peer) != self.partner_peer() || !self.may_sync() {
            out.push(Effect::Emit(NetEvent::Refused {
                peer: Some(peer.to_base58()),
                reason: "asked to sync without being this phone's partner".to_owned(),
            }));
            out.push(Effect::DropStream);
            out.push(Effect::Disconnect(peer));
            return;
        }
        let connected = match self.partner.phase {
            PartnerPhase::Connected { since } => since,
            PartnerPhase::InSession { connected, outbound, started, .. } => {
                // Both opened at once: the session the phone that dials first opened
                // wins. An older session is stale (the partner's app restarted): the new
                // stream replaces it.
                if outbound && dials_first(self.me, peer) && now.saturating_duration_since(started) < FALLBACK {
                    out.push(Effect::DropStream);
                    return;
                }
                self.stop_session(now, out);
                connected
            }
            // A stream before the connection was reported: it is connected all the same.
            _ => now,
        };
        let Some(partner) = self.settings.partner.clone() else { return };
        let id = self.next_id();
        self.partner.phase = PartnerPhase::InSession { connected, id, outbound: false, started: now, synced: false };
        out.push(Effect::AcceptSession { id, peer, partner: Box::new(partner) });
        out.push(Effect::Publish);
    }

    /// Ends the session that runs, if one does.
    pub(super) fn stop_session(&mut self, now: Instant, out: &mut Vec<Effect>) {
        if let PartnerPhase::InSession { connected, id, .. } = self.partner.phase {
            out.push(Effect::AbortSession(id));
            self.partner.last_session_end = Some(now);
            self.partner.phase = PartnerPhase::Connected { since: connected };
        }
    }

    pub(super) fn on_report(&mut self, now: Instant, id: SessionId, report: SessionReport, out: &mut Vec<Effect>) {
        let PartnerPhase::InSession { connected, id: running, .. } = self.partner.phase else { return };
        let Some(peer) = self.partner_peer() else { return };
        if running != id {
            return;
        }
        match report {
            SessionReport::Synced { received, at } => {
                if let PartnerPhase::InSession { synced, .. } = &mut self.partner.phase {
                    *synced = true;
                }
                // What arrived is durable already: told first, the time written after.
                out.push(Effect::Emit(NetEvent::Synced { peer: peer.to_base58(), at, received }));
                out.push(Effect::Write(Write::LastSynced(at)));
            }
            SessionReport::PartnerConfirmed(confirmed) => {
                if let Some(partner) = &self.settings.partner {
                    out.push(Effect::Write(Write::PartnerConfirmed { couple: partner.couple.clone(), confirmed }));
                }
            }
            SessionReport::Ended { reason, end } => {
                self.partner.phase = PartnerPhase::Connected { since: connected };
                self.partner.last_session_end = Some(now);
                match end {
                    End::Violation => self.refused(now, Some(peer), reason.clone(), out),
                    End::Stopped => {
                        // Kept in the settings, so sync stays stopped across restarts.
                        out.push(Effect::Write(Write::Stopped(reason.clone())));
                        self.settings.stopped = Some(reason.clone());
                        self.partner.last_refusal = None;
                        self.refused(now, Some(peer), reason, out);
                        self.settle(now);
                        self.restore_door(out);
                    }
                    End::Closed | End::Quiet => {}
                }
                // A connection that went quiet or broke the protocol is closed, and a
                // fresh one is dialed.
                if end != End::Closed {
                    out.push(Effect::Disconnect(peer));
                }
            }
        }
        out.push(Effect::Publish);
    }

    // ----- Time -----

    /// When a session is next due to open, or the partner to be redialed.
    pub(super) fn partner_due(&self) -> Option<Instant> {
        let partner = self.partner_peer().filter(|_| self.may_sync())?;
        let first = dials_first(self.me, partner);
        match self.partner.phase {
            PartnerPhase::Connected { since } => {
                let rested = self.partner.last_session_end.map(|t| t + REST);
                let waited = if first { since } else { since + FALLBACK };
                Some(rested.map_or(waited, |r| r.max(waited)))
            }
            PartnerPhase::Apart { since, parted } => {
                let redial = self.partner.last_redial.map(|t| t + self.partner.redial_gap);
                let allowed = if first || !parted { since } else { since + FALLBACK };
                Some(redial.map_or(allowed, |r| r.max(allowed)))
            }
            _ => None,
        }
    }

    /// Opens the session once this phone may, or redials the partner while apart.
    pub(super) fn partner_tick(&mut self, now: Instant, out: &mut Vec<Effect>) {
        let Some(partner) = self.partner_peer() else { return };
        if !self.may_sync() {
            return;
        }
        let first = dials_first(self.me, partner);
        match self.partner.phase {
            PartnerPhase::Connected { since } => {
                let waited = now.saturating_duration_since(since) >= FALLBACK;
                let rested = self.partner.last_session_end.is_none_or(|t| now.saturating_duration_since(t) >= REST);
                if rested && (first || waited) {
                    self.open_session(now, partner, out);
                }
            }
            PartnerPhase::Apart { .. } => {
                let gap = self.partner.redial_gap;
                let due = self.partner.last_redial.is_none_or(|t| now.saturating_duration_since(t) >= gap);
                if due && self.dials_now(now, partner) {
                    self.redial(now, partner, out);
                    self.partner.redial_gap = (gap * 2).min(REDIAL_AT_MOST);
                }
            }
            _ => {}
        }
    }

    /// This phone has just come onto a network: the partner's remembered addresses are
    /// tried at once, and then again from the shortest wait.
    pub(super) fn redial_soon(&mut self) {
        self.partner.redial_gap = REDIAL_FIRST;
        self.partner.last_redial = None;
    }

    fn redial(&mut self, now: Instant, partner: PeerId, out: &mut Vec<Effect>) {
        self.partner.last_redial = Some(now);
        out.push(Effect::RedialPartner(partner));
    }
}

/// Lets a partner's phone go: its connections count toward the caps again, and close.
fn let_go(was: PeerId, out: &mut Vec<Effect>) {
    out.push(Effect::Unexempt(was));
    out.push(Effect::Disconnect(was));
}
