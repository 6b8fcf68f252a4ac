//! What can go wrong on the network, in words a person can act on: [`NetError`] for what
//! the person asked for, and [`DialError`] for why a phone could not be reached.

use std::sync::Arc;

use libp2p::PeerId;

use super::pairing::PairFailure;
use super::peers;

#[derive(Debug, Clone, thiserror::Error)]
pub enum NetError {
    /// The journal could not be read or written; the store's error is kept as the source.
    #[error("{0}")]
    Store(#[source] Arc<crate::store::StoreError>),
    #[error("this phone's saved network settings can't be read ({0}); unpair and pair again")]
    Damaged(&'static str),
    #[error("the network could not start: {0}")]
    Start(String),
    #[error("set up this phone first (your name), then pair")]
    NotSetUp,
    #[error("this phone is already paired with {0}; unpair first to pair with someone else")]
    AlreadyPaired(String),
    #[error("this phone isn't paired with anyone yet")]
    NotPaired,
    #[error(transparent)]
    Pairing(#[from] PairFailure),
    #[error("can't reach partner at {address}: {reason}")]
    Unreachable { address: String, reason: String },
    #[error("the network has stopped")]
    Stopped,
    #[error("the pairing was cancelled on this phone")]
    Cancelled,
    #[error("another pairing is already under way on this phone")]
    PairingUnderWay,
    /// A move to a new phone that did not happen, in words that say what was kept.
    #[error("{0}")]
    Move(String),
}

/// Why a phone at an address could not be reached, in words a person can act on. The
/// words are what `sync --json` and the screens say after "can't reach partner at …".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialError {
    /// Steady dials only phones nearby.
    #[error("it is not on your local network")]
    NotLocal,
    /// The address answered, and nothing listens there.
    #[error("nothing is listening there; is Steady open on your partner's phone?")]
    NothingListening,
    #[error("that address can't be reached from this network")]
    NoRoute,
    #[error("no answer; check that both phones are on the same Wi-Fi")]
    TimedOut,
    /// The phone that answered is not the partner's, and no pairing is open.
    #[error("that phone isn't your partner's")]
    NotPartner,
    /// A phone answered, and not the one expected there.
    #[error("a different phone answers at that address")]
    WrongPhone,
    /// Anything else, in the network's own words.
    #[error("{0}")]
    Other(String),
}

impl From<peers::PeersError> for NetError {
    fn from(e: peers::PeersError) -> Self {
        match e {
            peers::PeersError::Store(e) => e.into(),
            peers::PeersError::Damaged(what) => NetError::Damaged(what),
        }
    }
}

impl From<crate::store::StoreError> for NetError {
    fn from(e: crate::store::StoreError) -> Self {
        NetError::Store(Arc::new(e))
    }
}

/// A finished pairing, not yet confirmed: nothing syncs until the person on each phone
/// has checked that both show the same words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paired {
    pub partner: PeerId,
    pub name: String,
    pub safety_words: [&'static str; 4],
    /// The couple id both phones derived (hex).
    pub couple: String,
}
