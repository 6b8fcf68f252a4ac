//! Short request-and-answer conversations on one libp2p stream, for the home relay and
//! a move to a new phone: frames (a length, then bytes, under a ceiling), JSON in frames,
//! and a short-lived connection to one known peer.
//!
//! Depends on `net::node::swarm`.

use std::time::Duration;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, StreamExt};
use libp2p::identity::Keypair;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Stream, StreamProtocol, Swarm};
use serde::{Deserialize, Serialize};

use super::error::NetError;
use super::link::Door;
use super::node::swarm::{self, Behaviour};
use super::{NetConfig, addresses};

/// Writes one frame: its length (4 bytes, big-endian), then `bytes`.
pub(crate) async fn write_frame<W: AsyncWrite + Unpin>(stream: &mut W, bytes: &[u8]) -> std::io::Result<()> {
    stream.write_all(&(bytes.len() as u32).to_be_bytes()).await?;
    stream.write_all(bytes).await?;
    stream.flush().await
}

/// Reads one frame of at most `most` bytes; a longer one is refused before it is read.
pub(crate) async fn read_frame<R: AsyncRead + Unpin>(stream: &mut R, most: usize) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > most {
        return Err(std::io::Error::other(format!("a frame of {len} bytes is more than {most}")));
    }
    let mut bytes = vec![0u8; len];
    stream.read_exact(&mut bytes).await?;
    Ok(bytes)
}

/// Writes `value` as JSON, in one frame.
pub(crate) async fn send_json<W: AsyncWrite + Unpin, T: Serialize>(stream: &mut W, value: &T) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(value).map_err(std::io::Error::other)?;
    write_frame(stream, &bytes).await
}

/// Reads one frame of at most `most` bytes as JSON.
pub(crate) async fn read_json<R: AsyncRead + Unpin, T: for<'de> Deserialize<'de>>(
    stream: &mut R,
    most: usize,
) -> std::io::Result<T> {
    let bytes = read_frame(stream, most).await?;
    serde_json::from_slice(&bytes).map_err(|e| std::io::Error::other(format!("not a request: {e}")))
}

/// A short-lived connection to `peer` at `at`, as `key`, and a stream of `protocol` on
/// it, within `within`. `what` names the peer in errors ("the relay"). The swarm must
/// be driven while the stream is used.
pub(crate) async fn connect(
    key: Keypair,
    peer: PeerId,
    at: &[Multiaddr],
    protocol: StreamProtocol,
    within: Duration,
    what: &str,
) -> Result<(Swarm<Behaviour>, Stream), NetError> {
    let config = NetConfig { discovery: false, ..NetConfig::default() };
    let mut swarm = swarm::build(key, &config, &Door::Only(Some(peer)), Some(peer), None)?;
    let mut control = swarm.behaviour().stream.new_control();
    let opts = libp2p::swarm::dial_opts::DialOpts::peer_id(peer).addresses(at.to_vec()).build();
    swarm.dial(opts).map_err(|e| NetError::Start(format!("can't reach {what}: {e}")))?;
    let opened = async {
        loop {
            tokio::select! {
                event = swarm.select_next_some() => if let SwarmEvent::OutgoingConnectionError { error, .. } = event {
                    return Err(NetError::Start(format!("can't reach {what}: {}", swarm::dial_error(&error))));
                },
                stream = control.open_stream(peer, protocol.clone()) => {
                    return stream.map_err(|e| NetError::Start(format!("{what} did not answer: {e}")));
                }
            }
        }
    };
    let stream = tokio::time::timeout(within, opened)
        .await
        .map_err(|_| NetError::Start(format!("{what} did not answer in time")))??;
    Ok((swarm, stream))
}

/// A code a person carries from one screen to another: `KIND:` the peer's id, a
/// one-time secret (32 hex digits) and where the peer listens.
pub(crate) fn code(kind: &str, peer: PeerId, secret: &str, listening: &[Multiaddr]) -> String {
    let hosts: Vec<String> = listening.iter().map(addresses::host_port).collect();
    format!("{kind}:{}:{secret}:{}", peer.to_base58(), hosts.join(","))
}

/// A code of `kind` read: the peer's id, the secret, its addresses. `what` names it in
/// the error ("a relay's code").
pub(crate) fn parse_code(kind: &str, what: &str, code: &str) -> Result<(PeerId, String, Vec<Multiaddr>), NetError> {
    let bad = || NetError::Start(format!("that is not {what}: it starts with {kind}:"));
    let rest = code.trim().strip_prefix(kind).and_then(|r| r.strip_prefix(':')).ok_or_else(bad)?;
    let mut parts = rest.splitn(3, ':');
    let peer = parts.next().and_then(|p| p.parse::<PeerId>().ok()).ok_or_else(bad)?;
    let secret = parts.next().filter(|s| s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())).ok_or_else(bad)?;
    let hosts = parts.next().unwrap_or_default();
    let addrs = hosts
        .split(',')
        .filter(|h| !h.is_empty())
        .map(|h| addresses::parse_host_port(h).map_err(|e| NetError::Start(format!("the code's address {h}: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((peer, secret.to_owned(), addrs))
}
