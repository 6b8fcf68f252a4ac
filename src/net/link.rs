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

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use libp2p::{Multiaddr, PeerId};

use super::addresses::{host_port, is_local, offered, on_a_network, tcp_port};
use super::error::{NetError, Paired};
use super::invite::Invitation;
use super::pairing::{InviteCode, PairFailure, PairOutcome, PairedWith, PairingError, Refusal, Role};
use super::peers::{self, Partner, Settings, Write};
use super::sync::{End, SessionReport};
use super::{LinkState, NetEvent};

/// An invite lasts this long.
pub const INVITE_LIFETIME: Duration = Duration::from_secs(10 * 60);
/// This many wrong codes cancel an invite.
pub const MAX_TRIES: u8 = 5;
/// The phone that does not dial first waits this long for the other to open the session
/// (or to dial) before doing it itself. A connection on a LAN takes a few milliseconds, so
/// this is a wide margin, and short enough that a phone rejoining the Wi-Fi is synced well
/// within a second.
pub const FALLBACK: Duration = Duration::from_millis(300);
/// After a session ends, the next one waits this long, so a session that fails at once
/// is not retried in a tight loop.
pub const REST: Duration = Duration::from_millis(500);
/// How often the partner's remembered addresses are tried while apart.
pub const REDIAL_EVERY: Duration = Duration::from_secs(1);
/// The same refusal (another pairing, say) is reported at most this often, since the two
/// phones keep finding each other.
pub const REPEAT_REFUSAL: Duration = Duration::from_secs(60);
/// A joining phone told the invite is busy asks again after this long,
pub const BUSY_RETRY: Duration = Duration::from_secs(1);
/// for this long before it says so.
pub const BUSY_PATIENCE: Duration = Duration::from_secs(30);
/// A joining phone whose invite went away asks again after this long.
pub const GONE_RETRY: Duration = Duration::from_millis(300);
/// The most addresses discovery reports the partner at in one run.
pub const FOUND_AT_MOST: usize = 16;

/// Which of two phones dials, and opens the session, first: the one with the lower
/// identity. The other waits [`FALLBACK`] before doing it itself, so two phones don't
/// dial each other at the same moment, and a lost first try is made up for.
pub fn dials_first(me: PeerId, other: PeerId) -> bool {
    me < other
}

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

struct OpenInvite {
    code: InviteCode,
    expires: Instant,
    tries: u8,
    /// The phone an exchange is under way with.
    busy: Option<PeerId>,
}

struct OpenJoin {
    link: Invitation,
    tried: Vec<PeerId>,
    busy: bool,
    /// The inviting phone was busy with another attempt: ask it again then.
    retry: Option<(PeerId, Instant)>,
    /// Since when it has been busy.
    busy_since: Option<Instant>,
    /// How often the link's phone was asked again after it went away.
    gone_retries: u8,
}

#[derive(Clone, Debug)]
enum Purpose {
    /// Asked for by the person (or the node's start-up list); `ticket` waits for the answer.
    Asked { address: Multiaddr, ticket: Option<u64> },
    /// One of an invite link's addresses.
    Join(Multiaddr),
}

/// The partner link of one phone.
pub struct PartnerLink {
    me: PeerId,
    discovery: bool,
    invite_lifetime: Duration,
    settings: Settings,
    phase: PartnerPhase,
    invite: Option<OpenInvite>,
    join: Option<OpenJoin>,
    next_id: u64,
    last_redial: Option<Instant>,
    last_session_end: Option<Instant>,
    last_refusal: Option<(String, Instant)>,
    listening: Vec<Multiaddr>,
    /// The partner's addresses discovery has found during this run, each said once.
    found_at: HashSet<Multiaddr>,
    /// The address each connected phone was reached at, when this phone dialed it.
    reached_at: HashMap<PeerId, Multiaddr>,
    /// How many connections are open to each phone.
    connections: HashMap<PeerId, u32>,
    dials: HashMap<DialId, Purpose>,
}

impl PartnerLink {
    pub fn new(me: PeerId, discovery: bool, invite_lifetime: Duration, settings: Settings, now: Instant) -> Self {
        let mut link = PartnerLink {
            me,
            discovery,
            invite_lifetime,
            settings,
            phase: PartnerPhase::NotPaired,
            invite: None,
            join: None,
            next_id: 0,
            last_redial: None,
            last_session_end: None,
            last_refusal: None,
            listening: Vec::new(),
            found_at: HashSet::new(),
            reached_at: HashMap::new(),
            connections: HashMap::new(),
            dials: HashMap::new(),
        };
        link.settle(now);
        link
    }

    pub fn me(&self) -> PeerId {
        self.me
    }

    pub fn phase(&self) -> &PartnerPhase {
        &self.phase
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn partner_peer(&self) -> Option<PeerId> {
        self.settings.partner.as_ref().map(|p| p.peer)
    }

    pub fn listening(&self) -> &[Multiaddr] {
        &self.listening
    }

    pub fn is_connected(&self, peer: PeerId) -> bool {
        self.connections.get(&peer).is_some_and(|n| *n > 0)
    }

    /// Whether an invite or a join is open.
    pub fn pairing_open(&self) -> bool {
        self.invite.is_some() || self.join.is_some()
    }

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

    /// What the badge shows, read from the phase.
    pub fn badge(&self) -> LinkState {
        match &self.phase {
            PartnerPhase::NotPaired => LinkState::NotPaired,
            PartnerPhase::Shut if self.settings.stopped.is_some() => LinkState::Stopped,
            PartnerPhase::Shut => LinkState::Paused,
            PartnerPhase::Apart { .. } if on_a_network(&self.listening) => LinkState::Looking,
            PartnerPhase::Apart { .. } => LinkState::Offline,
            PartnerPhase::InSession { synced: true, .. } => LinkState::Synced,
            PartnerPhase::Connected { .. } | PartnerPhase::InSession { .. } => LinkState::Connected,
        }
    }

    /// When the link next has something to do on its own (an invite's end, a join to ask
    /// again, a session to open, the partner to redial), so the node sleeps until then
    /// instead of ticking. `None`: nothing, until something happens.
    pub fn next_wake(&self) -> Option<Instant> {
        let mut due: Option<Instant> = None;
        let mut at = |t: Instant| due = Some(due.map_or(t, |d| d.min(t)));
        if let Some(invite) = &self.invite
            && invite.busy.is_none()
        {
            at(invite.expires);
        }
        if let Some((_, retry)) = self.join.as_ref().and_then(|j| j.retry) {
            at(retry);
        }
        if let Some(partner) = self.partner_peer()
            && self.may_sync()
        {
            let first = dials_first(self.me, partner);
            let rested = self.last_session_end.map(|t| t + REST);
            match self.phase {
                PartnerPhase::Connected { since } => {
                    let waited = if first { since } else { since + FALLBACK };
                    at(rested.map_or(waited, |r| r.max(waited)));
                }
                PartnerPhase::Apart { since, parted } => {
                    let redial = self.last_redial.map(|t| t + REDIAL_EVERY);
                    let allowed = if first || !parted { since } else { since + FALLBACK };
                    at(redial.map_or(allowed, |r| r.max(allowed)));
                }
                _ => {}
            }
        }
        due
    }

    /// Whether sessions may run with the partner: paired, not paused, and not stopped.
    fn may_sync(&self) -> bool {
        self.settings.partner.is_some() && !self.settings.paused && self.settings.stopped.is_none()
    }

    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Whether this phone, apart from `partner`, may dial it now: the one that dials first
    /// always may; the other once the partner has had [`FALLBACK`] to dial, or at once
    /// when the partner can't know (this phone just started, or resumed sync).
    fn dials_now(&self, now: Instant, partner: PeerId) -> bool {
        match self.phase {
            PartnerPhase::Apart { since, parted } => {
                dials_first(self.me, partner) || !parted || now.saturating_duration_since(since) >= FALLBACK
            }
            _ => dials_first(self.me, partner),
        }
    }

    /// Puts the phase in line with the settings and the connections.
    fn settle(&mut self, now: Instant) {
        let partner = self.partner_peer();
        self.phase = match (&self.phase, partner) {
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

    /// Handles one input at `now`, and says what to do.
    pub fn handle(&mut self, now: Instant, input: Input) -> Vec<Effect> {
        let mut out = Vec::new();
        match input {
            Input::Intent(intent) => {
                self.on_intent(now, intent, &mut out);
                out.push(Effect::Publish);
            }
            Input::Settings(settings) => self.on_settings(now, settings, &mut out),
            Input::Listening(address) => {
                if let Some(port) = tcp_port(&address) {
                    out.push(Effect::Write(Write::ListenPort(port)));
                }
                out.push(Effect::Emit(NetEvent::Listening { address: host_port(&address) }));
                self.listening.push(address);
                out.push(Effect::Publish);
            }
            Input::ListenExpired(address) => {
                self.listening.retain(|a| a != &address);
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
            Input::Tick => self.on_tick(now, &mut out),
        }
        out
    }

    /// Reports a refusal, unless the same one was reported a moment ago.
    fn refused(&mut self, now: Instant, peer: Option<PeerId>, reason: String, out: &mut Vec<Effect>) {
        if let Some((last, at)) = &self.last_refusal
            && *last == reason
            && now.saturating_duration_since(*at) < REPEAT_REFUSAL
        {
            return;
        }
        self.last_refusal = Some((reason.clone(), now));
        out.push(Effect::Emit(NetEvent::Refused { peer: peer.map(|p| p.to_base58()), reason }));
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
            Intent::Join(link) => self.open_join(link, out),
            Intent::Dial { address, ticket } => {
                if !is_local(&address) {
                    let error = NetError::Unreachable {
                        address: host_port(&address),
                        reason: "it is not on your local network".to_owned(),
                    };
                    if let Some(ticket) = ticket {
                        out.push(Effect::Reply(Reply::Dial { ticket, result: Err(error) }));
                    }
                } else {
                    let dial = self.next_id();
                    self.dials.insert(dial, Purpose::Asked { address: address.clone(), ticket });
                    out.push(Effect::Dial { dial, peer: None, addresses: vec![address], only_if_apart: false });
                }
            }
            Intent::SetPaused(paused) => {
                if self.settings.partner.is_none() {
                    out.push(Effect::Reply(Reply::Done(Err(NetError::NotPaired))));
                } else {
                    out.push(Effect::Write(Write::Paused(paused)));
                }
            }
            Intent::Unpair => {
                if self.settings.partner.is_none() {
                    out.push(Effect::Reply(Reply::Done(Err(NetError::NotPaired))));
                } else {
                    // The session ends before the pairing does, so it writes nothing after.
                    self.stop_session(now, out);
                    out.push(Effect::Write(Write::Unpair));
                }
            }
        }
    }

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

    fn open_invite(&mut self, now: Instant, code: InviteCode, out: &mut Vec<Effect>) -> Result<Invitation, NetError> {
        self.may_pair()?;
        if self.join.is_some() {
            return Err(NetError::PairingUnderWay);
        }
        self.invite =
            Some(OpenInvite { code: code.clone(), expires: now + self.invite_lifetime, tries: 0, busy: None });
        out.push(Effect::Door(Door::Open));
        Ok(Invitation { code, peer: Some(self.me), addresses: offered(&self.listening) })
    }

    fn open_join(&mut self, link: Invitation, out: &mut Vec<Effect>) {
        let refused =
            self.may_pair().and_then(|()| if self.pairing_open() { Err(NetError::PairingUnderWay) } else { Ok(()) });
        if let Err(e) = refused {
            out.push(Effect::Reply(Reply::JoinRefused(e)));
            return;
        }
        out.push(Effect::Door(Door::Open));
        for address in &link.addresses {
            let dial = self.next_id();
            self.dials.insert(dial, Purpose::Join(address.clone()));
            out.push(Effect::Dial { dial, peer: link.peer, addresses: vec![address.clone()], only_if_apart: false });
        }
        self.join =
            Some(OpenJoin { link, tried: Vec::new(), busy: false, retry: None, busy_since: None, gone_retries: 0 });
        // Phones already connected (found by discovery before the code was typed) can be
        // asked right away.
        let mut connected: Vec<PeerId> = self.connections.iter().filter(|(_, n)| **n > 0).map(|(p, _)| *p).collect();
        connected.sort();
        for peer in connected {
            self.try_join(peer, out);
        }
    }

    fn on_written(&mut self, now: Instant, write: Write, result: Result<(), NetError>, out: &mut Vec<Effect>) {
        match write {
            Write::Paused(paused) => {
                if let Err(e) = result {
                    out.push(Effect::Reply(Reply::Done(Err(e))));
                    return;
                }
                self.settings.paused = paused;
                if !paused {
                    // Resuming is the person's choice to trust the partner's phone again.
                    self.settings.stopped = None;
                }
                if paused {
                    self.stop_session(now, out);
                    if let Some(partner) = self.partner_peer() {
                        out.push(Effect::Disconnect(partner));
                    }
                }
                self.settle(now);
                self.restore_door(out);
                out.push(Effect::Reply(Reply::Done(Ok(()))));
            }
            Write::Unpair => {
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
                    out.push(Effect::Unexempt(was));
                    out.push(Effect::Disconnect(was));
                }
                self.restore_door(out);
                out.push(Effect::Reply(Reply::Done(Ok(()))));
            }
            Write::NewPartner { partner, role, words, .. } => {
                if let Err(e) = result {
                    self.finish_pairing(role, Err(e), out);
                    return;
                }
                let peer = partner.peer;
                let paired = Paired {
                    partner: peer,
                    name: partner.name.clone(),
                    safety_words: words,
                    couple: partner.couple.clone(),
                };
                out.push(Effect::Emit(NetEvent::Paired {
                    partner: peer.to_base58(),
                    name: partner.name.clone(),
                    safety_words: partner.safety_words.clone(),
                }));
                self.settings.partner = Some(*partner);
                self.settings.paused = false;
                self.settings.stopped = None;
                self.finish_pairing(role, Ok(paired), out);
                // The connection pairing used is the partner's now.
                self.settle(now);
                if self.is_connected(peer) {
                    out.push(Effect::Emit(NetEvent::Connected { peer: peer.to_base58() }));
                    if dials_first(self.me, peer) {
                        self.open_session(now, peer, out);
                    }
                }
            }
            // Nothing waits on the others.
            _ => {}
        }
        out.push(Effect::Publish);
    }

    // ----- Settings changed by another process -----

    fn on_settings(&mut self, now: Instant, settings: Settings, out: &mut Vec<Effect>) {
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
                out.push(Effect::Unexempt(was));
                out.push(Effect::Disconnect(was));
            }
            self.phase = PartnerPhase::NotPaired;
        }
        if (settings.paused || stopped.is_some()) && self.may_sync() {
            self.stop_session(now, out);
            if let Some(peer) = self.partner_peer() {
                out.push(Effect::Disconnect(peer));
            }
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
    fn restore_door(&mut self, out: &mut Vec<Effect>) {
        if self.pairing_open() {
            return;
        }
        out.push(Effect::Door(self.door()));
        let partner = self.partner_peer();
        if let Some(partner) = partner {
            out.push(Effect::Exempt(partner));
        }
        let welcome = if self.may_sync() { partner } else { None };
        let mut others: Vec<PeerId> =
            self.connections.iter().filter(|(p, n)| **n > 0 && Some(**p) != welcome).map(|(p, _)| *p).collect();
        others.sort();
        out.extend(others.into_iter().map(Effect::Disconnect));
    }

    // ----- Connections -----

    fn on_discovered(&mut self, now: Instant, peer: PeerId, address: Multiaddr, out: &mut Vec<Effect>) {
        if !is_local(&address) || peer == self.me {
            return;
        }
        if Some(peer) == self.partner_peer() {
            // Announcements are not authenticated: what one says is kept only as far as
            // the address book keeps it, and said at most a few times a run.
            if self.found_at.len() >= FOUND_AT_MOST {
                return;
            }
            out.push(Effect::Write(Write::Address(address.clone())));
            if self.found_at.insert(address.clone()) {
                out.push(Effect::Emit(NetEvent::Discovered { peer: peer.to_base58(), address: host_port(&address) }));
            }
            if self.may_sync() && !self.is_connected(peer) && self.dials_now(now, peer) {
                self.redial(now, peer, out);
            }
            return;
        }
        if let Some(join) = &self.join {
            let wanted = join.link.peer.is_none_or(|p| p == peer);
            if wanted && !join.tried.contains(&peer) && !self.is_connected(peer) {
                let dial = self.next_id();
                out.push(Effect::Dial { dial, peer: Some(peer), addresses: vec![address], only_if_apart: true });
            }
        }
    }

    fn on_connected(
        &mut self,
        now: Instant,
        peer: PeerId,
        dial: Option<DialId>,
        address: Option<Multiaddr>,
        out: &mut Vec<Effect>,
    ) {
        if let Some(Purpose::Asked { ticket: Some(ticket), .. }) = dial.and_then(|d| self.dials.remove(&d)) {
            out.push(Effect::Reply(Reply::Dial { ticket, result: Ok(()) }));
        }
        let count = self.connections.entry(peer).or_insert(0);
        *count += 1;
        let count = *count;
        let address = address.filter(is_local);
        if let Some(address) = &address {
            self.reached_at.insert(peer, address.clone());
        }
        if Some(peer) == self.partner_peer() {
            if let Some(address) = address {
                out.push(Effect::Write(Write::Address(address)));
            }
            if count == 1 && self.may_sync() {
                self.phase = PartnerPhase::Connected { since: now };
                out.push(Effect::Emit(NetEvent::Connected { peer: peer.to_base58() }));
            }
            if dials_first(self.me, peer) {
                self.open_session(now, peer, out);
            }
            out.push(Effect::Publish);
            return;
        }
        // Another phone: nothing the badge shows changes.
        if self.join.is_some() {
            self.try_join(peer, out);
        }
    }

    fn on_closed(&mut self, now: Instant, peer: PeerId, remaining: u32, cause: String, out: &mut Vec<Effect>) {
        if remaining == 0 {
            self.connections.remove(&peer);
            self.reached_at.remove(&peer);
        } else {
            self.connections.insert(peer, remaining);
        }
        if remaining == 0 && Some(peer) == self.partner_peer() {
            self.stop_session(now, out);
            if self.may_sync() {
                self.phase = PartnerPhase::Apart { since: now, parted: true };
            }
            out.push(Effect::Emit(NetEvent::Disconnected { peer: peer.to_base58(), reason: cause }));
            out.push(Effect::Publish);
        }
    }

    fn on_dial_failed(&mut self, dial: DialId, reason: String, out: &mut Vec<Effect>) {
        match self.dials.remove(&dial) {
            Some(Purpose::Asked { address, ticket }) => {
                out.push(Effect::Emit(NetEvent::Unreachable { address: host_port(&address), reason: reason.clone() }));
                if let Some(ticket) = ticket {
                    let error = NetError::Unreachable { address: host_port(&address), reason };
                    out.push(Effect::Reply(Reply::Dial { ticket, result: Err(error) }));
                }
            }
            Some(Purpose::Join(address)) => {
                out.push(Effect::Emit(NetEvent::Unreachable { address: host_port(&address), reason: reason.clone() }));
                // Without discovery, the link's addresses are all there is to try.
                let others_pending = self.dials.values().any(|p| matches!(p, Purpose::Join(_)));
                if !self.discovery && self.join.as_ref().is_some_and(|j| !j.busy) && !others_pending {
                    let error = NetError::Unreachable { address: host_port(&address), reason };
                    self.finish_pairing(Role::Joiner, Err(error), out);
                }
            }
            None => {}
        }
    }

    // ----- Pairing -----

    fn try_join(&mut self, peer: PeerId, out: &mut Vec<Effect>) {
        let Some(join) = &mut self.join else { return };
        if join.busy || join.tried.contains(&peer) || join.link.peer.is_some_and(|p| p != peer) {
            return;
        }
        join.busy = true;
        join.tried.push(peer);
        out.push(Effect::JoinAt { peer, code: join.link.code.clone() });
    }

    fn on_incoming_pair(&mut self, now: Instant, peer: PeerId, out: &mut Vec<Effect>) {
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

    fn on_pairing(
        &mut self,
        now: Instant,
        peer: PeerId,
        role: Role,
        outcome: PairOutcome,
        at: DateTime<Utc>,
        out: &mut Vec<Effect>,
    ) {
        match outcome {
            PairOutcome::Paired(PairedWith { who, words, couple }) => {
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
                };
                let reached = self.reached_at.get(&peer).cloned();
                out.push(Effect::Write(Write::NewPartner { partner: Box::new(partner), reached, role, words }));
            }
            PairOutcome::Failed(failure) => {
                match role {
                    Role::Inviter => {
                        let Some(invite) = &mut self.invite else { return };
                        invite.busy = None;
                        // Only an exchange that completed with a wrong code uses up a try:
                        // junk, a stalled stream or a phone that left can't cancel the
                        // invite without guessing codes.
                        if matches!(failure, PairFailure::Pairing(PairingError::WrongCode)) {
                            invite.tries += 1;
                        }
                        let used_up = invite.tries >= MAX_TRIES;
                        out.push(Effect::Emit(NetEvent::Refused {
                            peer: Some(peer.to_base58()),
                            reason: failure.to_string(),
                        }));
                        out.push(Effect::Disconnect(peer));
                        if used_up {
                            self.invite = None;
                            out.push(Effect::Emit(NetEvent::InviteEnded {
                                reason: "cancelled after five wrong codes".to_owned(),
                            }));
                            self.restore_door(out);
                        }
                    }
                    Role::Joiner => {
                        if matches!(failure, PairFailure::Busy)
                            && let Some(join) = &mut self.join
                        {
                            // Someone else's attempt holds the invite (a stranger's, or a
                            // stalled one): ask again in a moment, for a while.
                            let since = *join.busy_since.get_or_insert(now);
                            if now.saturating_duration_since(since) < BUSY_PATIENCE {
                                join.busy = false;
                                join.tried.retain(|p| *p != peer);
                                join.retry = Some((peer, now + BUSY_RETRY));
                                out.push(Effect::Publish);
                                return;
                            }
                        }
                        out.push(Effect::Disconnect(peer));
                        match failure {
                            // Not an inviting phone, or it went away: keep looking, when
                            // discovery can find another.
                            PairFailure::Gone(_) if self.discovery => {
                                if let Some(join) = &mut self.join {
                                    join.busy = false;
                                }
                            }
                            // Without discovery, the link's phone is all there is: its
                            // connection may have been closing (a retry right after a
                            // wrong code), so it is asked twice more on a fresh one.
                            PairFailure::Gone(_)
                                if self
                                    .join
                                    .as_ref()
                                    .is_some_and(|j| j.gone_retries < 2 && !j.link.addresses.is_empty()) =>
                            {
                                if let Some(join) = &mut self.join {
                                    join.gone_retries += 1;
                                    join.busy = false;
                                    join.tried.retain(|p| *p != peer);
                                    join.retry = Some((peer, now + GONE_RETRY));
                                }
                            }
                            other => self.finish_pairing(role, Err(other.into()), out),
                        }
                    }
                }
                out.push(Effect::Publish);
            }
        }
    }

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

    // ----- Sync sessions -----

    fn open_session(&mut self, now: Instant, peer: PeerId, out: &mut Vec<Effect>) {
        let connected = match self.phase {
            PartnerPhase::Connected { since } => since,
            _ => return,
        };
        let Some(partner) = self.settings.partner.clone() else { return };
        let id = self.next_id();
        self.phase = PartnerPhase::InSession { connected, id, outbound: true, started: now, synced: false };
        out.push(Effect::OpenSession { id, peer, partner: Box::new(partner) });
    }

    fn on_incoming_sync(&mut self, now: Instant, peer: PeerId, out: &mut Vec<Effect>) {
        if self.invite.as_ref().is_some_and(|i| i.busy == Some(peer)) {
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
        let connected = match self.phase {
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
        self.phase = PartnerPhase::InSession { connected, id, outbound: false, started: now, synced: false };
        out.push(Effect::AcceptSession { id, peer, partner: Box::new(partner) });
        out.push(Effect::Publish);
    }

    /// Ends the session that runs, if one does.
    fn stop_session(&mut self, now: Instant, out: &mut Vec<Effect>) {
        if let PartnerPhase::InSession { connected, id, .. } = self.phase {
            out.push(Effect::AbortSession(id));
            self.last_session_end = Some(now);
            self.phase = PartnerPhase::Connected { since: connected };
        }
    }

    fn on_report(&mut self, now: Instant, id: SessionId, report: SessionReport, out: &mut Vec<Effect>) {
        let PartnerPhase::InSession { connected, id: running, .. } = self.phase else { return };
        let Some(peer) = self.partner_peer() else { return };
        if running != id {
            return;
        }
        match report {
            SessionReport::Synced { received, at } => {
                if let PartnerPhase::InSession { synced, .. } = &mut self.phase {
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
                self.phase = PartnerPhase::Connected { since: connected };
                self.last_session_end = Some(now);
                match end {
                    End::Violation => self.refused(now, Some(peer), reason.clone(), out),
                    End::Stopped => {
                        // Kept in the settings, so sync stays stopped across restarts.
                        out.push(Effect::Write(Write::Stopped(reason.clone())));
                        self.settings.stopped = Some(reason.clone());
                        self.last_refusal = None;
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

    fn on_tick(&mut self, now: Instant, out: &mut Vec<Effect>) {
        if let Some(join) = &mut self.join
            && let Some((peer, at)) = join.retry
            && now >= at
        {
            join.retry = None;
            let (target, addresses) = (join.link.peer, join.link.addresses.clone());
            if self.is_connected(peer) {
                self.try_join(peer, out);
            } else {
                // Dial the link's addresses again; connected, it is asked at once.
                for address in addresses {
                    let dial = self.next_id();
                    self.dials.insert(dial, Purpose::Join(address.clone()));
                    out.push(Effect::Dial { dial, peer: target, addresses: vec![address], only_if_apart: false });
                }
            }
        }
        if let Some(invite) = &self.invite
            && now >= invite.expires
            && invite.busy.is_none()
        {
            self.invite = None;
            out.push(Effect::Emit(NetEvent::InviteEnded { reason: "expired".to_owned() }));
            self.restore_door(out);
            out.push(Effect::Publish);
        }
        let Some(partner) = self.partner_peer() else { return };
        if !self.may_sync() {
            return;
        }
        let first = dials_first(self.me, partner);
        match self.phase {
            PartnerPhase::Connected { since } => {
                let waited = now.saturating_duration_since(since) >= FALLBACK;
                let rested = self.last_session_end.is_none_or(|t| now.saturating_duration_since(t) >= REST);
                if rested && (first || waited) {
                    self.open_session(now, partner, out);
                }
            }
            PartnerPhase::Apart { .. } => {
                let due = self.last_redial.is_none_or(|t| now.saturating_duration_since(t) >= REDIAL_EVERY);
                if due && self.dials_now(now, partner) {
                    self.redial(now, partner, out);
                }
            }
            _ => {}
        }
    }

    fn redial(&mut self, now: Instant, partner: PeerId, out: &mut Vec<Effect>) {
        self.last_redial = Some(now);
        out.push(Effect::RedialPartner(partner));
    }
}
