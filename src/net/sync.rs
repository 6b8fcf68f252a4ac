//! The sync session as a state machine: frames and ticks in, frames to send and reports
//! out. It reads and writes the store it is handed, and nothing else: no socket, no clock
//! (callers pass `now`), no tokio. `net::session` runs it on a stream;
//! `tests/suite/sim.rs` runs two of them through a simulated network.
//!
//! A session starts with a hello each way (the couple id, and whether that phone's person
//! checked the safety words). Nothing of the shared document is sent, and nothing received
//! is applied, until both have: each phone's own confirmation, and the one its partner's
//! hello reported. Every message received is then checked against the rules (only the
//! partner's device, only the partner's entries) before it is kept; one that breaks them
//! stops sync with that partner until the person resumes it.

use std::time::{Duration, Instant};

use automerge::{ChangeHash, sync};
use chrono::{DateTime, Utc};

use super::frame::SyncFrame;
use super::peers::{self, Partner};
use std::sync::Arc;

pub use crate::store::Arrived;
use crate::store::{PartnerRules, Received, Store, StoreError};

/// After this long without a word from the partner, a session asks "still there?" (a
/// ping, which the partner answers with its hello).
pub const PING_EVERY: Duration = Duration::from_secs(15);
/// A ping, or changes sent, must be answered within this long, or the partner's phone is
/// gone (asleep, or off the Wi-Fi): the session ends and the connection is dialed anew.
pub const ANSWER_LIMIT: Duration = Duration::from_secs(5);

/// Why a session ends when the two phones are not in the same pairing.
pub const DIFFERENT_PAIRING: &str = "your partner's phone has a different pairing; pair again";

/// What a sync session tells the link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionReport {
    /// Both phones now hold the same document; `received` changes arrived on the way.
    Synced { received: usize, at: DateTime<Utc> },
    /// The partner's hello said whether their person checked the words.
    PartnerConfirmed(bool),
    /// The session ended, and why.
    Ended { reason: String, end: End },
}

/// How a session ended, which decides what happens to its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The stream closed or failed; the connection goes its own way.
    Closed,
    /// The partner's phone went quiet: the connection is likely dead, so it is dropped
    /// and redialed.
    Quiet,
    /// The peer broke the protocol, or is in another pairing: the connection is closed.
    Violation,
    /// The partner's phone sent changes that break the rules: sync with it stops until
    /// the person resumes it, or unpairs.
    Stopped,
}

/// Why a session ended.
pub type Ended = (End, String);

/// What a session asks its runner to do.
#[derive(Debug)]
pub enum Out {
    Send(SyncFrame),
    Report(SessionReport),
}

/// Shows the window what a message brought, the moment it is applied: see
/// [`Store::receive_sync_message_showing`].
pub type Show = Arc<dyn Fn(Arrived) + Send + Sync>;

fn closed(e: impl std::fmt::Display) -> Ended {
    (End::Closed, e.to_string())
}

/// One sync session with the partner's phone.
pub struct SyncSession {
    partner: Partner,
    couple: [u8; 16],
    rules: PartnerRules,
    state: sync::State,
    /// The file's `data_version` the pairing was last read at.
    seen_version: Option<i64>,
    /// What the pairing's settings were stored as when last read ([`peers::partner_stamp`]).
    partner_stamp: Vec<u8>,
    they_confirmed: bool,
    last_heard: Instant,
    /// Since when an answer is owed: a ping or changes were sent, and nothing came since.
    owed_since: Option<Instant>,
    received: usize,
    reported: Option<Vec<ChangeHash>>,
    /// When a share's undo ends, and it may be sent.
    next_ready: Option<DateTime<Utc>>,
    /// Something may be worth sending.
    dirty: bool,
    /// What the partner's hello must carry (see [`hello_token`]).
    their_hello: [u8; 16],
    hello_due: bool,
    /// "Synced" was reported and the state both agreed on is not saved yet.
    save_due: bool,
    /// Someone (the window) takes the entries each message changed.
    show: Option<Show>,
}

/// What a phone's hello carries: a token that only a phone holding the couple secret
/// can make, different for each side of the pairing. A second lock on the sync, beside
/// the day's identities: nothing outside the two journals (not the courier's profile,
/// not a relay) can say hello, so nothing else gets a sync message.
pub fn hello_token(network: &super::pairing::CoupleNetwork, from: super::pairing::Role, couple: &[u8; 16]) -> [u8; 16] {
    use hmac::Mac;
    let side: &[u8] = match from {
        super::pairing::Role::Inviter => b"inviter",
        super::pairing::Role::Joiner => b"joiner",
    };
    // HMAC takes a key of any length, so this can't fail.
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(network.as_bytes()) else { return *couple };
    mac.update(b"steady hello v1\0");
    mac.update(side);
    mac.update(couple);
    let mut token = [0u8; 16];
    token.copy_from_slice(&mac.finalize().into_bytes()[..16]);
    token
}

impl SyncSession {
    /// A session with `expected`, as the link knew the partner when it started it. The
    /// pairing is read again from the file (the link's copy may be a moment old), with
    /// the version it was read at, so no later change is missed. The couple id names the
    /// pairing: the partner's peer id changes from day to day (`net::daily`).
    pub fn start(store: &Store, expected: &Partner, now: Instant) -> Result<SyncSession, Ended> {
        let version = store.data_version().map_err(closed)?;
        let partner_stamp = peers::partner_stamp(store).map_err(closed)?;
        let partner = match peers::partner(store).map_err(closed)? {
            Some(now) if now.couple == expected.couple => now,
            _ => return Err(closed("the pairing ended on this phone")),
        };
        let couple = partner.couple_bytes().ok_or_else(|| closed("this phone's pairing can't be read"))?;
        let (couple, their_hello) = match (&partner.network, partner.role) {
            (Some(network), Some(role)) => {
                (hello_token(network, role, &couple), hello_token(network, role.other(), &couple))
            }
            // A pairing from before couple secrets: the couple id itself, both ways.
            _ => (couple, couple),
        };
        let rules = partner.rules().map_err(closed)?;
        Ok(SyncSession {
            partner,
            couple,
            their_hello,
            rules,
            // A new session starts from the heads both sides last agreed on, never from a
            // state that may hold messages the partner never got.
            state: peers::sync_state(store),
            seen_version: Some(version),
            partner_stamp,
            they_confirmed: false,
            last_heard: now,
            owed_since: None,
            received: 0,
            reported: None,
            next_ready: None,
            dirty: true,
            hello_due: true,
            save_due: false,
            show: None,
        })
    }

    /// Whether both people checked the safety words, as far as this phone knows.
    pub fn both_confirmed(&self) -> bool {
        self.partner.confirmed && self.they_confirmed
    }

    /// What to say now: the hello, a report that both hold the same document, what the
    /// document has for the partner, or a ping. Call it after every input.
    pub fn poll(&mut self, now: Instant, wall: DateTime<Utc>, store: &mut Store) -> Result<Vec<Out>, Ended> {
        let mut out = Vec::new();
        if self.hello_due {
            out.push(Out::Send(SyncFrame::Hello { couple: self.couple, confirmed: self.partner.confirmed }));
            self.hello_due = false;
        }
        // Only once both people checked the words does anything of the document move.
        if self.both_confirmed() {
            if let Some(heads) = self.newly_synced(store) {
                // The journal already holds what arrived, durably: said at once, so the
                // screen shows it. The state both agreed on is saved, and the partner
                // answered, at the next poll ([`SyncSession::more_to_say`]).
                out.push(Out::Report(SessionReport::Synced { received: self.received, at: wall }));
                self.received = 0;
                self.reported = Some(heads);
                self.save_due = true;
                return Ok(out);
            }
            if self.save_due {
                peers::save_sync_state(store, &self.state).map_err(closed)?;
                // The change log is folded here, after "synced", not in the way of a
                // change going out or coming in.
                store.compact_if_due().map_err(closed)?;
                self.save_due = false;
            }
            if self.dirty {
                // Shares whose undo has ended enter the document only now, as they are
                // about to be sent; from now on they count as sent, and the window's
                // cards say so at once.
                let folded = store.fold_outbox().map_err(closed)?;
                if let Some(show) = &self.show
                    && !folded.is_empty()
                {
                    show(store.listed(&folded).map_err(closed)?);
                }
                self.next_ready = store.next_ready().map_err(closed)?;
                if let Some(message) = store.sync_message(&mut self.state).map_err(closed)? {
                    // Changes are answered (the partner's heads move, and it says so).
                    if !message.changes.is_empty() {
                        self.owed_since.get_or_insert(now);
                    }
                    out.push(Out::Send(SyncFrame::Sync(message)));
                }
                self.dirty = false;
            }
        }
        if self.owed_since.is_none() && now.saturating_duration_since(self.last_heard) >= PING_EVERY {
            out.push(Out::Send(SyncFrame::Ping));
            self.owed_since = Some(now);
        }
        Ok(out)
    }

    /// A frame from the partner; what to say after it.
    pub fn on_frame(
        &mut self,
        now: Instant,
        wall: DateTime<Utc>,
        frame: SyncFrame,
        store: &mut Store,
    ) -> Result<Vec<Out>, Ended> {
        self.last_heard = now;
        self.owed_since = None;
        let mut out = Vec::new();
        match frame {
            // "Still there?": yes, with the hello, which changes nothing at the partner.
            SyncFrame::Ping => {
                out.push(Out::Send(SyncFrame::Hello { couple: self.couple, confirmed: self.partner.confirmed }))
            }
            SyncFrame::Hello { couple, confirmed } => {
                if couple != self.their_hello {
                    return Err((End::Violation, DIFFERENT_PAIRING.to_owned()));
                }
                if confirmed != self.they_confirmed {
                    self.they_confirmed = confirmed;
                    out.push(Out::Report(SessionReport::PartnerConfirmed(confirmed)));
                    self.dirty = true;
                }
            }
            SyncFrame::Sync(message) => {
                if !self.both_confirmed() {
                    // Not both confirmed: dropped unapplied, and never written.
                    tracing::debug!("a sync message arrived before both confirmed the words; dropped");
                    out.extend(self.poll(now, wall, store)?);
                    return Ok(out);
                }
                // A copy of the partner's phone from before they moved gets nothing, and
                // is told why; the phone they moved to syncs on.
                if store.is_pre_move_copy(self.partner.person, &message.heads) {
                    return Err((End::Violation, crate::store::RuleBreak::MovedAway.to_string()));
                }
                let show = self.show.as_deref().map(|show| show as &dyn Fn(Arrived));
                let Received { changes, .. } = store
                    .receive_sync_message_showing(&mut self.state, message, &self.rules, show)
                    .map_err(|e| match e {
                        StoreError::Refused(crate::store::RuleBreak::MovedAway) => {
                            (End::Violation, crate::store::RuleBreak::MovedAway.to_string())
                        }
                        StoreError::Refused(broken) => (End::Stopped, stopped_reason(&broken)),
                        e @ StoreError::OverQuota { .. } => (End::Stopped, format!("{e}. Sync is stopped.")),
                        e @ StoreError::PairingChanged => closed(e),
                        e => (End::Violation, format!("a sync message from the partner was refused: {e}")),
                    })?;
                self.received += changes;
                self.dirty = true;
            }
        }
        out.extend(self.poll(now, wall, store)?);
        Ok(out)
    }

    /// Whether the session has more to do right away: its runner calls
    /// [`SyncSession::poll`] again after handing on what the last call said.
    pub fn more_to_say(&self) -> bool {
        self.save_due
    }

    /// Who takes the entries each message changed, the moment it is applied: the window.
    /// With nobody (the command line), nothing is laid over or handed on.
    pub fn show_arrivals(&mut self, show: Option<Show>) {
        self.show = show;
    }

    /// This phone's journal changed.
    pub fn on_local_change(&mut self) {
        self.dirty = true;
    }

    /// When the session next has something to do on its own: a ping, the partner's
    /// silence to judge, or a share whose undo ends.
    pub fn next_wake(&self, now: Instant, wall: DateTime<Utc>) -> Instant {
        let due = match self.owed_since {
            Some(since) => since + ANSWER_LIMIT + Duration::from_millis(1),
            None => self.last_heard + PING_EVERY,
        };
        let ready = self.next_ready.map(|at| now + (at - wall).to_std().unwrap_or_default());
        ready.map_or(due, |r| r.min(due))
    }

    /// Time passed: the partner may have gone quiet, another process on this phone may
    /// have written (a share, a confirmation, the end of the pairing), or a share's undo
    /// may have ended. What to say now.
    pub fn on_tick(&mut self, now: Instant, wall: DateTime<Utc>, store: &mut Store) -> Result<Vec<Out>, Ended> {
        if self.owed_since.is_some_and(|since| now.saturating_duration_since(since) > ANSWER_LIMIT) {
            return Err((End::Quiet, "the partner's phone went quiet".to_owned()));
        }
        let version = store.data_version().map_err(closed)?;
        if self.seen_version != Some(version) {
            self.seen_version = Some(version);
            self.dirty = true;
            // Something was written on this phone, most often an entry: the pairing is
            // read again only if its own settings were.
            let stamp = peers::partner_stamp(store).map_err(closed)?;
            if stamp != self.partner_stamp {
                self.partner_stamp = stamp;
                match peers::partner(store).map_err(closed)? {
                    Some(now) if now.couple == self.partner.couple => {
                        if now.confirmed != self.partner.confirmed {
                            self.hello_due = true;
                        }
                        self.rules = now.rules().map_err(closed)?;
                        self.partner = now;
                    }
                    _ => return Err(closed("the pairing ended on this phone")),
                }
            }
        }
        if self.next_ready.is_some_and(|at| at <= wall) {
            self.next_ready = None;
            self.dirty = true;
        }
        self.poll(now, wall, store)
    }

    /// The heads both phones now hold, if they agree and that was not said yet.
    fn newly_synced(&self, store: &Store) -> Option<Vec<ChangeHash>> {
        let mut ours = store.heads();
        ours.sort();
        let mut theirs = self.state.their_heads.clone()?;
        theirs.sort();
        (theirs == ours && self.reported.as_ref() != Some(&ours)).then_some(ours)
    }
}

/// The plain words for a sync stopped because the partner's phone broke the rules, like
/// "Your partner's phone sent changes to entries that are yours. Sync is stopped."
pub fn stopped_reason(broken: &crate::store::RuleBreak) -> String {
    format!("{} Sync is stopped.", crate::model::text::sentence(&broken.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::pairing::{CoupleNetwork, Role};

    /// Each side's hello token is its own: the partner's can't be echoed back as this
    /// side's, and the days' secret (which makes identities) makes neither.
    #[test]
    fn each_side_says_hello_with_a_token_only_the_couple_secret_makes() {
        let network = CoupleNetwork::from_bytes([1; 32]);
        let couple = [9; 16];
        let inviter = hello_token(&network, Role::Inviter, &couple);
        let joiner = hello_token(&network, Role::Joiner, &couple);
        assert_ne!(inviter, joiner, "one side's token is not the other's");
        assert_eq!(inviter, hello_token(&network, Role::Inviter, &couple));
        assert_ne!(inviter, couple);
        assert_ne!(inviter, hello_token(&CoupleNetwork::from_bytes([2; 32]), Role::Inviter, &couple));
        assert_ne!(inviter, hello_token(&network, Role::Inviter, &[8; 16]));
        // What the courier holds, used as if it were the couple secret, makes neither.
        let daily = crate::net::daily::DailySecret::of(&network);
        let guessed = CoupleNetwork::from_bytes(*daily.as_bytes());
        assert_ne!(hello_token(&guessed, Role::Joiner, &couple), joiner);
    }
}
