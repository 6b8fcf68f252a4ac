//! Who this phone is on the network, day by day.
//!
//! What anyone on the Wi-Fi sees of a Steady phone is its mDNS announcement: a peer id
//! and the addresses, with their port, that it listens on. A phone that announced the
//! same ones every day could be recognized from one day to the next by a stranger in a
//! café, and an earlier partner could see when it is home. So:
//!
//! - Paired, a phone's identity (an Ed25519 key, whose peer id is what it announces) and
//!   its port are derived from the secret the two phones agreed at pairing
//!   ([`CoupleNetwork`]), the side of the pairing it took, and the date (UTC). Only the
//!   partner's phone, which holds the same secret, can tell which announcement is this
//!   phone's, and let it in at the door before a stream opens; the Noise handshake then
//!   proves that the phone holds that day's key. Nothing a stranger sees on one day
//!   (peer id, port, mDNS name, which libp2p makes at random) is seen on another.
//! - Not paired, the identity is made at random at every start and every new day, and
//!   it is the one an invitation (or a join) uses for as long as it is open.
//!
//! The days come from [`Days`]: the calendar, or days a test gives. Depends on
//! `net::peers` (the partner and the kept identity), `net::pairing` (the secret, the
//! roles) and `store`.

use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};
use hkdf::Hkdf;
use libp2p::PeerId;
use libp2p::identity::Keypair;
use sha2::Sha256;
use tokio::sync::watch;
use zeroize::Zeroizing;

use super::pairing::{CoupleNetwork, Role};
use super::peers::{self, PeersError, Settings};
use crate::store::Store;

/// The first of the ports a paired phone may listen on: the dynamic range, which no
/// service registers.
const FIRST_PORT: u16 = 49152;
const PORTS: u16 = 16384;

/// Where the node learns the date.
#[derive(Clone, Debug, Default)]
pub enum Days {
    /// The date now, in UTC, so two phones in different time zones agree.
    #[default]
    Calendar,
    /// Whatever date the sender says: for tests that live through two days in seconds.
    Given(watch::Receiver<NaiveDate>),
}

impl Days {
    pub fn today(&self) -> NaiveDate {
        match self {
            Days::Calendar => Utc::now().date_naive(),
            Days::Given(day) => *day.borrow(),
        }
    }

    /// Waits until the date is no longer `day`. On the calendar that is a timer to UTC
    /// midnight; a phone that slept through midnight notices at its next wake anyway,
    /// as the driver looks at the date after everything it handles.
    pub async fn after(&mut self, day: NaiveDate) {
        match self {
            Days::Calendar => loop {
                let now = Utc::now();
                if now.date_naive() != day {
                    return;
                }
                let midnight = day.succ_opt().and_then(|d| d.and_hms_opt(0, 0, 0)).map(|t| t.and_utc());
                let Some(midnight) = midnight else { return std::future::pending().await };
                let left = (midnight - now).to_std().unwrap_or_default();
                tokio::time::sleep(left + Duration::from_millis(50)).await;
            },
            Days::Given(given) => loop {
                if *given.borrow_and_update() != day {
                    return;
                }
                if given.changed().await.is_err() {
                    return std::future::pending().await;
                }
            },
        }
    }
}

/// How long after a pairing is saved the phone takes the day's identity: the pairing's
/// last message, written just before, has long arrived by then (a local network takes
/// milliseconds), and the two people are still reading their words to each other.
pub const AFTER_PAIRING: Duration = Duration::from_secs(1);

/// Why a running node takes a new identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NewIdentity {
    /// The invitation's identity is left for the day's, which only the partner knows.
    Paired,
    /// The earlier partner's phone knew the one before.
    PairingEnded,
    NewDay,
}

impl NewIdentity {
    pub fn words(self) -> &'static str {
        match self {
            NewIdentity::Paired => "paired",
            NewIdentity::PairingEnded => "the pairing ended",
            NewIdentity::NewDay => "a new day",
        }
    }
}

/// When a running node takes a new identity: a moment after a pairing is made, as soon
/// as one ends, and when the day turns. Sans-IO: the driver says what happened and asks.
#[derive(Debug)]
pub struct Turns {
    day: NaiveDate,
    paired: bool,
    after_pairing: Option<Instant>,
}

impl Turns {
    /// The node took its identity on `day`, with a partner or not.
    pub fn new(day: NaiveDate, paired: bool) -> Turns {
        Turns { day, paired, after_pairing: None }
    }

    pub fn day(&self) -> NaiveDate {
        self.day
    }

    /// A pairing was saved at `now`.
    pub fn paired_at(&mut self, now: Instant) {
        self.after_pairing = Some(now + AFTER_PAIRING);
    }

    /// When to ask again, if a turn waits on the time.
    pub fn wake(&self) -> Option<Instant> {
        self.after_pairing
    }

    /// Whether to take a new identity now, and why. `paired`: the link has a partner
    /// now. `keep`: the identity must stay through a new day (a partner paired before
    /// phones had a couple secret knows only this one; an open invite or join names it).
    pub fn due(&mut self, now: Instant, today: NaiveDate, paired: bool, keep: bool) -> Option<NewIdentity> {
        if std::mem::replace(&mut self.paired, paired) && !paired {
            return Some(NewIdentity::PairingEnded);
        }
        if self.after_pairing.is_some_and(|at| now >= at) {
            // Asked once: a turn that fails is not tried again and again.
            self.after_pairing = None;
            return Some(NewIdentity::Paired);
        }
        if today == self.day {
            return None;
        }
        // Kept or not, this day is seen: it is not asked about again.
        self.day = today;
        (!keep).then_some(NewIdentity::NewDay)
    }

    /// A new identity was taken on `day`.
    pub fn taken(&mut self, day: NaiveDate, paired: bool) {
        *self = Turns::new(day, paired);
    }
}

/// The identity a node takes, and what it says about the day.
pub struct Identity {
    pub key: Keypair,
    /// Paired with a couple secret: the day it belongs to, and both phones' ports on it.
    pub day: Option<Today>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Today {
    pub day: NaiveDate,
    pub port: u16,
    pub partner_port: u16,
    /// The partner's courier on that day (`net::courier`): let in for letters alone,
    /// never seen by the link, so nothing shows whether the partner's phone is near.
    pub partner_courier: PeerId,
    pub partner_courier_port: u16,
}

impl Identity {
    pub fn peer(&self) -> PeerId {
        self.key.public().to_peer_id()
    }
}

/// The identity for `day`, with the settings as the link must see them beside it. Paired
/// with a couple secret, both phones' identities for the day are derived from it. Paired
/// before phones had one, the identity the partner knows is kept. Not paired, a new one
/// is made ([`peers::identity_for_start`]).
pub fn identity_on(store: &mut Store, day: NaiveDate) -> Result<(Identity, Settings), PeersError> {
    let mut settings = peers::settings(store)?;
    if let Some(today) = derive_on(&mut settings, day)? {
        let partner = settings.partner.as_ref().ok_or(PeersError::Damaged("the partner"))?;
        let (network, role) = secret_of(partner).ok_or(PeersError::Damaged("the partner"))?;
        return Ok((Identity { key: key(network, role, day)?, day: Some(today) }, settings));
    }
    Ok((Identity { key: peers::identity_for_start(store)?, day: None }, settings))
}

/// The settings as a link on an identity must see them: on a day's identity (`today`),
/// the partner is the partner's identity on the same day.
pub fn settings_for(store: &Store, today: Option<Today>) -> Result<Settings, PeersError> {
    let mut settings = peers::settings(store)?;
    if let Some(today) = today {
        derive_on(&mut settings, today.day)?;
    }
    Ok(settings)
}

/// This phone's peer id and the partner's on `day`, as a phone that is not running its
/// node tells them: the day's, when the pairing has a couple secret; otherwise the ones
/// kept.
pub fn peers_on(store: &Store, day: NaiveDate) -> Result<(Option<PeerId>, Option<PeerId>), PeersError> {
    let mut settings = peers::settings(store)?;
    if derive_on(&mut settings, day)?.is_some()
        && let Some(partner) = &settings.partner
        && let Some((network, role)) = secret_of(partner)
    {
        return Ok((Some(key(network, role, day)?.public().to_peer_id()), Some(partner.peer)));
    }
    Ok((peers::peer_id(store)?, settings.partner.map(|p| p.peer)))
}

/// Puts the partner's identity on `day` in place of the one they paired with, when the
/// pairing has a couple secret; says both phones' ports on that day.
fn derive_on(settings: &mut Settings, day: NaiveDate) -> Result<Option<Today>, PeersError> {
    let Some(partner) = settings.partner.as_mut() else { return Ok(None) };
    let Some((network, role)) = secret_of(partner) else { return Ok(None) };
    let secret = DailySecret::of(network);
    let today = Today {
        day,
        port: secret.port(role, day),
        partner_port: secret.port(role.other(), day),
        partner_courier: secret.courier_key(role.other(), day)?.public().to_peer_id(),
        partner_courier_port: secret.courier_port(role.other(), day),
    };
    partner.peer = key(network, role.other(), day)?.public().to_peer_id();
    Ok(Some(today))
}

fn secret_of(partner: &peers::Partner) -> Option<(&CoupleNetwork, Role)> {
    Some((partner.network.as_ref()?, partner.role?))
}

/// The identity of the phone that took `role` in the pairing, on `day`.
pub fn key(network: &CoupleNetwork, role: Role, day: NaiveDate) -> Result<Keypair, PeersError> {
    DailySecret::of(network).key(role, day)
}

/// The port the phone that took `role` listens on, on `day`, when it is free.
pub fn port(network: &CoupleNetwork, role: Role, day: NaiveDate) -> u16 {
    DailySecret::of(network).port(role, day)
}

/// The part of the couple secret that the days' identities and ports are made from
/// (HKDF's extract step, under its own salt), and nothing else: the courier holds it to
/// be this phone on the network while the journal is locked, and can derive from it
/// neither the couple secret nor the keys of the letters (`net::letters`, another salt).
#[derive(Clone)]
pub struct DailySecret(Zeroizing<[u8; 32]>);

impl DailySecret {
    pub fn of(network: &CoupleNetwork) -> DailySecret {
        let (prk, _) = Hkdf::<Sha256>::extract(Some(b"steady daily v1"), network.as_bytes());
        let mut bytes = Zeroizing::new([0u8; 32]);
        bytes.copy_from_slice(&prk);
        DailySecret(bytes)
    }

    pub fn from_bytes(bytes: [u8; 32]) -> DailySecret {
        DailySecret(Zeroizing::new(bytes))
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The identity of the phone that took `role` in the pairing, on `day`.
    pub fn key(&self, role: Role, day: NaiveDate) -> Result<Keypair, PeersError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        self.derive(b"identity", role, day, &mut seed[..]);
        Keypair::ed25519_from_bytes(&mut seed[..]).map_err(|_| PeersError::Damaged("the day's identity"))
    }

    /// The port the phone that took `role` listens on, on `day`, when it is free.
    pub fn port(&self, role: Role, day: NaiveDate) -> u16 {
        let mut bytes = [0u8; 2];
        self.derive(b"port", role, day, &mut bytes);
        FIRST_PORT + u16::from_be_bytes(bytes) % PORTS
    }

    /// The identity of that phone's courier on `day`: another than the app's, so that
    /// the partner's node tells the two apart before anything is said.
    pub fn courier_key(&self, role: Role, day: NaiveDate) -> Result<Keypair, PeersError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        self.derive(b"courier identity", role, day, &mut seed[..]);
        Keypair::ed25519_from_bytes(&mut seed[..]).map_err(|_| PeersError::Damaged("the day's identity"))
    }

    /// The port that phone's courier listens on, on `day`, when it is free.
    pub fn courier_port(&self, role: Role, day: NaiveDate) -> u16 {
        let mut bytes = [0u8; 2];
        self.derive(b"courier port", role, day, &mut bytes);
        FIRST_PORT + u16::from_be_bytes(bytes) % PORTS
    }

    fn derive(&self, what: &[u8], role: Role, day: NaiveDate, out: &mut [u8]) {
        let side: &[u8] = match role {
            Role::Inviter => b"inviter",
            Role::Joiner => b"joiner",
        };
        let date = day.format("%Y-%m-%d").to_string();
        // A 32-byte pseudorandom key is what HKDF's extract makes, so this can't fail.
        let Ok(hk) = Hkdf::<Sha256>::from_prk(&self.0[..]) else { return };
        // At most 32 bytes, far below HKDF's limit, so this can't fail.
        let _ = hk.expand_multi_info(&[what, b"\0", side, b"\0", date.as_bytes()], out);
    }
}

impl std::fmt::Debug for DailySecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DailySecret(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    /// Both phones work out the same two identities for a day, each its own and the
    /// other's; a day later, or in another pairing, every one of them is different.
    #[test]
    fn each_day_and_each_pairing_gives_both_phones_new_identities_and_ports() {
        let network = CoupleNetwork::from_bytes([7; 32]);
        let other = CoupleNetwork::from_bytes([8; 32]);
        let (monday, tuesday) = (day("2026-12-07"), day("2026-12-08"));
        let peer = |n: &CoupleNetwork, r: Role, d: NaiveDate| key(n, r, d).unwrap().public().to_peer_id();

        assert_eq!(peer(&network, Role::Inviter, monday), peer(&network.clone(), Role::Inviter, monday));
        let seen: Vec<(PeerId, u16)> = [(&network, monday), (&network, tuesday), (&other, monday)]
            .into_iter()
            .flat_map(|(n, d)| [Role::Inviter, Role::Joiner].map(|r| (peer(n, r, d), port(n, r, d))))
            .collect();
        for (i, (peer_i, _)) in seen.iter().enumerate() {
            for (peer_j, _) in &seen[i + 1..] {
                assert_ne!(peer_i, peer_j);
            }
        }
        let ports: std::collections::BTreeSet<u16> = seen.iter().map(|(_, p)| *p).collect();
        assert!(ports.len() >= 5, "ports repeat more than chance would: {seen:?}");
        assert!(seen.iter().all(|(_, p)| *p >= FIRST_PORT));
    }

    /// A phone's courier is someone else on the network than its app, on every day and
    /// for both sides, so the partner's node tells them apart before anything is said.
    #[test]
    fn a_couriers_identity_and_port_are_not_its_apps() {
        let secret = DailySecret::of(&CoupleNetwork::from_bytes([7; 32]));
        for d in [day("2026-12-07"), day("2026-12-08")] {
            for role in [Role::Inviter, Role::Joiner] {
                let app = secret.key(role, d).unwrap().public().to_peer_id();
                let courier = secret.courier_key(role, d).unwrap().public().to_peer_id();
                assert_ne!(app, courier);
                assert_ne!(courier, secret.courier_key(role.other(), d).unwrap().public().to_peer_id());
                assert!(secret.courier_port(role, d) >= FIRST_PORT);
            }
        }
    }

    /// A running node turns to a new identity a moment after pairing, at once when the
    /// pairing ends, and on a new day unless its identity must stay; a day is turned on
    /// once.
    #[test]
    fn a_node_turns_after_pairing_when_the_pairing_ends_and_on_a_new_day() {
        let (monday, tuesday, wednesday) = (day("2026-12-07"), day("2026-12-08"), day("2026-12-09"));
        let start = Instant::now();
        let mut turns = Turns::new(monday, false);
        assert_eq!(turns.due(start, monday, false, false), None);
        turns.paired_at(start);
        assert_eq!(turns.wake(), Some(start + AFTER_PAIRING));
        assert_eq!(turns.due(start + AFTER_PAIRING / 2, monday, true, false), None, "too soon");
        assert_eq!(turns.due(start + AFTER_PAIRING, monday, true, false), Some(NewIdentity::Paired));
        assert_eq!(turns.wake(), None, "asked once");
        turns.taken(monday, true);
        assert_eq!(turns.wake(), None);
        assert_eq!(turns.due(start + AFTER_PAIRING, monday, true, false), None);

        assert_eq!(turns.due(start, tuesday, true, false), Some(NewIdentity::NewDay));
        turns.taken(tuesday, true);
        assert_eq!(turns.due(start, tuesday, true, false), None);
        assert_eq!(turns.due(start, wednesday, true, true), None, "kept through the day");
        assert_eq!(turns.due(start, wednesday, true, false), None, "and not asked about again that day");
        assert_eq!(turns.due(start, wednesday, false, false), Some(NewIdentity::PairingEnded));
    }

    /// The calendar's day is UTC's, and a given day moves when the test says.
    #[tokio::test(flavor = "current_thread")]
    async fn a_given_day_ends_when_the_test_moves_it() {
        assert_eq!(Days::Calendar.today(), Utc::now().date_naive());
        let (set, given) = watch::channel(day("2026-12-07"));
        let mut days = Days::Given(given);
        assert_eq!(days.today(), day("2026-12-07"));
        let waiting = tokio::time::timeout(std::time::Duration::from_millis(50), days.after(day("2026-12-07")));
        assert!(waiting.await.is_err(), "the day has not ended");
        set.send(day("2026-12-08")).unwrap();
        let ended = tokio::time::timeout(std::time::Duration::from_secs(1), days.after(day("2026-12-07")));
        assert!(ended.await.is_ok());
        assert_eq!(days.today(), day("2026-12-08"));
    }
}
