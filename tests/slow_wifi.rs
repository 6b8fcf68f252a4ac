//! A first sync over a slow, lossy Wi-Fi: 1 Mbit/s, 80 ms each way, 2% of packets lost.
//!
//! This machine's kernel has no `netem` (`tc qdisc add … netem` answers "Specified qdisc
//! kind is unknown"), so the slow Wi-Fi is a relay on loopback that the joining phone
//! dials: it lets bytes through at 1 Mbit/s in 1,460-byte segments, each arriving 80 ms
//! after it left, and holds 2% of the segments back a further 250 ms, which is what a lost
//! packet costs a TCP stream (the retransmission), with every later segment waiting behind
//! it as TCP delivers in order. Discovery is off; nothing leaves loopback.

#[path = "../benches/fixture.rs"]
mod fixture;

use std::time::{Duration, Instant};

use libp2p::Multiaddr;
use steady::model::Draft;
use steady::net::{LinkState, NetConfig, NetEvent, Node, WireTap, peers};
use steady::store::Store;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// As many as the benches' journal: agreements of forty words each, every one different.
const ENTRIES: usize = fixture::ENTRIES;
const SEGMENT: usize = 1460;
const BITS_PER_SECOND: f64 = 1_000_000.0;
const DELAY: Duration = Duration::from_millis(80);
const LOSS: u64 = 2; // in a hundred
const RETRANSMIT: Duration = Duration::from_millis(250);

/// Lets bytes from `from` through to `to` as the slow Wi-Fi would.
async fn pump(mut from: tokio::net::tcp::OwnedReadHalf, mut to: tokio::net::tcp::OwnedWriteHalf, seed: u64) {
    // What is in flight: at most about a TCP window, so a fast sender waits.
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(48);
    let writer = tokio::spawn(async move {
        while let Some((arrives, bytes)) = rx.recv().await {
            tokio::time::sleep_until(arrives.into()).await;
            if to.write_all(&bytes).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    });
    let mut x = seed | 1;
    let mut line_free = Instant::now();
    let mut last_arrival = Instant::now();
    let mut buf = vec![0u8; SEGMENT];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        // The segment leaves when the line is free, and takes its time on it.
        let on_line = Duration::from_secs_f64(n as f64 * 8.0 / BITS_PER_SECOND);
        line_free = line_free.max(Instant::now()) + on_line;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let lost = x % 100 < LOSS;
        let arrives = (line_free + DELAY + if lost { RETRANSMIT } else { Duration::ZERO }).max(last_arrival);
        last_arrival = arrives;
        if tx.send((arrives, buf[..n].to_vec())).await.is_err() {
            break;
        }
    }
    drop(tx);
    let _ = writer.await;
}

/// A relay to `target` on loopback; its address.
async fn slow_wifi(target: std::net::SocketAddr) -> Multiaddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        while let Ok((inbound, _)) = listener.accept().await {
            let Ok(outbound) = TcpStream::connect(target).await else { continue };
            let _ = (inbound.set_nodelay(true), outbound.set_nodelay(true));
            let (in_read, in_write) = inbound.into_split();
            let (out_read, out_write) = outbound.into_split();
            seed = seed.wrapping_add(1);
            tokio::spawn(pump(in_read, out_write, seed));
            tokio::spawn(pump(out_read, in_write, seed.wrapping_mul(31)));
        }
    });
    format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap()
}

fn config(tap: Option<WireTap>, dial: Vec<Multiaddr>) -> NetConfig {
    NetConfig {
        discovery: false,
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
        dial,
        tap,
        ..NetConfig::default()
    }
}

async fn listening(node: &Node) -> Multiaddr {
    let mut status = node.status();
    let found = tokio::time::timeout(Duration::from_secs(5), status.wait_for(|s| !s.listening.is_empty()));
    found.await.unwrap().unwrap().listening[0].parse().unwrap()
}

fn socket(address: &Multiaddr) -> std::net::SocketAddr {
    let text = steady::net::addresses::host_port(address);
    text.parse().unwrap()
}

/// A journal in memory-backed storage, so writing ten thousand entries is quick.
fn scratch() -> tempfile::TempDir {
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir() { tempfile::tempdir_in(shm).unwrap() } else { tempfile::tempdir().unwrap() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_sync_of_ten_thousand_entries_crosses_a_slow_lossy_wifi() {
    let (da, db) = (scratch(), scratch());
    {
        let mut store = Store::open_dir_without_passcode(da.path()).unwrap();
        store.init("Alex").unwrap();
        for i in 0..ENTRIES {
            let id = store.add(Draft::Agreement { text: fixture::words_of(i, 40) }).unwrap().id;
            store.share(id).unwrap();
        }
    }
    Store::open_dir_without_passcode(db.path()).unwrap().init("Blair").unwrap();

    // Pair nearby, on loopback, without checking the words yet: nothing syncs.
    let tap = WireTap::default();
    let a = Node::start(Store::open_dir_without_passcode(da.path()).unwrap(), config(Some(tap.clone()), vec![]))
        .await
        .unwrap();
    let b = Node::start(Store::open_dir_without_passcode(db.path()).unwrap(), config(None, vec![])).await.unwrap();
    listening(&a).await;
    let link = a.invite().await.unwrap();
    b.join(link).await.unwrap();
    let started = Instant::now();
    while peers::partner(&Store::open_dir_without_passcode(da.path()).unwrap()).unwrap().is_none() {
        assert!(started.elapsed() < Duration::from_secs(5), "the inviter saves the pairing");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    b.shutdown().await;
    drop(b);

    // Both check the words; B comes back over the slow Wi-Fi.
    for dir in [da.path(), db.path()] {
        peers::confirm(&mut Store::open_dir_without_passcode(dir).unwrap()).unwrap();
    }
    let relay = slow_wifi(socket(&listening(&a).await)).await;
    let sent_before = tap.sent();
    let started = Instant::now();
    let b = Node::start(Store::open_dir_without_passcode(db.path()).unwrap(), config(None, vec![relay])).await.unwrap();
    let mut events = b.subscribe();
    let mut disconnects = Vec::new();
    let mut seen = Vec::new();
    let limit = Duration::from_secs(180);
    loop {
        let event = tokio::time::timeout(limit.saturating_sub(started.elapsed()), events.recv()).await;
        let event = event.expect("the first sync finishes in three minutes").unwrap();
        seen.push(format!("{:.2} s {event:?}", started.elapsed().as_secs_f64()));
        match event {
            NetEvent::Synced { received, .. } if received > 0 => break,
            NetEvent::Disconnected { reason, .. } => disconnects.push(reason),
            NetEvent::Refused { reason, .. } => panic!("refused: {reason}"),
            _ => {}
        }
    }
    let took = started.elapsed();
    let shared = Store::open_dir_without_passcode(db.path()).unwrap().entries().unwrap();
    assert_eq!(shared.iter().filter(|e| e.shared).count(), ENTRIES);
    let sent = tap.sent() - sent_before;
    println!(
        "first sync of {ENTRIES} entries at 1 Mbit/s, 80 ms, 2% loss: {:.1} s, {sent} bytes from A ({} pieces' worth)",
        took.as_secs_f64(),
        sent.div_ceil(steady::net::frame::PIECE)
    );
    assert!(sent > 2 * steady::net::frame::PIECE, "the first sync is long enough to go in pieces: {sent} bytes");
    assert!(
        disconnects.is_empty(),
        "no timeout loop: the connection held throughout; it closed: {disconnects:?}\n{seen:#?}"
    );
    let badge = b.status().borrow().link;
    assert_eq!(badge, LinkState::Synced);
}
