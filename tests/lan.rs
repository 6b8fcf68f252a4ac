//! Three phones on one Wi-Fi, played by three network namespaces on a bridge that this
//! test makes (as root, with `ip netns` and veth pairs) and removes. mDNS runs only inside
//! them. Everything goes through the command line, the way a person would use it.

mod common;

use common::netns::Lan;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use libp2p::PeerId;
use steady::model::Draft;
use steady::net::daily::Days;
use steady::net::{LinkState, NetConfig, NetStatus, Node, peers};
use steady::store::Store;
use tempfile::TempDir;

fn spawn(lan: &Lan, phone: &str, dir: &Path, args: &[&str]) -> Running {
    let mut child = Command::new("ip")
        .args(["netns", "exec", &lan.ns(phone), env!("CARGO_BIN_EXE_steady"), "--data-dir"])
        .arg(dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("steady starts in the namespace");
    let (tx, lines) = mpsc::channel();
    let stdout = child.stdout.take().expect("piped");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Running { child, lines, seen: Vec::new() }
}

struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    /// Waits for a line that starts with `prefix`.
    fn wait_for(&mut self, prefix: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.starts_with(prefix) {
                        return line;
                    }
                }
                Err(_) => panic!("no line starting {prefix:?} within {limit:?}; saw {:#?}", self.seen),
            }
        }
    }

    /// Asks the process to stop as Ctrl-C would, and returns everything it printed.
    fn stop(mut self) -> Vec<String> {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGINT);
        }
        let _ = self.child.wait();
        self.seen.extend(self.lines.try_iter());
        std::mem::take(&mut self.seen)
    }

    fn finish(mut self, limit: Duration) -> (bool, Vec<String>, String) {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("the process can be waited on") {
                std::thread::sleep(Duration::from_millis(50));
                self.seen.extend(self.lines.try_iter());
                let mut err = String::new();
                if let Some(mut e) = self.child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                return (status.success(), std::mem::take(&mut self.seen), err);
            }
            assert!(Instant::now() < deadline, "the process did not finish within {limit:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Pairs A (inviting, in namespace "a") and B (joining, in "b") on the Wi-Fi, mDNS on,
/// and both confirm the words.
fn pair_on_wifi(lan: &Lan, da: &Path, db: &Path) {
    let mut invite = spawn(lan, "a", da, &["pair", "invite"]);
    let code = invite.wait_for("code: ", Duration::from_secs(10)).trim_start_matches("code: ").to_owned();
    let (joined, _, err) = spawn(lan, "b", db, &["pair", "join", &code]).finish(Duration::from_secs(60));
    assert!(joined, "pair join failed: {err}");
    assert!(invite.finish(Duration::from_secs(10)).0);
    for dir in [da, db] {
        common::ok(dir, &["pair", "confirm"]);
    }
}

fn shared_texts(dir: &Path) -> BTreeSet<String> {
    common::list_json(dir)
        .into_iter()
        .filter(|e| e["shared"] == true)
        .map(|e| e["text"].as_str().or(e["feeling"].as_str()).unwrap_or_default().to_owned())
        .collect()
}

fn add_shared(dir: &Path, text: &str) {
    let id = common::ok(dir, &["add", "agreement", text]).trim().to_owned();
    common::ok(dir, &["share", &id]);
}

/// Polls until both phones hold the same shared entries and they include `expected`;
/// returns how long that took.
fn converge(a: &Path, b: &Path, expected: &BTreeSet<String>, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let (sa, sb) = (shared_texts(a), shared_texts(b));
        if sa == sb && expected.is_subset(&sa) {
            return start.elapsed();
        }
        assert!(start.elapsed() < limit, "no convergence within {limit:?}:\nA {sa:#?}\nB {sb:#?}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

#[test]
fn phones_on_one_wifi_pair_sync_survive_a_dropped_link_and_ignore_a_stranger() {
    let lan = Lan::new(&["a", "b", "c"]);
    let (da, db, dc) = (TempDir::new().unwrap(), TempDir::new().unwrap(), TempDir::new().unwrap());
    common::ok(da.path(), &["init", "--name", "Alex", "--no-passcode"]);
    common::ok(db.path(), &["init", "--name", "Blair", "--no-passcode"]);
    common::ok(dc.path(), &["init", "--name", "Stranger", "--no-passcode"]);
    add_shared(db.path(), "Shared by Blair before pairing");
    add_shared(dc.path(), "The stranger's entry");

    // 1. Pair through the command line, found by mDNS.
    let mut invite = spawn(&lan, "a", da.path(), &["pair", "invite"]);
    let code = invite.wait_for("code: ", Duration::from_secs(10)).trim_start_matches("code: ").to_owned();
    assert!(code.len() == 9 && code.as_bytes()[4] == b'-', "{code}");
    let join = spawn(&lan, "b", db.path(), &["pair", "join", &code]);
    let (joined, join_out, join_err) = join.finish(Duration::from_secs(60));
    assert!(joined, "pair join failed: {join_err}");
    let (invited, invite_out, invite_err) = invite.finish(Duration::from_secs(10));
    assert!(invited, "pair invite failed: {invite_err}");
    let words = |out: &[String]| out.iter().find(|l| l.starts_with("words: ")).cloned().unwrap();
    assert_eq!(words(&join_out), words(&invite_out), "both screens show the same safety words");
    assert_eq!(words(&join_out).split(' ').count(), 5, "words: and four words");
    assert!(join_out.contains(&"paired with Alex".to_owned()));
    // Both people compare the words and confirm; until then nothing would sync.
    for dir in [da.path(), db.path()] {
        let status: serde_json::Value = serde_json::from_str(&common::ok(dir, &["status", "--json"])).unwrap();
        assert_eq!(status["pairing"], "unconfirmed");
        common::ok(dir, &["pair", "confirm"]);
    }

    // 2 and 3. Sync runs on both, and a stranger's phone is on the same network.
    let mut sync_a = spawn(&lan, "a", da.path(), &["sync", "--json"]);
    // B starts once A answers on the network, so B's first mDNS query finds it (the next
    // query would come only after the query interval).
    sync_a.wait_for(r#"{"event":"listening","address":"10.47.0.1:"#, Duration::from_secs(10));
    let sync_b = spawn(&lan, "b", db.path(), &["sync", "--json"]);
    let stranger = spawn(&lan, "c", dc.path(), &["pair", "invite"]);
    sync_a.wait_for(r#"{"event":"synced""#, Duration::from_secs(15));
    add_shared(da.path(), "Shared by Alex");
    add_shared(db.path(), "Shared by Blair");
    let mut expected: BTreeSet<String> =
        ["Shared by Blair before pairing", "Shared by Alex", "Shared by Blair"].map(str::to_owned).into();
    converge(da.path(), db.path(), &expected, Duration::from_secs(10));

    // 4. B drops off the Wi-Fi; both write; B comes back.
    lan.link("b", false);
    add_shared(da.path(), "Written by Alex while apart");
    add_shared(db.path(), "Written by Blair while apart");
    std::thread::sleep(Duration::from_secs(6));
    lan.link("b", true);
    expected.extend(["Written by Alex while apart", "Written by Blair while apart"].map(str::to_owned));
    let took = converge(da.path(), db.path(), &expected, Duration::from_secs(3));
    println!("converged {took:?} after the link came back");

    // The stranger tries the front door directly, with a made-up code.
    let a_address = sync_a.seen.iter().find(|l| l.contains(r#""listening","address":"10.47.0.1:"#)).cloned();
    let a_address = a_address.unwrap_or_else(|| panic!("A never said where it listens: {:#?}", sync_a.seen));
    let port = a_address.split("10.47.0.1:").nth(1).unwrap().trim_end_matches(['"', '}']).to_owned();
    let knock = spawn(
        &lan,
        "c",
        dc.path(),
        &["pair", "join", "2345-6789", "--no-discovery", "--addr", &format!("10.47.0.1:{port}")],
    );
    let (knocked, _, knock_err) = knock.finish(Duration::from_secs(30));
    println!("the stranger was told: {knock_err}");
    assert!(!knocked, "the stranger paired");
    assert!(!knock_err.is_empty());

    // 5. Alex pauses from the command line while the sync runs: within a second the
    // running sync stops, and what Blair shares waits until Alex resumes.
    common::ok(da.path(), &["pause"]);
    std::thread::sleep(Duration::from_secs(1));
    add_shared(db.path(), "Shared by Blair while Alex paused");
    std::thread::sleep(Duration::from_secs(3));
    assert!(!shared_texts(da.path()).contains("Shared by Blair while Alex paused"), "nothing arrives while paused");
    common::ok(da.path(), &["resume"]);
    expected.insert("Shared by Blair while Alex paused".to_owned());
    let took = converge(da.path(), db.path(), &expected, Duration::from_secs(5));
    println!("caught up {took:?} after resuming");

    let out_a = sync_a.stop();
    let out_b = sync_b.stop();
    drop(stranger);
    let stranger_id: serde_json::Value = serde_json::from_str(&common::ok(dc.path(), &["status", "--json"])).unwrap();
    let stranger_id = stranger_id["peer_id"].as_str().unwrap().to_owned();
    for line in out_a.iter().chain(&out_b) {
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(event["event"].is_string(), "{line}");
        if event["event"] == "connected" || event["event"] == "synced" || event["event"] == "discovered" {
            assert_ne!(event["peer"], stranger_id.as_str(), "{line}");
        }
    }
    for event in ["discovered", "connected", "synced", "disconnected"] {
        let said = out_a.iter().chain(&out_b).any(|l| l.contains(&format!(r#""event":"{event}""#)));
        assert!(said, "no {event}:\nA {out_a:#?}\nB {out_b:#?}");
    }
    assert_eq!(shared_texts(dc.path()), BTreeSet::from(["The stranger's entry".to_owned()]));
    assert_eq!(shared_texts(da.path()), expected);
    assert_eq!(shared_texts(db.path()), expected);
    let status: serde_json::Value = serde_json::from_str(&common::ok(db.path(), &["status", "--json"])).unwrap();
    assert_eq!(status["partner"]["name"], "Alex");
    assert!(status["last_synced"].is_string());
    // `status` names the phones as they are on the network today: B's phone connected
    // to A's by the identity A's status gives, and B's status names it as the partner.
    let status_a: serde_json::Value = serde_json::from_str(&common::ok(da.path(), &["status", "--json"])).unwrap();
    let a_today = status_a["peer_id"].as_str().unwrap();
    assert_eq!(status["partner"]["peer_id"], a_today);
    let connected_to_a = out_b.iter().any(|l| l.contains(r#""event":"connected""#) && l.contains(a_today));
    assert!(connected_to_a, "B never connected to {a_today}: {out_b:#?}");
}

/// Resident memory of a process, in bytes, from `/proc`.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next());
    kib.and_then(|k| k.parse::<u64>().ok()).unwrap_or(0) * 1024
}

/// A stranger's phone that speaks libp2p, in its own namespace: `streams` times it
/// connects to `address` with a new identity (they cost nothing) and opens a pairing
/// stream that says junk, or (every tenth) nothing for three and a half seconds. Returns
/// how many streams opened, and how many connections were turned away.
fn junk_pairing_streams(
    lan: &Lan,
    phone: &str,
    address: &str,
    streams: usize,
) -> std::thread::JoinHandle<(usize, usize)> {
    use futures::{AsyncWriteExt, StreamExt};
    let ns = lan.ns(phone);
    let (host, port) = address.split_once(':').unwrap();
    let address: libp2p::Multiaddr = format!("/ip4/{host}/tcp/{port}").parse().unwrap();
    std::thread::spawn(move || {
        common::netns::enter(&ns);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let (mut opened, mut turned_away) = (0, 0);
            let mut tasks = Vec::new();
            let mut n = 0;
            while n < streams && turned_away < 10 * streams {
                let mut swarm = libp2p::SwarmBuilder::with_new_identity()
                    .with_tokio()
                    .with_tcp(Default::default(), libp2p::noise::Config::new, libp2p::yamux::Config::default)
                    .unwrap()
                    .with_behaviour(|_| libp2p_stream::Behaviour::new())
                    .unwrap()
                    .build();
                let mut control = swarm.behaviour().new_control();
                swarm.dial(address.clone()).unwrap();
                let established = tokio::time::timeout(Duration::from_secs(1), async {
                    loop {
                        match swarm.select_next_some().await {
                            libp2p::swarm::SwarmEvent::ConnectionEstablished { peer_id, .. } => return Some(peer_id),
                            libp2p::swarm::SwarmEvent::OutgoingConnectionError { .. } => return None,
                            _ => {}
                        }
                    }
                });
                let Ok(Some(peer)) = established.await else {
                    // Turned away at the door (too many from this address): try again.
                    turned_away += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                n += 1;
                let protocol = libp2p::StreamProtocol::new("/steady/pair/1");
                let opening = control.open_stream(peer, protocol);
                let driving = async { while swarm.next().await.is_some() {} };
                let mut stream = tokio::select! {
                    Ok(stream) = opening => stream,
                    _ = driving => continue,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                };
                opened += 1;
                if n % 10 == 9 {
                    // Silent: the stream and its connection are held, saying nothing.
                    tasks.push(tokio::spawn(async move {
                        let _ = tokio::time::timeout(Duration::from_millis(3500), async {
                            while swarm.next().await.is_some() {}
                        })
                        .await;
                        drop(stream);
                    }));
                } else {
                    let junk: Vec<u8> = (0..64u32).map(|i| (i * 37 + n as u32) as u8).collect();
                    // Junk, then wait for the answer (a refusal, or the stream closed).
                    let exchange = async {
                        let _ = stream.write_all(&[0, 0, 0, 64]).await;
                        let _ = stream.write_all(&junk).await;
                        let _ = stream.flush().await;
                        let mut answer = Vec::new();
                        let _ = futures::AsyncReadExt::read_to_end(&mut stream, &mut answer).await;
                    };
                    let _ = tokio::time::timeout(Duration::from_secs(1), async {
                        tokio::select! {
                            _ = exchange => {}
                            _ = async { while swarm.next().await.is_some() {} } => {}
                        }
                    })
                    .await;
                    // Hang up, and give the door a moment to count the connection gone.
                    drop(swarm);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            for task in tasks {
                task.abort();
            }
            (opened, turned_away)
        })
    })
}

#[test]
fn a_strangers_flood_neither_stops_the_partners_nor_cancels_an_invite() {
    let lan = Lan::new(&["a", "b", "c", "d", "e"]);
    let dirs: Vec<TempDir> = (0..5).map(|_| TempDir::new().unwrap()).collect();
    let (da, db, dd, de) = (dirs[0].path(), dirs[1].path(), dirs[3].path(), dirs[4].path());
    for (dir, name) in [(da, "Alex"), (db, "Blair"), (dd, "Dana"), (de, "Eli")] {
        common::ok(dir, &["init", "--name", name, "--no-passcode"]);
    }
    pair_on_wifi(&lan, da, db);
    let mut sync_a = spawn(&lan, "a", da, &["sync", "--json", "--listen", "10.47.0.1:4601"]);
    let sync_b = spawn(&lan, "b", db, &["sync", "--json"]);
    sync_a.wait_for(r#"{"event":"synced""#, Duration::from_secs(15));
    let rss_before = rss(sync_a.child.id());

    // 1. A stranger opens a thousand connections to Alex's phone, and keeps them.
    let ns = lan.ns("c");
    let flood_started = Instant::now();
    let flood = std::thread::spawn(move || {
        common::netns::enter(&ns);
        let target: std::net::SocketAddr = "10.47.0.1:4601".parse().unwrap();
        let mut held = Vec::new();
        let mut refused = 0;
        for _ in 0..1000 {
            match std::net::TcpStream::connect_timeout(&target, Duration::from_millis(500)) {
                Ok(mut s) => {
                    let _ = std::io::Write::write_all(&mut s, b"\x13/multistream/1.0.0\nnot really\n");
                    held.push(s);
                }
                Err(_) => refused += 1,
            }
        }
        std::thread::sleep(Duration::from_secs(3));
        // How many Alex's phone still holds open: a read that ends means it closed them.
        let mut open = 0;
        for s in &mut held {
            let _ = s.set_read_timeout(Some(Duration::from_millis(5)));
            let mut buf = [0u8; 256];
            open += usize::from(match std::io::Read::read(s, &mut buf) {
                Ok(0) => false,
                Ok(_) => true,
                Err(e) => matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut),
            });
        }
        (held.len(), refused, open)
    });
    // Meanwhile Blair shares; it reaches Alex as if nothing were happening.
    std::thread::sleep(Duration::from_millis(100));
    add_shared(db, "Shared by Blair during the flood");
    let mut peak = 0;
    loop {
        peak = peak.max(rss(sync_a.child.id()));
        if shared_texts(da).contains("Shared by Blair during the flood") {
            break;
        }
        assert!(flood_started.elapsed() < Duration::from_secs(10), "Blair's share never reached Alex");
        std::thread::sleep(Duration::from_millis(20));
    }
    let reached = flood_started.elapsed();
    let (connected, refused, still_open) = flood.join().unwrap();
    peak = peak.max(rss(sync_a.child.id()));
    println!(
        "flood: {connected} connections made, {refused} refused, {still_open} still open after 3 s; \
         Blair's share reached Alex {:.2} s after the flood began; Alex's RSS {:.1} MB before, {:.1} MB at peak",
        reached.as_secs_f64(),
        rss_before as f64 / 1e6,
        peak as f64 / 1e6
    );
    assert!(reached < Duration::from_secs(2), "took {reached:?}");
    assert!(peak < 150_000_000, "RSS {peak}");
    // Every attempt was answered one way or the other, and of the connections the
    // stranger holds, Alex's phone keeps no more open than its cap for one address.
    assert_eq!(connected + refused, 1000);
    let cap = steady::net::source_limit::MAX_PER_SOURCE as usize;
    assert!(still_open <= cap, "{still_open} of the stranger's connections still open; the cap is {cap}");
    assert!(connected > cap, "the flood got no further than the cap ({connected}): it tested nothing");

    // 2. Dana invites Eli; the stranger opens 200 junk and silent pairing streams to
    // Dana's phone, and then Eli types the right code: the invite is still open.
    let mut invite = spawn(&lan, "d", dd, &["pair", "invite", "--listen", "10.47.0.4:4602"]);
    let code = invite.wait_for("code: ", Duration::from_secs(10)).trim_start_matches("code: ").to_owned();
    let junk = junk_pairing_streams(&lan, "c", "10.47.0.4:4602", 200);
    let (opened, turned_away) = junk.join().unwrap();
    let started = Instant::now();
    // Eli types the code and Dana's address, as the invite's screen shows it: what is
    // measured is the invite, not how soon discovery finds it.
    let join = spawn(&lan, "e", de, &["pair", "join", &code, "--addr", "10.47.0.4:4602"]);
    let (joined, out, err) = join.finish(Duration::from_secs(90));
    let took = started.elapsed();
    println!(
        "invite: the stranger opened {opened} pairing streams (one in ten silent; {turned_away} connections \
         turned away); then Eli paired {:.1} s after typing the code",
        took.as_secs_f64()
    );
    assert!(opened >= 150, "the stranger's streams reached the invite: {opened}");
    if !joined {
        let invite_out = invite.stop();
        panic!("the right code was turned away: {err}\n{out:?}\nthe inviter said: {invite_out:?}");
    }
    assert!(out.contains(&"paired with Dana".to_owned()), "{out:?}");
    let (invited, invite_out, _) = invite.finish(Duration::from_secs(10));
    assert!(invited, "{invite_out:?}");
    drop(sync_b);
    drop(sync_a);
}

/// A phone's node, started on a thread inside its namespace, with mDNS on and its days
/// from the test.
fn node_in(lan: &Lan, phone: &str, dir: &Path, days: Days) -> Node {
    let (ns, dir) = (lan.ns(phone), dir.to_owned());
    std::thread::spawn(move || {
        common::netns::enter(&ns);
        let config = NetConfig { query_interval: Duration::from_secs(1), days, ..NetConfig::default() };
        Node::start_on_thread(Store::open_dir_without_passcode(&dir).unwrap(), config).unwrap()
    })
    .join()
    .unwrap()
}

/// An mDNS question for the phones that speak libp2p, as anyone on the Wi-Fi may ask it.
fn mdns_question() -> Vec<u8> {
    let mut question = vec![0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in ["_p2p", "_udp", "local"] {
        question.push(label.len() as u8);
        question.extend(label.as_bytes());
    }
    question.extend([0, 0, 12, 0, 1]);
    question
}

/// Everything a stranger's phone in `phone`'s namespace (at `ip`) hears on mDNS for
/// `listen`, asking every half second.
fn overhear(lan: &Lan, phone: &str, ip: &str, listen: Duration) -> Vec<Vec<u8>> {
    let (ns, ip) = (lan.ns(phone), ip.parse().unwrap());
    std::thread::spawn(move || {
        common::netns::enter(&ns);
        let socket = std::net::UdpSocket::bind("0.0.0.0:5353").unwrap();
        socket.join_multicast_v4(&"224.0.0.251".parse().unwrap(), &ip).unwrap();
        socket.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        let question = mdns_question();
        let (end, mut ask) = (Instant::now() + listen, Instant::now());
        let mut heard = Vec::new();
        let mut buffer = [0u8; 9000];
        while Instant::now() < end {
            if Instant::now() >= ask {
                socket.send_to(&question, "224.0.0.251:5353").unwrap();
                ask += Duration::from_millis(500);
            }
            if let Ok((n, _)) = socket.recv_from(&mut buffer)
                && buffer[..n] != question[..]
            {
                heard.push(buffer[..n].to_vec());
            }
        }
        heard
    })
    .join()
    .unwrap()
}

/// The `/tcp/PORT/p2p/PEER` part of every address the phones announced: what Steady
/// chooses of what a stranger hears (the host part is the Wi-Fi's).
fn announced(heard: &[Vec<u8>]) -> BTreeSet<String> {
    let text: String = heard.iter().map(|p| String::from_utf8_lossy(p).into_owned()).collect::<Vec<_>>().join("\n");
    text.match_indices("/tcp/")
        .map(|(at, _)| {
            let rest = &text[at..];
            let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '/')).unwrap_or(rest.len());
            rest[..end].to_owned()
        })
        .collect()
}

fn contains(heard: &[Vec<u8>], text: &str) -> bool {
    heard.iter().any(|p| p.windows(text.len()).any(|w| w == text.as_bytes()))
}

fn wait_status(runtime: &tokio::runtime::Runtime, node: &Node, what: &str, done: impl Fn(&NetStatus) -> bool) {
    let mut status = node.status();
    let found = runtime
        .block_on(async { tokio::time::timeout(Duration::from_secs(30), status.wait_for(|s| done(s))).await.is_ok() });
    assert!(found, "{what}: {:?}", *node.status().borrow());
}

/// Shares `text` on `from` and waits until `to` holds it.
fn share_and_wait(from: (&Path, &Node), to: &Path, text: &str) {
    let mut store = Store::open_dir_without_passcode(from.0).unwrap();
    let id = store.add(Draft::Agreement { text: text.to_owned() }).unwrap().id;
    store.share(id).unwrap();
    from.1.local_change();
    let start = Instant::now();
    while !shared_texts(to).contains(text) {
        assert!(start.elapsed() < Duration::from_secs(30), "{text:?} did not arrive");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Two paired phones on one Wi-Fi, over two days, with a stranger's phone asking for
/// and overhearing every mDNS announcement. Each day both phones find each other and
/// sync; and nothing Steady chooses of what the stranger hears (peer ids and ports) on
/// the first day is heard on the second, nor the identities they paired with.
#[test]
fn a_stranger_on_the_wifi_hears_nothing_that_links_one_day_to_the_next() {
    let lan = Lan::new(&["a", "b", "c"]);
    let (da, db) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    for (dir, name) in [(&da, "Alex"), (&db, "Blair")] {
        Store::open_dir_without_passcode(dir.path()).unwrap().init(name).unwrap();
    }
    let (set_day, days) = tokio::sync::watch::channel(NaiveDate::from_ymd_opt(2026, 12, 7).unwrap());
    let a = node_in(&lan, "a", da.path(), Days::Given(days.clone()));
    let b = node_in(&lan, "b", db.path(), Days::Given(days.clone()));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();

    // Pairing, with the invitation's identities, which last only as long as it does.
    let invitation = runtime.block_on(a.invite()).unwrap();
    runtime.block_on(b.join(invitation)).unwrap();
    let (invited, joined) = (a.peer_id(), b.peer_id());
    // Both people check the words; the inviting phone saves the pairing a moment after
    // the joiner hears back.
    for dir in [&db, &da] {
        let start = Instant::now();
        while peers::confirm(&mut Store::open_dir_without_passcode(dir.path()).unwrap()).unwrap().is_none() {
            assert!(start.elapsed() < Duration::from_secs(10), "the pairing was not saved");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let on_a_new_identity =
        |was: PeerId| move |s: &NetStatus| s.link == LinkState::Synced && s.peer_id != Some(was.to_base58());
    wait_status(&runtime, &a, "A on Monday's identity", on_a_new_identity(invited));
    wait_status(&runtime, &b, "B on Monday's identity", on_a_new_identity(joined));
    share_and_wait((da.path(), &a), db.path(), "Shared on Monday");
    let (a_monday, b_monday) = (a.peer_id(), b.peer_id());
    let monday = [a_monday.to_base58(), b_monday.to_base58()];
    let heard_monday = overhear(&lan, "c", "10.47.0.3", Duration::from_secs(3));

    set_day.send(NaiveDate::from_ymd_opt(2026, 12, 8).unwrap()).unwrap();
    wait_status(&runtime, &a, "A on Tuesday's identity", on_a_new_identity(a_monday));
    wait_status(&runtime, &b, "B on Tuesday's identity", on_a_new_identity(b_monday));
    share_and_wait((db.path(), &b), da.path(), "Shared on Tuesday");
    let tuesday = [a.peer_id().to_base58(), b.peer_id().to_base58()];
    let heard_tuesday = overhear(&lan, "c", "10.47.0.3", Duration::from_secs(3));

    // The stranger hears each day's identities on that day: the search works...
    for id in &monday {
        assert!(contains(&heard_monday, id), "Monday's {id} was announced on Monday");
    }
    for id in &tuesday {
        assert!(contains(&heard_tuesday, id), "Tuesday's {id} was announced on Tuesday");
    }
    // ...and nothing of Monday's on Tuesday, nor the pairing's.
    for id in monday.iter().chain([&invited.to_base58(), &joined.to_base58()]) {
        assert!(!contains(&heard_tuesday, id), "{id} was heard on Tuesday too");
        assert!(!tuesday.contains(id));
    }
    let (on_monday, on_tuesday) = (announced(&heard_monday), announced(&heard_tuesday));
    println!("Monday: {on_monday:#?}\nTuesday: {on_tuesday:#?}");
    assert!(on_monday.len() >= 2 && on_tuesday.len() >= 2, "both phones announced each day");
    let ports = |set: &BTreeSet<String>| -> BTreeSet<String> {
        set.iter().filter_map(|a| a.split('/').nth(2).map(str::to_owned)).collect()
    };
    assert!(ports(&on_monday).is_disjoint(&ports(&on_tuesday)), "a port was announced on both days");
    assert!(on_monday.is_disjoint(&on_tuesday));
    drop((a, b));
}

/// Delivery while apart, on one Wi-Fi (tests 1 and 2 of issue 28, in namespaces, mDNS on):
/// A's courier takes B's letter while A is locked, and A reads it at its next unlock with
/// B gone; then, through a home relay R in a namespace of its own, each phone's share
/// reaches the other while they are never on the Wi-Fi at the same time. R's files hold
/// none of the texts, and a stranger's phone C can't join R with the code used.
#[test]
fn letters_reach_a_locked_phone_and_go_through_a_home_relay_on_one_wifi() {
    let lan = Lan::new(&["a", "b", "r", "c"]);
    let (da, db, dr, dc) =
        (TempDir::new().unwrap(), TempDir::new().unwrap(), TempDir::new().unwrap(), TempDir::new().unwrap());
    let (da, db, dr, dc) = (da.path(), db.path(), dr.path(), dc.path());
    common::ok(da, &["init", "--name", "Alex", "--no-passcode"]);
    common::ok(db, &["init", "--name", "Blair", "--no-passcode"]);
    common::ok(dc, &["init", "--name", "Stranger", "--no-passcode"]);
    add_shared(db, "Together once 4e1");
    pair_on_wifi(&lan, da, db);
    let together = |expected: &BTreeSet<String>| {
        let mut sync_a = spawn(&lan, "a", da, &["sync", "--json"]);
        sync_a.wait_for(r#"{"event":"listening","address":"10.47.0.1:"#, Duration::from_secs(10));
        let sync_b = spawn(&lan, "b", db, &["sync", "--json"]);
        converge(da, db, expected, Duration::from_secs(30));
        (sync_a.stop(), sync_b.stop())
    };
    let mut expected = BTreeSet::from(["Together once 4e1".to_owned()]);
    together(&expected);

    // 1. A is locked: only its courier runs. B shares, syncs while A's courier is up,
    // and leaves.
    let mut courier = spawn(&lan, "a", da, &["courier", "--json"]);
    courier.wait_for(r#"{"event":"listening""#, Duration::from_secs(10));
    add_shared(db, "Sealed for a locked phone 9a7");
    let mut sync_b = spawn(&lan, "b", db, &["sync", "--json"]);
    sync_b.wait_for(r#"{"event":"letter_sent""#, Duration::from_secs(30));
    courier.wait_for(r#"{"event":"letter_received""#, Duration::from_secs(10));
    drop(sync_b.stop());
    lan.link("b", false);
    drop(courier.stop());
    assert!(!shared_texts(da).is_empty());
    expected.insert("Sealed for a locked phone 9a7".to_owned());
    assert_eq!(shared_texts(da), expected, "A reads it at its unlock, with B gone");
    lan.link("b", true);

    // 2. A home relay on the same Wi-Fi. A adds it; B learns of it when they next meet.
    let mut relay = spawn(&lan, "r", dr, &["relay", "serve", "--invite", "--json"]);
    let relay_code = relay.wait_for("code: ", Duration::from_secs(10)).trim_start_matches("code: ").to_owned();
    let (added, out, err) = spawn(&lan, "a", da, &["relay", "add", &relay_code]).finish(Duration::from_secs(30));
    assert!(added, "{out:?} {err}");
    let (joined_too, _, err) = spawn(&lan, "c", dc, &["relay", "add", &relay_code]).finish(Duration::from_secs(30));
    assert!(!joined_too, "a stranger's phone can't use the code: {err}");
    add_shared(da, "Before meeting again 1d2");
    expected.insert("Before meeting again 1d2".to_owned());
    together(&expected);
    let relays = |dir: &Path| -> serde_json::Value {
        serde_json::from_str::<serde_json::Value>(&common::ok(dir, &["status", "--json"])).unwrap()["relays"].clone()
    };
    assert_eq!(relays(db)[0]["added_by"], "partner", "{}", relays(db));

    // Never on the Wi-Fi together again: A shares and syncs with B away, then B with A away.
    lan.link("b", false);
    add_shared(da, "Through the relay from Alex 6b3");
    let mut sync_a = spawn(&lan, "a", da, &["sync", "--json"]);
    sync_a.wait_for(r#"{"event":"letter_sent""#, Duration::from_secs(30));
    drop(sync_a.stop());
    lan.link("a", false);
    lan.link("b", true);
    add_shared(db, "Through the relay from Blair 2c8");
    let mut sync_b = spawn(&lan, "b", db, &["sync", "--json"]);
    sync_b.wait_for(r#"{"event":"letter_sent""#, Duration::from_secs(30));
    let start = Instant::now();
    while !shared_texts(db).contains("Through the relay from Alex 6b3") {
        assert!(start.elapsed() < Duration::from_secs(30), "B never fetched A's letter");
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(sync_b.stop());
    lan.link("b", false);
    lan.link("a", true);
    let sync_a = spawn(&lan, "a", da, &["sync", "--json"]);
    let start = Instant::now();
    while !shared_texts(da).contains("Through the relay from Blair 2c8") {
        assert!(start.elapsed() < Duration::from_secs(30), "A never fetched B's letter");
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(sync_a.stop());
    // A stranger's phone on the same Wi-Fi, speaking the relay's protocol with keys of its
    // own, is refused, and takes nothing.
    let relay_entry: steady::net::relay::RelayEntry = {
        let view = &relays(da)[0];
        steady::net::relay::RelayEntry {
            id: view["id"].as_str().unwrap().to_owned(),
            addresses: view["addresses"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_owned()).collect(),
            added_by: "me".into(),
            added_at: chrono::Utc::now(),
        }
    };
    let c_ns = lan.ns("c");
    let stranger_mailbox = steady::store::Mailbox::in_dir(dc);
    let tried = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                common::netns::enter(&c_ns);
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                let (events, _) = tokio::sync::broadcast::channel(8);
                let stranger = steady::net::daily::DailySecret::from_bytes([42; 32]);
                let stranger = steady::net::relay::relay_key(&stranger, steady::net::pairing::Role::Inviter).unwrap();
                runtime.block_on(steady::net::relay::exchange(&stranger, &relay_entry, &stranger_mailbox, &events))
            })
            .join()
            .unwrap()
    });
    let refused = tried.expect_err("the relay refuses a stranger").to_string();
    assert!(refused.contains("does not serve this phone"), "{refused}");
    assert!(walk(&dc.join("letters")).is_empty(), "the stranger took nothing");
    let said = relay.stop();
    assert!(said.iter().any(|l| l.contains(r#""event":"letter_stored""#)), "{said:#?}");
    assert!(said.iter().any(|l| l.contains(r#""event":"letter_fetched""#)), "{said:#?}");
    // The texts are where they should be, and in none of R's files.
    for text in ["Through the relay from Alex 6b3", "Through the relay from Blair 2c8", "Sealed for a locked phone 9a7"]
    {
        assert!(shared_texts(da).contains(text) && shared_texts(db).contains(text), "{text}");
        for file in walk(dr) {
            let bytes = std::fs::read(&file).unwrap();
            assert!(!bytes.windows(text.len()).any(|w| w == text.as_bytes()), "{text} in {}", file.display());
        }
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// A move on one Wi-Fi, in network namespaces: A and B paired and synced, with mDNS on; A
/// moves to a new phone A2 (its own namespace, its own address). A2 holds everything A
/// held, private entries included; A's folder is gone; and B finds A2 by itself, with no
/// new pairing, and the two sync both ways.
#[test]
fn a_journal_moves_to_a_new_phone_on_the_wifi_and_the_partner_finds_it_there() {
    let lan = Lan::new(&["a", "n", "b"]);
    let (a, n, b) = (TempDir::new().unwrap(), TempDir::new().unwrap(), TempDir::new().unwrap());
    let (da, dn, db) = (a.path().join("old-phone"), n.path().join("new-phone"), b.path());
    let da = da.as_path();
    common::ok(da, &["init", "--name", "Alex", "--no-passcode"]);
    common::ok(db, &["init", "--name", "Blair", "--no-passcode"]);
    add_shared(db, "Before the move from Blair 2c8");
    add_shared(da, "Before the move from Alex 5d0");
    common::ok(da, &["add", "checkin", "Private on the old phone 7f3"]);
    pair_on_wifi(&lan, da, db);
    let mut expected =
        BTreeSet::from(["Before the move from Blair 2c8".to_owned(), "Before the move from Alex 5d0".to_owned()]);
    {
        let _sync_a = spawn(&lan, "a", da, &["sync", "--json"]);
        let _sync_b = spawn(&lan, "b", db, &["sync", "--json"]);
        converge(da, db, &expected, Duration::from_secs(30));
    }
    let before = common::list_json(da);

    let mut old = spawn(&lan, "a", da, &["move", "out"]);
    let code = old.wait_for("code: ", Duration::from_secs(10)).trim_start_matches("code: ").to_owned();
    assert!(code.contains("10.47.0.1:"), "the code names the old phone's address on the Wi-Fi: {code}");
    let mut new = spawn(&lan, "n", &dn, &["move", "in", &code, "--no-passcode"]);
    let words = new.wait_for("words: ", Duration::from_secs(20));
    assert_eq!(old.wait_for("words: ", Duration::from_secs(5)), words);
    common::ok(da, &["move", "confirm"]);
    common::ok(&dn, &["move", "confirm"]);
    let (arrived, said, err) = new.finish(Duration::from_secs(60));
    assert!(arrived, "{said:#?} {err}");
    let (erased, said, err) = old.finish(Duration::from_secs(30));
    assert!(erased && said.iter().any(|l| l.contains("erased its copy")), "{said:#?} {err}");
    assert!(!da.exists(), "the old phone's folder is gone");
    assert_eq!(common::list_json(&dn), before, "the new phone holds everything, private entries included");
    lan.link("a", false);

    // B finds the new phone by itself (mDNS), in the same pairing, both ways.
    add_shared(&dn, "From the new phone 8e1");
    add_shared(db, "From Blair after the move 0a9");
    expected.extend(["From the new phone 8e1".to_owned(), "From Blair after the move 0a9".to_owned()]);
    let _sync_n = spawn(&lan, "n", &dn, &["sync", "--json"]);
    let _sync_b = spawn(&lan, "b", db, &["sync", "--json"]);
    converge(&dn, db, &expected, Duration::from_secs(30));
}

/// A restore on one Wi-Fi, in network namespaces: A's phone is lost; a new phone N,
/// restored from A's encrypted export, joins Blair's invite with `--continue`, found by
/// mDNS. N holds what A held, each entry as it was, and the couple's document syncs on
/// both ways with nothing set apart or doubled on Blair's phone.
#[test]
fn a_phone_restored_from_a_backup_continues_the_pairing_on_the_wifi() {
    let lan = Lan::new(&["a", "n", "b"]);
    let (a, n, b) = (TempDir::new().unwrap(), TempDir::new().unwrap(), TempDir::new().unwrap());
    let (da, dn, db) = (a.path().join("lost-phone"), n.path().join("restored-phone"), b.path());
    common::ok(&da, &["init", "--name", "Alex", "--no-passcode"]);
    common::ok(db, &["init", "--name", "Blair", "--no-passcode"]);
    add_shared(db, "Before the loss from Blair 61d");
    add_shared(&da, "Before the loss from Alex 3b2");
    common::ok(&da, &["add", "checkin", "Private on the lost phone 9c4"]);
    pair_on_wifi(&lan, &da, db);
    let mut expected =
        BTreeSet::from(["Before the loss from Blair 61d".to_owned(), "Before the loss from Alex 3b2".to_owned()]);
    {
        let _sync_a = spawn(&lan, "a", &da, &["sync", "--json"]);
        let _sync_b = spawn(&lan, "b", db, &["sync", "--json"]);
        converge(&da, db, &expected, Duration::from_secs(30));
    }
    let pass = [("STEADY_EXPORT_PASSPHRASE", "the backup's passphrase 7e0")];
    let backup = a.path().join("backup.json");
    common::ok_with(&da, &["export", "--format", "json", "--out", backup.to_str().unwrap()], &pass);
    let before = common::list_json(&da);
    lan.link("a", false);

    common::ok_with(&dn, &["import", a.path().join("backup.json.age").to_str().unwrap(), "--no-passcode"], &pass);
    common::ok(db, &["unpair"]);
    let mut invite = spawn(&lan, "b", db, &["pair", "invite"]);
    let code = invite.wait_for("code: ", Duration::from_secs(10)).trim_start_matches("code: ").to_owned();
    let (joined, said, err) =
        spawn(&lan, "n", &dn, &["pair", "join", &code, "--continue"]).finish(Duration::from_secs(60));
    assert!(joined && said.iter().any(|l| l.contains("continues your shared history")), "{said:#?} {err}");
    let (invited, said, err) = invite.finish(Duration::from_secs(10));
    assert!(invited && said.iter().any(|l| l.contains("Alex restored Steady from a backup")), "{said:#?} {err}");
    for dir in [dn.as_path(), db] {
        common::ok(dir, &["pair", "confirm"]);
    }
    add_shared(&dn, "From the restored phone 2f7");
    add_shared(db, "From Blair after the restore 5a8");
    expected.extend(["From the restored phone 2f7".to_owned(), "From Blair after the restore 5a8".to_owned()]);
    let _sync_n = spawn(&lan, "n", &dn, &["sync", "--json"]);
    let _sync_b = spawn(&lan, "b", db, &["sync", "--json"]);
    converge(&dn, db, &expected, Duration::from_secs(30));

    let key = |e: &serde_json::Value| format!("{} {} shared={}", e["id"], e["text"], e["shared"]);
    let now: BTreeSet<_> = common::list_json(&dn).iter().map(key).collect();
    let was: BTreeSet<_> = before.iter().map(key).collect();
    assert!(was.is_subset(&now), "each entry as it was:\n{was:#?}\n{now:#?}");
    assert_eq!(now.len(), was.len() + 2, "nothing twice: {now:#?}");
    let past = common::ok(db, &["status", "--json"]);
    let past: serde_json::Value = serde_json::from_str(&past).unwrap();
    assert_eq!(past["past_pairings"].as_array().map(Vec::len), Some(0), "{past}");
    assert_eq!(common::list_json(db).len(), 4, "Blair's phone holds each entry once");
}
