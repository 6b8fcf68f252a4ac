//! The link with the partner's phone as a state machine: inputs in, effects out.
//!
//! [`PartnerLink::handle`] takes what happened (what the person wants, a connection
//! opened or closed, a phone discovered, a stream arriving, a session's or a pairing's
//! report, the settings read again, a tick) and the time, and returns what to do: dial,
//! disconnect, set the allow list, open or abort a session, run one side of a pairing,
//! write a setting, emit an event, answer the person. It does no IO, reads no clock and
//! knows nothing of tokio or the swarm, so every decision about the partner can be tested
//! with a simulated network and a fake clock (`tests/suite/sim.rs`). The node
//! (`net::node`) owns the swarm and does what the effects say.
//!
//! Where the partner stands is one [`PartnerPhase`]; the badge is read from it.
//!
//! This file holds what goes in and out, and what both sides of a pairing share; the
//! rest is one file per concern:
//! - `network`: where this phone listens, its connections and dials, and discovery;
//! - `invite`: an invite this phone shows: its code, its expiry, its five tries;
//! - `join`: an invite this phone joins: whom to ask, and asking again;
//! - `partner`: the paired partner: who dials, sessions, redial, pause, unpair, settings
//!   changed elsewhere, and who may connect (the door).

mod invite;
mod join;
mod network;
mod partner;

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use libp2p::{Multiaddr, PeerId};

use super::addresses::on_a_network;
use super::error::{NetError, Paired};
use super::invite::Invitation;
use super::pairing::{InviteCode, PairOutcome, PairedWith, Refusal, Role};
use super::peers::{self, Partner, Settings, Write};
use super::sync::SessionReport;
use super::{LinkState, NetEvent};
use invite::OpenInvite;
pub use invite::{INVITE_LIFETIME, MAX_TRIES};
use join::OpenJoin;
pub use join::{BUSY_PATIENCE, BUSY_RETRY, GONE_RETRY};
use network::Network;
use partner::WithPartner;
pub use partner::{FALLBACK, FOUND_AT_MOST, REDIAL_AT_MOST, REDIAL_FIRST, REPEAT_REFUSAL, REST, dials_first};

/// Names a dial, so its outcome can be told.
pub type DialId = u64;
/// Names a sync session.
pub type SessionId = u64;

/// What the person wants the link to do.
#[derive(Clone, Debug)]
pub enum Intent {
    /// Open an invite with this code (the node draws it, so the machine has no randomness).
    Invite(InviteCode),
    CancelPairing,
    Join(Invitation),
    /// Connect to an address; `ticket` names the person's wait for the answer.
    Dial {
        address: Multiaddr,
        ticket: Option<u64>,
    },
    SetPaused(bool),
    Unpair,
}

/// Something that happened.
#[derive(Debug)]
pub enum Input {
    Intent(Intent),
    /// The settings, read again because the file changed (the window or the command line
    /// confirmed, rejected, unpaired, paused or resumed).
    Settings(Settings),
    Listening(Multiaddr),
    ListenExpired(Multiaddr),
    /// Every listener closed (the remembered port was taken).
    ListenersGone,
    Discovered {
        peer: PeerId,
        address: Multiaddr,
    },
    /// A connection opened; `dial` when this phone dialed it, `address` where it reached.
    Connected {
        peer: PeerId,
        dial: Option<DialId>,
        address: Option<Multiaddr>,
    },
    /// A connection closed; `remaining` are still open to that phone.
    Closed {
        peer: PeerId,
        remaining: u32,
        cause: String,
    },
    /// A dial failed; `reason` says why in words a person can act on.
    DialFailed {
        dial: DialId,
        reason: String,
    },
    /// A device that is not the partner's phone was turned away before it connected.
    TurnedAway {
        peer: Option<PeerId>,
        from: String,
    },
    /// A phone opened a sync stream; the node holds it until the effects say what to do.
    IncomingSync {
        peer: PeerId,
    },
    /// A phone opened a pairing stream; likewise.
    IncomingPair {
        peer: PeerId,
    },
    Session {
        id: SessionId,
        report: SessionReport,
    },
    Pairing {
        peer: PeerId,
        role: Role,
        outcome: PairOutcome,
        at: DateTime<Utc>,
    },
    /// How a [`Write`] that needs an answer went.
    Written {
        write: Write,
        result: Result<(), NetError>,
    },
    Tick,
}

/// Who may connect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Door {
    /// Only this phone, or nobody: the allow list.
    Only(Option<PeerId>),
    /// A pairing is open: anyone may connect, and may only pair.
    Open,
}

/// An answer to an intent.
#[derive(Debug)]
pub enum Reply {
    Invite(Result<Invitation, NetError>),
    /// The join under way ended.
    Join(Result<Paired, NetError>),
    /// The join just asked for can't start.
    JoinRefused(NetError),
    Dial {
        ticket: u64,
        result: Result<(), NetError>,
    },
    /// For pause, resume and unpair.
    Done(Result<(), NetError>),
}

/// What to do.
#[derive(Debug)]
pub enum Effect {
    /// Dial a phone. `only_if_apart`: not if connected, or already dialing, to it.
    Dial {
        dial: DialId,
        peer: Option<PeerId>,
        addresses: Vec<Multiaddr>,
        only_if_apart: bool,
    },
    /// Dial the partner at the addresses this phone remembers.
    RedialPartner(PeerId),
    Disconnect(PeerId),
    Door(Door),
    /// The partner's connections don't count toward the caps on connections, or, after
    /// unpairing, count again.
    Exempt(PeerId),
    Unexempt(PeerId),
    /// Open a sync stream to the partner and run a session on it.
    OpenSession {
        id: SessionId,
        peer: PeerId,
        partner: Box<Partner>,
    },
    /// Run a session on the sync stream that just arrived.
    AcceptSession {
        id: SessionId,
        peer: PeerId,
        partner: Box<Partner>,
    },
    AbortSession(SessionId),
    /// Close the stream that just arrived, unanswered.
    DropStream,
    /// Tell the phone on the pairing stream that just arrived why it can't pair.
    RefusePair(Refusal),
    /// Run the inviting side of a pairing on the stream that just arrived.
    Invitee {
        peer: PeerId,
        code: InviteCode,
    },
    /// Open a pairing stream to a phone and run the joining side.
    JoinAt {
        peer: PeerId,
        code: InviteCode,
        continues: bool,
    },
    Write(Write),
    Emit(NetEvent),
    Reply(Reply),
    /// What the badge shows may have changed.
    Publish,
    /// Listen again, on any free port.
    ListenAnyPort,
}

/// Where the partner stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PartnerPhase {
    NotPaired,
    /// Paired, but sync is paused or stopped on this phone: the partner may not connect.
    Shut,
    /// Paired, and not connected.
    Apart {
        since: Instant,
        /// The connection just closed, which both phones see at once: the one that does
        /// not dial first waits [`FALLBACK`]. Otherwise (this phone just started, or sync
        /// was resumed here) the partner can't know yet, and either phone dials at once.
        parted: bool,
    },
    /// Connected, and no session runs.
    Connected {
        since: Instant,
    },
    /// A session runs on the connection.
    InSession {
        connected: Instant,
        id: SessionId,
        outbound: bool,
        started: Instant,
        synced: bool,
    },
}

/// What the node was started with that the link needs.
struct Started {
    /// Whether mDNS looks for phones; without it, an invitation's addresses are all a
    /// join has.
    discovery: bool,
    invite_lifetime: Duration,
}

/// The partner link of one phone.
pub struct PartnerLink {
    me: PeerId,
    started: Started,
    /// What the file says: the partner, pause, stop, and whether this phone is set up.
    settings: Settings,
    /// Where the partner stands, and what happened with them lately.
    partner: WithPartner,
    /// The invite this phone shows, while it does.
    invite: Option<OpenInvite>,
    /// The invite this phone joins, while it does.
    join: Option<OpenJoin>,
    network: Network,
    /// The last id given to a dial or a session.
    next_id: u64,
}

impl PartnerLink {
    pub fn new(me: PeerId, discovery: bool, invite_lifetime: Duration, settings: Settings, now: Instant) -> Self {
        let mut link = PartnerLink {
            me,
            started: Started { discovery, invite_lifetime },
            settings,
            partner: WithPartner::default(),
            invite: None,
            join: None,
            network: Network::default(),
            next_id: 0,
        };
        link.settle(now);
        link
    }

    pub fn me(&self) -> PeerId {
        self.me
    }

    pub fn phase(&self) -> &PartnerPhase {
        &self.partner.phase
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn partner_peer(&self) -> Option<PeerId> {
        self.settings.partner.as_ref().map(|p| p.peer)
    }

    pub fn listening(&self) -> &[Multiaddr] {
        &self.network.listening
    }

    pub fn is_connected(&self, peer: PeerId) -> bool {
        self.network.is_connected(peer)
    }

    /// Whether an invite or a join is open.
    pub fn pairing_open(&self) -> bool {
        self.invite.is_some() || self.join.is_some()
    }

    /// What the badge shows, read from the phase.
    pub fn badge(&self) -> LinkState {
        match &self.partner.phase {
            PartnerPhase::NotPaired => LinkState::NotPaired,
            PartnerPhase::Shut if self.settings.stopped.is_some() => LinkState::Stopped,
            PartnerPhase::Shut => LinkState::Paused,
            PartnerPhase::Apart { .. } if on_a_network(&self.network.listening) => LinkState::Looking,
            PartnerPhase::Apart { .. } => LinkState::Offline,
            PartnerPhase::InSession { synced: true, .. } => LinkState::Synced,
            PartnerPhase::Connected { .. } | PartnerPhase::InSession { .. } => LinkState::Connected,
        }
    }

    /// When the link next has something to do on its own (an invite's end, a join to ask
    /// again, a session to open, the partner to redial), so the node sleeps until then
    /// instead of ticking. `None`: nothing, until something happens.
    pub fn next_wake(&self) -> Option<Instant> {
        [self.invite_due(), self.join_due(), self.partner_due()].into_iter().flatten().min()
    }

    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Handles one input at `now`, and says what to do.
    pub fn handle(&mut self, now: Instant, input: Input) -> Vec<Effect> {
        let mut out = Vec::new();
        match input {
            Input::Intent(intent) => {
                self.on_intent(now, intent, &mut out);
                out.push(Effect::Publish);
            }
            Input::Settings(settings) => self.on_settings(now, settings, &mut out),
            Input::Listening(address) => self.on_listening(address, &mut out),
            Input::ListenExpired(address) => {
                self.network.listening.retain(|a| a != &address);
                out.push(Effect::Publish);
            }
            Input::ListenersGone => out.push(Effect::ListenAnyPort),
            Input::Discovered { peer, address } => self.on_discovered(now, peer, address, &mut out),
            Input::Connected { peer, dial, address } => self.on_connected(now, peer, dial, address, &mut out),
            Input::Closed { peer, remaining, cause } => self.on_closed(now, peer, remaining, cause, &mut out),
            Input::DialFailed { dial, reason } => self.on_dial_failed(dial, reason, &mut out),
            Input::TurnedAway { peer, from } => out.push(Effect::Emit(NetEvent::Refused {
                peer: peer.map(|p| p.to_base58()),
                reason: format!("not the partner's phone ({from})"),
            })),
            Input::IncomingSync { peer } => self.on_incoming_sync(now, peer, &mut out),
            Input::IncomingPair { peer } => self.on_incoming_pair(now, peer, &mut out),
            Input::Session { id, report } => self.on_report(now, id, report, &mut out),
            Input::Pairing { peer, role, outcome, at } => self.on_pairing(now, peer, role, outcome, at, &mut out),
            Input::Written { write, result } => self.on_written(now, write, result, &mut out),
            Input::Tick => {
                self.join_tick(now, &mut out);
                self.invite_tick(now, &mut out);
                self.partner_tick(now, &mut out);
            }
        }
        out
    }

    // ----- What the person wants -----

    fn on_intent(&mut self, now: Instant, intent: Intent, out: &mut Vec<Effect>) {
        match intent {
            Intent::Invite(code) => {
                let result = self.open_invite(now, code, out);
                out.push(Effect::Reply(Reply::Invite(result)));
            }
            Intent::CancelPairing => {
                if self.invite.take().is_some() {
                    out.push(Effect::Emit(NetEvent::InviteEnded { reason: "cancelled".to_owned() }));
                }
                if self.join.take().is_some() {
                    out.push(Effect::Reply(Reply::Join(Err(NetError::Cancelled))));
                }
                self.restore_door(out);
            }
            Intent::Join(invitation) => self.open_join(invitation, out),
            Intent::Dial { address, ticket } => self.dial_asked(address, ticket, out),
            Intent::SetPaused(paused) => self.set_paused(paused, out),
            Intent::Unpair => self.unpair(now, out),
        }
    }

    /// A write the link waits on is done.
    fn on_written(&mut self, now: Instant, write: Write, result: Result<(), NetError>, out: &mut Vec<Effect>) {
        match write {
            Write::Paused(paused) => self.paused_written(now, paused, result, out),
            Write::Unpair => self.unpaired_written(now, result, out),
            Write::NewPartner { partner, role, words, .. } => {
                self.partner_saved(now, *partner, role, words, result, out)
            }
            // Nothing waits on the others.
            _ => out.push(Effect::Publish),
        }
    }

    // ----- Pairing, either side -----

    /// Whether this phone may start a pairing now.
    fn may_pair(&self) -> Result<(), NetError> {
        if !self.settings.set_up {
            return Err(NetError::NotSetUp);
        }
        if let Some(p) = &self.settings.partner {
            return Err(NetError::AlreadyPaired(p.name.clone()));
        }
        Ok(())
    }

    fn on_pairing(
        &mut self,
        now: Instant,
        peer: PeerId,
        role: Role,
        outcome: PairOutcome,
        at: DateTime<Utc>,
        out: &mut Vec<Effect>,
    ) {
        match (outcome, role) {
            (PairOutcome::Paired(with), _) => self.paired(peer, role, with, at, out),
            (PairOutcome::Failed(failure), Role::Inviter) => self.invite_attempt_failed(peer, failure, out),
            (PairOutcome::Failed(failure), Role::Joiner) => self.join_attempt_failed(now, peer, failure, out),
        }
    }

    /// Both phones proved they hold the same code: the new partner is saved, and the
    /// pairing finishes once it is ([`PartnerLink::partner_saved`]).
    fn paired(&mut self, peer: PeerId, role: Role, with: PairedWith, at: DateTime<Utc>, out: &mut Vec<Effect>) {
        let PairedWith { who, words, couple, network, continued } = with;
        let history = match (&continued, role) {
            (Some(c), Role::Joiner) => c.heads.iter().map(|h| peers::to_hex(h)).collect(),
            _ => Vec::new(),
        };
        let restored_at = continued.as_ref().filter(|_| role == Role::Inviter).map(|_| at);
        let past = continued.and_then(|c| c.past);
        let partner = Partner {
            peer,
            // Already cleaned for showing, by the exchange.
            name: who.name,
            paired_at: at,
            person: who.person,
            actors: vec![peers::to_hex(&who.actor)],
            couple: peers::to_hex(&couple),
            confirmed: false,
            safety_words: words.iter().map(|w| (*w).to_owned()).collect(),
            network: Some(network),
            role: Some(role),
            history,
            restored_at,
        };
        let reached = self.network.reached_at.get(&peer).cloned();
        out.push(Effect::Write(Write::NewPartner { partner: Box::new(partner), reached, role, words, past }));
    }

    /// The new partner is saved (or could not be): the pairing ends, and the connection
    /// it used is the partner's now.
    fn partner_saved(
        &mut self,
        now: Instant,
        partner: Partner,
        role: Role,
        words: [&'static str; 4],
        result: Result<(), NetError>,
        out: &mut Vec<Effect>,
    ) {
        if let Err(e) = result {
            self.finish_pairing(role, Err(e), out);
            return;
        }
        let peer = partner.peer;
        let paired =
            Paired { partner: peer, name: partner.name.clone(), safety_words: words, couple: partner.couple.clone() };
        out.push(Effect::Emit(NetEvent::Paired {
            partner: peer.to_base58(),
            name: partner.name.clone(),
            safety_words: partner.safety_words.clone(),
            continued: partner.restored_at.is_some() || !partner.history.is_empty(),
        }));
        self.settings.partner = Some(partner);
        self.settings.paused = false;
        self.settings.stopped = None;
        self.finish_pairing(role, Ok(paired), out);
        self.settle(now);
        if self.is_connected(peer) {
            out.push(Effect::Emit(NetEvent::Connected { peer: peer.to_base58() }));
            if dials_first(self.me, peer) {
                self.open_session(now, peer, out);
            }
        }
        out.push(Effect::Publish);
    }

    /// Ends this phone's side of a pairing; a join under way hears how.
    fn finish_pairing(&mut self, role: Role, result: Result<Paired, NetError>, out: &mut Vec<Effect>) {
        match role {
            Role::Inviter => self.invite = None,
            Role::Joiner => {
                if self.join.take().is_some() {
                    out.push(Effect::Reply(Reply::Join(result)));
                }
            }
        }
        self.restore_door(out);
    }
}
