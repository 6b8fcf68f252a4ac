//! What can go wrong on the network, in words a person can act on.

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
