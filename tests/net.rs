//! Two (and three) phones in one process, over loopback, with discovery off and a direct
//! dial: pairing, sync, concurrent edits, and everything that must be turned away.
//!
//! Where a test proves that some text never reached a phone, it searches the raw bytes of
//! every file in that phone's data directory and every plaintext byte handed to the
//! network, and first shows that the same search finds the text where it should be.

use std::path::Path;
use std::time::{Duration, Instant};

use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::{Multiaddr, PeerId, StreamProtocol};
use steady::model::{Body, Draft, EntryId, Outcome};
use steady::net::invite::Invitation;
use steady::net::node::Paired;
use steady::net::pairing::{InviteCode, PairingError};
use steady::net::session::PairFailure;
use steady::net::{LinkState, NetConfig, NetError, NetEvent, Node, WireTap, peers};
use steady::store::Store;
use tempfile::TempDir;

struct Phone {
    dir: TempDir,
    node: Node,
    tap: WireTap,
}

impl Phone {
    async fn new(name: &str) -> Phone {
        Phone::with(name, |_| {}).await
    }

    async fn with(name: &str, tweak: impl FnOnce(&mut NetConfig)) -> Phone {
        let dir = TempDir::new().unwrap();
        Store::open_dir_without_passcode(dir.path()).unwrap().init(name).unwrap();
        let tap = WireTap::default();
        let mut config = NetConfig {
            discovery: false,
            listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
            tap: Some(tap.clone()),
            ..NetConfig::default()
        };
        tweak(&mut config);
        let node = Node::start(Store::open_dir_without_passcode(dir.path()).unwrap(), config).await.unwrap();
        Phone { dir, node, tap }
    }

    /// Stops this phone's node and starts it again on the same journal, dialing `dial`.
    async fn restart(self, dial: Vec<Multiaddr>) -> Phone {
        let Phone { dir, node, tap } = self;
        node.shutdown().await;
        drop(node);
        let config = NetConfig {
            discovery: false,
            listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
            dial,
            tap: Some(tap.clone()),
            ..NetConfig::default()
        };
        let node = Node::start(Store::open_dir_without_passcode(dir.path()).unwrap(), config).await.unwrap();
        Phone { dir, node, tap }
    }

    /// The journal, as the window opens it: its own connection to the file.
    fn store(&self) -> Store {
        Store::open_dir_without_passcode(self.dir.path()).unwrap()
    }

    async fn address(&self) -> Multiaddr {
        let mut status = self.node.status();
        let found = status.wait_for(|s| !s.listening.is_empty());
        let status = tokio::time::timeout(Duration::from_secs(5), found).await.unwrap().unwrap();
        status.listening[0].parse().unwrap()
    }

    async fn link(&self) -> Invitation {
        self.address().await;
        self.node.invite().await.unwrap()
    }

    fn add_shared(&self, draft: Draft) -> EntryId {
        let mut store = self.store();
        let id = store.add(draft).unwrap().id;
        store.share(id).unwrap();
        self.node.local_change();
        id
    }

    fn shared_ids(&self) -> Vec<EntryId> {
        let mut ids: Vec<_> = self.store().entries().unwrap().into_iter().filter(|e| e.shared).map(|e| e.id).collect();
        ids.sort();
        ids
    }

    /// "They match", said on this phone, through its own connection to the file as the
    /// window or `pair confirm` would: the running node notices.
    fn confirm(&self) {
        assert!(peers::confirm(&mut self.store()).unwrap().is_some(), "there is a pairing to confirm");
    }

    /// Whether any entry this phone lists, or its shared document's whole history, holds
    /// `text`. The history is written out uncompressed, so nothing hides in a deflated
    /// column.
    fn knows(&self, text: &str) -> bool {
        let mut store = self.store();
        let listed = store.entries().unwrap().iter().any(|e| format!("{e:?}").contains(text));
        let doc = automerge::Automerge::load(&store.document_bytes().unwrap()).unwrap();
        listed || contains(&doc.save_nocompress(), text)
    }

    async fn status_until(&self, what: &str, done: impl Fn(&steady::net::NetStatus) -> bool) -> steady::net::NetStatus {
        let mut status = self.node.status();
        let found = tokio::time::timeout(Duration::from_secs(10), status.wait_for(|s| done(s))).await;
        let found = found.unwrap_or_else(|_| panic!("{what}: {:?}", *self.node.status().borrow()));
        found.unwrap().clone()
    }
}

/// The key a phone's node has today: what a hand-made copy of that phone dials with.
fn todays_key(store: &mut Store) -> libp2p::identity::Keypair {
    steady::net::daily::identity_on(store, chrono::Utc::now().date_naive()).unwrap().0.key
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Whether the phone whose journal is in `dir` holds `text` anywhere: in the raw bytes
/// of any file (the database, its WAL, anything else), or in anything its journal
/// decrypts to (its entries, names, shared document and past documents).
fn dir_contains(dir: &Path, text: &str) -> bool {
    raw_contains(dir, text) || decrypted_contains(dir, text)
}

fn decrypted_contains(dir: &Path, text: &str) -> bool {
    let mut store = Store::open_dir_without_passcode(dir).unwrap();
    let listed = store.entries().unwrap().iter().any(|e| format!("{e:?}").contains(text));
    let names = store.people().unwrap().iter().any(|(_, n)| n.contains(text));
    let past = store
        .past_documents()
        .unwrap()
        .iter()
        .any(|p| p.partner.contains(text) || contains(&store.past_document_bytes(p.id).unwrap(), text));
    listed || names || past || contains(&store.document_bytes().unwrap(), text)
}

/// Whether any file under `dir` holds `text` in its raw bytes.
fn raw_contains(dir: &Path, text: &str) -> bool {
    raw_contains_bytes(dir, text.as_bytes())
}

/// Whether any file under `dir` holds `needle` in its raw bytes.
fn raw_contains_bytes(dir: &Path, needle: &[u8]) -> bool {
    std::fs::read_dir(dir).unwrap().flatten().any(|entry| {
        let path = entry.path();
        if path.is_dir() {
            raw_contains_bytes(&path, needle)
        } else {
            std::fs::read(&path).unwrap_or_default().windows(needle.len()).any(|w| w == needle)
        }
    })
}

fn agreement(text: &str) -> Draft {
    Draft::Agreement { text: text.to_owned() }
}

/// Like [`eventually`], for a look at the file that is itself the wait.
fn eventually_sync(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(5), "{what} did not happen within 5 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

async fn eventually(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "{what} did not happen within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Pairs `b` with `a`'s invite, and both people confirm the words.
async fn pair(a: &Phone, b: &Phone) -> Paired {
    let paired = pair_unconfirmed(a, b).await;
    a.confirm();
    b.confirm();
    paired
}

/// Pairs `b` with `a`'s invite; nobody has checked the words yet.
async fn pair_unconfirmed(a: &Phone, b: &Phone) -> Paired {
    let link = a.link().await;
    let paired = b.node.join(link).await.unwrap();
    assert_eq!(paired.partner, a.node.peer_id());
    // The inviting phone saves the pairing as the joiner hears back.
    eventually("the inviter saves the pairing", Duration::from_secs(5), || {
        peers::partner(&a.store()).unwrap().is_some()
    })
    .await;
    // Moments later both take the day's identities (`net::daily`), which the rest of a
    // test deals with.
    let invited = paired.partner;
    let joined = peers::partner(&a.store()).unwrap().unwrap().peer;
    eventually("both phones take the day's identities", Duration::from_secs(10), || {
        a.node.peer_id() != invited && b.node.peer_id() != joined
    })
    .await;
    paired
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_phones_pair_sync_and_converge_after_concurrent_edits() {
    let a = Phone::new("Alex").await;
    let b = Phone::new("Blair").await;
    // Shared before pairing: must survive the join.
    let before_a = a.add_shared(agreement("Say when plans change"));
    let before_b = b.add_shared(agreement("Phones down at dinner"));

    let mut a_events = a.node.subscribe();
    let paired = pair(&a, &b).await;
    assert_eq!(paired.name, "Alex");
    let words_on_a = loop {
        match a_events.recv().await.unwrap() {
            NetEvent::Paired { name, safety_words, .. } => {
                assert_eq!(name, "Blair");
                break safety_words;
            }
            _ => continue,
        }
    };
    assert_eq!(words_on_a, paired.safety_words.map(str::to_owned).to_vec(), "both screens show the same words");

    eventually("the first sync", Duration::from_secs(10), || {
        a.shared_ids() == b.shared_ids() && a.shared_ids().len() == 2
    })
    .await;
    assert!(a.shared_ids().contains(&before_b) && b.shared_ids().contains(&before_a));
    let mut status = b.node.status();
    let synced = status.wait_for(|s| s.link == LinkState::Synced && s.last_synced.is_some());
    tokio::time::timeout(Duration::from_secs(5), synced).await.unwrap().unwrap();

    // Both write at once: new entries on each side, and check-ins on the same agreement.
    let new_a = a.add_shared(agreement("A walk on Sundays"));
    let new_b = b.add_shared(Draft::CheckIn { text: "Lighter today".into() });
    a.store().check_in(before_a, Outcome::Kept, Some("from Alex")).unwrap();
    b.store().check_in(before_a, Outcome::Missed, Some("from Blair")).unwrap();
    a.node.local_change();
    b.node.local_change();

    eventually("convergence", Duration::from_secs(10), || {
        let (sa, sb) = (a.store().get(before_a).unwrap(), b.store().get(before_a).unwrap());
        let check_ins = |e: &steady::model::Entry| match &e.body {
            Body::Agreement { check_ins, .. } => check_ins.len(),
            _ => 0,
        };
        a.shared_ids() == b.shared_ids() && check_ins(&sa) == 2 && sa == sb
    })
    .await;
    assert!(b.shared_ids().contains(&new_a) && a.shared_ids().contains(&new_b));
    a.store().verify_index().unwrap();
    b.store().verify_index().unwrap();
    // Each phone now knows the other by its identity for the day.
    assert_eq!(a.node.status().borrow().partner.clone().unwrap().peer_id, b.node.peer_id().to_base58());
    assert_eq!(b.node.status().borrow().partner.clone().unwrap().peer_id, a.node.peer_id().to_base58());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_text_never_reaches_the_network() {
    let a = Phone::new("Alex").await;
    let b = Phone::new("Blair").await;
    let mut store = a.store();
    store
        .add(Draft::Reflection {
            feeling: "PRIVATE-FEELING-7f3a9".into(),
            needing: Some("PRIVATE-NEED-51c2".into()),
            understanding: None,
        })
        .unwrap();
    store.add(agreement("PRIVATE-AGREEMENT-e04d")).unwrap();
    let shared = a.add_shared(agreement("SHARED-MARK-b81"));
    pair(&a, &b).await;
    eventually("the sync", Duration::from_secs(10), || b.shared_ids() == vec![shared]).await;
    // One more private entry while connected, then a shared one after it.
    a.store().add(Draft::CheckIn { text: "PRIVATE-CHECKIN-aa90".into() }).unwrap();
    a.node.local_change();
    let later = a.add_shared(agreement("SHARED-LATER-c3"));
    eventually("the second sync", Duration::from_secs(10), || b.shared_ids().contains(&later)).await;

    let wire = [a.tap.bytes(), b.tap.bytes()].concat();
    let contains = |needle: &str| wire.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(contains("SHARED-MARK-b81"), "the tap sees shared text, so it would see private text too");
    for secret in ["PRIVATE-FEELING-7f3a9", "PRIVATE-NEED-51c2", "PRIVATE-AGREEMENT-e04d", "PRIVATE-CHECKIN-aa90"] {
        assert!(!contains(secret), "{secret} went onto the network");
    }
    assert_eq!(b.store().entries().unwrap().len(), 2, "only the two shared entries arrived");
}

/// A share undone inside its undo window never leaves the phone, even while the partner
/// is connected and syncing: nothing of it is on the wire or anywhere on the partner's
/// phone. A share made after it, and sent, is found in both places, so the search works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_undone_in_its_window_never_reaches_a_connected_partner() {
    let a = Phone::new("Alex").await;
    let b = Phone::new("Blair").await;
    let first = a.add_shared(agreement("SHARED-BEFORE-41d"));
    pair(&a, &b).await;
    eventually("the first sync", Duration::from_secs(10), || b.shared_ids() == vec![first]).await;

    let mut store = a.store();
    let undone = store.add(agreement("UNDONE-SHARE-5e71")).unwrap().id;
    store.share_after(undone, Duration::from_secs(2)).unwrap();
    a.node.local_change();
    let said = store.unshare(undone).unwrap();
    assert!(!said.partner_has_copy, "undone before it could leave: {said:?}");
    let after = a.add_shared(agreement("SENT-AFTER-UNDO-2b9"));
    eventually("the share after the undo", Duration::from_secs(10), || b.shared_ids().contains(&after)).await;
    // Past the end of the undo window, with the partner still connected.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    a.node.local_change();
    tokio::time::sleep(Duration::from_millis(500)).await;

    let wire = [a.tap.bytes(), b.tap.bytes()].concat();
    assert!(contains(&wire, "SENT-AFTER-UNDO-2b9"), "the tap sees what was sent");
    assert!(!contains(&wire, "UNDONE-SHARE-5e71"), "the undone share went onto the network");
    assert!(dir_contains(b.dir.path(), "SENT-AFTER-UNDO-2b9"), "the search finds what arrived");
    assert!(!dir_contains(b.dir.path(), "UNDONE-SHARE-5e71"), "the undone share is on the partner's phone");
    assert!(!b.knows("UNDONE-SHARE-5e71"));
}

/// Over real sockets, a wrong code gets its plain message and leaves the invite open for
/// the right one. The fifth wrong code and the invite's expiry, to the millisecond, are
/// in the simulation (`tests/suite/sim.rs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_code_is_refused_plainly_and_the_invite_stays_open() {
    let a = Phone::new("Alex").await;
    let link = a.link().await;
    let mut other = InviteCode::random();
    while other == link.code {
        other = InviteCode::random();
    }
    let b = Phone::new("Blair").await;
    let err = b.node.join(Invitation { code: other, ..link.clone() }).await.unwrap_err();
    assert!(matches!(err, NetError::Pairing(PairFailure::Pairing(PairingError::WrongCode))), "{err}");
    assert!(err.to_string().contains("doesn't match"), "{err}");
    let paired = b.node.join(link).await.unwrap();
    assert_eq!(paired.partner, a.node.peer_id());
}

/// A bare libp2p peer with no allow list of its own, the way a stranger on the Wi-Fi
/// would write one: it dials, and reports whether the connection stays up.
struct RawPeer {
    control: libp2p_stream::Control,
    events: tokio::sync::mpsc::UnboundedReceiver<bool>,
    driver: tokio::task::JoinHandle<()>,
}

impl RawPeer {
    fn dial(key: libp2p::identity::Keypair, address: Multiaddr) -> RawPeer {
        let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key)
            .with_tokio()
            .with_tcp(Default::default(), libp2p::noise::Config::new, libp2p::yamux::Config::default)
            .unwrap()
            .with_behaviour(|_| libp2p_stream::Behaviour::new())
            .unwrap()
            .build();
        let control = swarm.behaviour().new_control();
        swarm.dial(address).unwrap();
        let (tx, events) = tokio::sync::mpsc::unbounded_channel();
        let driver = tokio::spawn(async move {
            loop {
                match swarm.select_next_some().await {
                    libp2p::swarm::SwarmEvent::ConnectionEstablished { .. } => drop(tx.send(true)),
                    libp2p::swarm::SwarmEvent::ConnectionClosed { .. } => drop(tx.send(false)),
                    _ => {}
                }
            }
        });
        RawPeer { control, events, driver }
    }

    async fn connected(&mut self) -> bool {
        matches!(tokio::time::timeout(Duration::from_secs(5), self.events.recv()).await, Ok(Some(true)))
    }
}

impl Drop for RawPeer {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unpaired_device_gets_nothing_and_changes_nothing() {
    let a = Phone::new("Alex").await;
    let b = Phone::new("Blair").await;
    let shared = a.add_shared(agreement("Only for Blair"));
    pair(&a, &b).await;
    eventually("the sync", Duration::from_secs(10), || b.shared_ids() == vec![shared]).await;

    // A stranger's own phone, running Steady, dials A directly.
    let stranger = Phone::new("Stranger").await;
    let planted = stranger.add_shared(agreement("Planted"));
    let mut a_events = a.node.subscribe();
    assert!(stranger.node.dial(a.address().await).await.is_err(), "a stranger's dial is turned away");

    // A stranger's hand-written peer, with no allow list, tries both protocols.
    let mut raw = RawPeer::dial(libp2p::identity::Keypair::generate_ed25519(), a.address().await);
    let _ = raw.connected().await;
    for protocol in ["/steady/sync/1", "/steady/pair/1"] {
        let opened = raw.control.open_stream(a.node.peer_id(), StreamProtocol::new(protocol)).await;
        assert!(opened.is_err(), "a stranger opened {protocol}");
    }
    let mut refused = false;
    while let Ok(Ok(event)) = tokio::time::timeout(Duration::from_millis(500), a_events.recv()).await {
        refused |= matches!(event, NetEvent::Refused { .. });
        let stranger_id = stranger.node.peer_id().to_base58();
        assert!(!matches!(&event, NetEvent::Connected { peer } if *peer == stranger_id), "{event:?}");
    }
    assert!(refused, "the stranger's connection was turned away and said so");
    assert_eq!(stranger.shared_ids(), vec![planted], "the stranger received nothing");
    assert_eq!(a.shared_ids(), vec![shared]);
    assert_eq!(b.shared_ids(), vec![shared]);
}

/// Only the partner's phone may recognize this one. Not paired, a phone takes a new
/// network identity at every start. Paired, it takes the day's, which the partner's
/// phone works out for itself, and keeps it across restarts that day. When the pairing
/// ends it leaves that identity (and its port) behind at once, so the earlier partner's
/// phone can neither recognize it nor reach it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_is_known_by_one_identity_only_while_it_is_paired() {
    let a = Phone::new("Alex").await;
    let first = a.node.peer_id();
    assert_eq!(peers::peer_id(&a.store()).unwrap(), Some(first), "the identity the node has is the one kept");
    let a = a.restart(Vec::new()).await;
    let invited_as = a.node.peer_id();
    assert_ne!(invited_as, first, "not paired, a start takes a new identity");

    let b = Phone::new("Blair").await;
    pair(&a, &b).await;
    assert_eq!(peers::partner(&b.store()).unwrap().unwrap().peer, invited_as, "paired with the invitation's identity");
    // Moments later each phone takes the day's identity, and finds the other's.
    let synced_on_the_day = |s: &steady::net::NetStatus| {
        s.link == LinkState::Synced && s.peer_id.as_deref().is_some_and(|p| p != invited_as.to_base58())
    };
    a.status_until("A takes the day's identity", synced_on_the_day).await;
    let today = a.node.peer_id();
    let b_sees = b.status_until("B finds it", |s| s.link == LinkState::Synced).await;
    assert_eq!(b_sees.partner.unwrap().peer_id, today.to_base58(), "B works out A's identity for the day");

    let a = a.restart(vec![b.address().await]).await;
    assert_eq!(a.node.peer_id(), today, "a start on the same day takes the same identity");
    let after_restart = a.add_shared(agreement("Sent after a restart"));
    eventually("the partner recognizes the phone after its restart", Duration::from_secs(10), || {
        b.shared_ids() == vec![after_restart]
    })
    .await;

    let old_address = a.address().await;
    a.node.unpair().await.unwrap();
    let status = a
        .status_until("a new identity and port", |s| {
            s.peer_id.as_deref().is_some_and(|p| p != today.to_base58())
                && s.listening.first().is_some_and(|l| *l != old_address.to_string())
        })
        .await;
    let new_id = a.node.peer_id();
    assert_ne!(new_id, today);
    assert_ne!(new_id, invited_as);
    assert_eq!(status.peer_id, Some(new_id.to_base58()));
    assert_eq!(peers::peer_id(&a.store()).unwrap(), Some(new_id));
    let b_looks_for = b.node.status().borrow().partner.clone().unwrap().peer_id;
    assert_eq!(b_looks_for, today.to_base58(), "Blair's phone still looks for the old one");

    // Blair's phone, still paired in its own eyes, finds nothing at the old address and
    // is turned away at the new one.
    assert!(b.node.dial(old_address).await.is_err(), "nothing answers at the old address");
    let mut a_events = a.node.subscribe();
    while a_events.try_recv().is_ok() {}
    assert!(b.node.dial(a.address().await).await.is_err(), "the earlier partner's dial is turned away");
    let mut said = Vec::new();
    while let Ok(Ok(event)) = tokio::time::timeout(Duration::from_millis(500), a_events.recv()).await {
        said.push(event);
    }
    let blair = b.node.peer_id().to_base58();
    assert!(!said.iter().any(|e| matches!(e, NetEvent::Connected { peer } if *peer == blair)), "{said:?}");
    let a = a.restart(Vec::new()).await;
    assert_ne!(a.node.peer_id(), new_id, "not paired again, the next start takes a new identity too");
}

/// At midnight both phones take the next day's identities, with the app open, and find
/// each other again: nothing of one day's identities is used on the next.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_midnight_both_phones_take_new_identities_and_find_each_other_again() {
    let (set_day, days) = tokio::sync::watch::channel(chrono::NaiveDate::from_ymd_opt(2026, 12, 7).unwrap());
    let given = || steady::net::daily::Days::Given(days.clone());
    let a = Phone::with("Alex", |c| c.days = given()).await;
    let b = Phone::with("Blair", |c| c.days = given()).await;
    pair(&a, &b).await;
    let first = a.add_shared(agreement("Shared on Monday"));
    eventually("Monday's share", Duration::from_secs(10), || b.shared_ids() == vec![first]).await;
    let settled =
        |me: PeerId| move |s: &steady::net::NetStatus| s.link == LinkState::Synced && s.peer_id != Some(me.to_base58());
    let (a_invited, b_joined) =
        (peers::partner(&b.store()).unwrap().unwrap().peer, peers::partner(&a.store()).unwrap().unwrap().peer);
    a.status_until("A on Monday's identity", settled(a_invited)).await;
    b.status_until("B on Monday's identity", settled(b_joined)).await;
    let monday = [a.node.peer_id(), b.node.peer_id()];

    set_day.send(chrono::NaiveDate::from_ymd_opt(2026, 12, 8).unwrap()).unwrap();
    a.status_until("A on Tuesday's identity", settled(monday[0])).await;
    b.status_until("B on Tuesday's identity", settled(monday[1])).await;
    let tuesday = [a.node.peer_id(), b.node.peer_id()];
    let second = a.add_shared(agreement("Shared on Tuesday"));
    eventually("Tuesday's share", Duration::from_secs(10), || b.shared_ids().contains(&second)).await;
    for id in tuesday {
        assert!(!monday.contains(&id) && id != a_invited && id != b_joined, "{id} was seen before");
    }
    assert_eq!(b.node.status().borrow().partner.clone().unwrap().peer_id, tuesday[0].to_base58());
    assert_eq!(a.node.status().borrow().partner.clone().unwrap().peer_id, tuesday[1].to_base58());

    // The secret the identities come from is in the phones' settings, sealed: never in
    // their files in the clear, nor handed to the network. The same search finds it in
    // a file written in the clear.
    let secret = peers::partner(&a.store()).unwrap().unwrap().network.unwrap();
    let (bytes, hex) = (secret.as_bytes().to_vec(), peers::to_hex(secret.as_bytes()));
    assert_eq!(peers::partner(&b.store()).unwrap().unwrap().network.unwrap(), secret, "both phones hold it");
    let plain = TempDir::new().unwrap();
    std::fs::write(plain.path().join("secret"), [bytes.as_slice(), hex.as_bytes()].concat()).unwrap();
    assert!(raw_contains_bytes(plain.path(), &bytes) && raw_contains(plain.path(), &hex), "the search finds it");
    for phone in [&a, &b] {
        assert!(!raw_contains_bytes(phone.dir.path(), &bytes) && !raw_contains(phone.dir.path(), &hex));
        let wire = phone.tap.bytes();
        assert!(!wire.windows(bytes.len()).any(|w| w == bytes.as_slice()) && !contains(&wire, &hex));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pausing_stops_sync_and_resuming_catches_up() {
    let a = Phone::new("Alex").await;
    let b = Phone::new("Blair").await;
    pair(&a, &b).await;
    a.node.set_paused(true).await.unwrap();
    let during = a.add_shared(agreement("Written while paused"));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(b.shared_ids().is_empty(), "nothing travels while paused");
    assert_eq!(a.node.status().borrow().link, LinkState::Paused);
    assert!(a.node.status().borrow().unsent_changes >= 1, "the badge counts what waits");

    a.node.set_paused(false).await.unwrap();
    eventually("catching up after resume", Duration::from_secs(10), || b.shared_ids() == vec![during]).await;

    // Unpairing keeps every entry and stops sync; the other phone is not told. What A
    // shared is private again on A, marked as shared before.
    a.node.unpair().await.unwrap();
    let after = a.add_shared(agreement("After unpairing"));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!b.shared_ids().contains(&after));
    assert_eq!(a.shared_ids(), vec![after], "only the new share, which waits for a next pairing");
    let was_shared = a.store().get(during).unwrap();
    assert!(!was_shared.shared && was_shared.shared_before, "{was_shared:?}");
    assert!(peers::partner(&b.store()).unwrap().is_some());
}

/// A phone that holds the partner's key but speaks garbage: each kind of bad input closes
/// the session with a reason, and the journal is untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_sync_input_closes_the_session_and_corrupts_nothing() {
    let a = Phone::new("Alex").await;
    let b = Phone::new("Blair").await;
    let shared = a.add_shared(agreement("Steady"));
    pair(&a, &b).await;
    eventually("the sync", Duration::from_secs(10), || b.shared_ids() == vec![shared]).await;
    let address = a.address().await;
    let b_key = todays_key(&mut b.store());
    drop(b);
    let mut status = a.node.status();
    let apart = status.wait_for(|s| s.link == LinkState::Looking || s.link == LinkState::Offline);
    tokio::time::timeout(Duration::from_secs(10), apart).await.unwrap().unwrap();

    let garbage: Vec<(&str, Vec<u8>)> = vec![
        ("an oversized frame", vec![0xff, 0xff, 0xff, 0xff, 1, 2, 3]),
        ("an unknown tag", [&[0, 0, 0, 2][..], &[9, 9]].concat()),
        ("a broken sync message", [&[0, 0, 0, 4][..], &[1, 0x42, 0xff, 0x00]].concat()),
        ("a frame cut short", vec![0, 0, 0, 50, 1, 2]),
    ];
    for (what, bytes) in garbage {
        let mut a_events = a.node.subscribe();
        let mut raw = RawPeer::dial(b_key.clone(), address.clone());
        assert!(raw.connected().await, "{what}: the partner's key is let in");
        let peer: PeerId = a.node.peer_id();
        // Whichever phone has the lower identity opens the session: take A's stream if it
        // comes, or open one as the partner would.
        let protocol = StreamProtocol::new("/steady/sync/1");
        let mut incoming = raw.control.accept(protocol.clone()).unwrap();
        // A opens the session itself, at once or after its fallback wait; only if it never
        // does is one opened from here (two at once, and A keeps its own).
        let mut stream = match tokio::time::timeout(Duration::from_secs(3), incoming.next()).await {
            Ok(Some((_, stream))) => stream,
            _ => raw.control.open_stream(peer, protocol).await.unwrap(),
        };
        // A may close as soon as it has read enough to refuse, even mid-write.
        let _ = stream.write_all(&bytes).await;
        let _ = stream.flush().await;
        if what == "a frame cut short" {
            let _ = stream.close().await;
        }
        // A closes the stream: reading ends (after whatever A itself had sent).
        let mut sink = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(8), stream.read_to_end(&mut sink)).await;
        assert!(read.is_ok(), "{what}: the session was not closed");
        let mut reason = None;
        let deadline = Instant::now() + Duration::from_secs(5);
        while reason.is_none() && Instant::now() < deadline {
            match tokio::time::timeout(Duration::from_millis(200), a_events.recv()).await {
                Ok(Ok(NetEvent::Refused { reason: r, .. })) | Ok(Ok(NetEvent::Disconnected { reason: r, .. })) => {
                    reason = Some(r)
                }
                _ => {}
            }
        }
        assert!(reason.is_some(), "{what}: A said nothing about why");
        drop(raw);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(a.shared_ids(), vec![shared], "{what}");
        a.store().verify_index().unwrap();
    }
}

#[test]
fn a_link_from_the_invite_is_what_join_reads() {
    let peer = PeerId::random();
    let text = format!("steady://pair/7KQM-4T2X?peer={peer}&addr=/ip4/192.168.1.9/tcp/4001");
    let link = Invitation::parse(&text).unwrap();
    assert_eq!(link.code.to_string(), "7KQM-4T2X");
    assert_eq!(link.peer, Some(peer));
    assert!(Path::new(&link.to_link()).to_str().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_who_comes_back_is_synced_again_and_both_badges_say_so() {
    let a = Phone::new("Alex").await;
    let b = Phone::new("Blair").await;
    pair(&a, &b).await;
    let address = a.address().await;
    let Phone { dir, node, .. } = b;
    node.shutdown().await;
    drop(node);
    let mut a_status = a.node.status();
    let apart = a_status.wait_for(|s| s.link == LinkState::Looking || s.link == LinkState::Offline);
    tokio::time::timeout(Duration::from_secs(10), apart).await.unwrap().unwrap();

    let written = a.add_shared(agreement("While Blair was away"));
    let config = NetConfig {
        discovery: false,
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
        dial: vec![address],
        ..NetConfig::default()
    };
    let back = Node::start(Store::open_dir_without_passcode(dir.path()).unwrap(), config).await.unwrap();
    for status in [a.node.status(), back.status()] {
        let mut status = status;
        let synced = status.wait_for(|s| s.link == LinkState::Synced && s.last_synced.is_some());
        tokio::time::timeout(Duration::from_secs(10), synced).await.expect("the badge says synced").unwrap();
    }
    let ids: Vec<EntryId> =
        Store::open_dir_without_passcode(dir.path()).unwrap().entries().unwrap().iter().map(|e| e.id).collect();
    assert_eq!(ids, vec![written]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_nobody_answers_at_is_named_in_the_error() {
    let a = Phone::new("Alex").await;
    let err = a.node.dial("/ip4/127.0.0.1/tcp/1".parse().unwrap()).await.unwrap_err();
    assert!(err.to_string().starts_with("can't reach partner at 127.0.0.1:1: "), "{err}");
    let err = a.node.dial("/ip4/8.8.8.8/tcp/4001".parse().unwrap()).await.unwrap_err();
    assert!(err.to_string().contains("not on your local network"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_ends_an_open_join_and_an_open_invite() {
    let a = Phone::new("Alex").await;
    let waiting = Invitation { code: InviteCode::random(), peer: None, addresses: Vec::new(), continues: false };
    let (joined, ()) = tokio::join!(a.node.join(waiting), async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        a.node.cancel_pairing();
    });
    assert!(matches!(joined, Err(NetError::Cancelled)), "{joined:?}");

    let link = a.link().await;
    a.node.cancel_pairing();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let b = Phone::new("Blair").await;
    assert!(b.node.join(link).await.is_err(), "a cancelled invite can't be joined");
}

/// A new pairing is unconfirmed on each phone until its person checks the words. Either
/// way round (only the inviter confirmed, or only the joiner), nothing of the shared
/// document crosses: not on the wire, not into the other phone's files. The badge says
/// who is still to check. Once the second person confirms, in another process as the
/// command line would, sync starts within a second or two.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unconfirmed_pairing_exchanges_nothing_of_the_document_in_either_direction() {
    for inviter_confirms in [true, false] {
        let a = Phone::new("Alex").await;
        let b = Phone::new("Blair").await;
        let (text_a, text_b) =
            (format!("FROM-ALEX-{inviter_confirms}-61d0"), format!("FROM-BLAIR-{inviter_confirms}-9be4"));
        let id_a = a.add_shared(agreement(&text_a));
        let id_b = b.add_shared(agreement(&text_b));
        pair_unconfirmed(&a, &b).await;
        let (first, second, first_name) = if inviter_confirms { (&a, &b, "Alex") } else { (&b, &a, "Blair") };
        first.confirm();

        // They connect, say hello, and wait: each badge says who is still to check.
        let waiting = first.status_until("the confirmed phone waits", |s| {
            s.pairing == steady::net::PairingState::Confirmed && !s.partner_confirmed && s.link == LinkState::Connected
        });
        let waiting = waiting.await;
        let other_name = waiting.partner.as_ref().unwrap().name.clone();
        assert_ne!(other_name, first_name);
        assert_eq!(steady::ui::service::badge_text(&waiting), format!("Waiting for {other_name} · 1 not sent yet"));
        let unconfirmed = second
            .status_until("the other phone waits for its person", |s| {
                s.pairing == steady::net::PairingState::Unconfirmed && s.link == LinkState::Connected
            })
            .await;
        assert!(steady::ui::service::badge_text(&unconfirmed).starts_with("Waiting for you to check the words"));
        tokio::time::sleep(Duration::from_secs(3)).await;

        // The searches find each phone's own text where it is...
        assert!(dir_contains(a.dir.path(), &text_a) && dir_contains(b.dir.path(), &text_b));
        // ...and nothing of the other's, anywhere.
        for (phone, theirs) in [(&a, &text_b), (&b, &text_a)] {
            assert!(!dir_contains(phone.dir.path(), theirs), "{theirs} reached the other phone's files");
            assert!(!phone.knows(theirs), "{theirs} reached the other phone's journal");
        }
        let wire = [a.tap.bytes(), b.tap.bytes()].concat();
        assert!(!contains(&wire, &text_a) && !contains(&wire, &text_b), "shared text went onto the network");
        assert_eq!(a.shared_ids(), vec![id_a]);
        assert_eq!(b.shared_ids(), vec![id_b]);
        assert_eq!(a.store().waiting_count().unwrap(), 1, "A's share still waits in its outbox");
        // Each phone made its shares ready to go while its person compared the words,
        // in its own document; the two documents still have nothing in common but the
        // genesis.
        for phone in [&a, &b] {
            eventually_sync("the shares are made ready", || phone.store().is_staged().unwrap());
        }
        assert_ne!(a.store().heads(), b.store().heads());

        // The second person confirms: sync starts, and now the same searches find it all.
        let confirmed_at = Instant::now();
        second.confirm();
        eventually("the sync after both confirmed", Duration::from_secs(5), || {
            a.shared_ids().len() == 2 && b.shared_ids().len() == 2
        })
        .await;
        println!("synced {:?} after the second confirmation", confirmed_at.elapsed());
        let wire = [a.tap.bytes(), b.tap.bytes()].concat();
        assert!(contains(&wire, &text_a) && contains(&wire, &text_b), "the tap sees shared text once confirmed");
        assert!(dir_contains(b.dir.path(), &text_a) && dir_contains(a.dir.path(), &text_b));
        let synced = first.status_until("both badges say up to date", |s| s.link == LinkState::Synced).await;
        assert_eq!(steady::ui::service::badge_text(&synced), "Up to date");
    }
}

/// While the words are still being compared, the waiting shares are made ready again
/// after a change took the staged fold back, and after the node started again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shares_are_made_ready_again_after_a_change_or_a_restart_while_the_words_are_compared() {
    let a = Phone::new("Alex").await;
    let mut b = Phone::new("Blair").await;
    let waiting = b.add_shared(agreement("BLAIR-FIRST-WORDS-4a7e"));
    pair_unconfirmed(&a, &b).await;
    eventually_sync("B makes its share ready", || b.store().is_staged().unwrap());
    let staged_words = |b: &Phone, text: &str| contains(&b.store().document_bytes().unwrap(), text);
    assert!(staged_words(&b, "BLAIR-FIRST-WORDS-4a7e"), "the search finds the staged words");

    // The person rewrites the waiting share: the staged fold is taken back whole, and the
    // node makes it ready again with the new words.
    b.store().edit(waiting, agreement("BLAIR-NEW-WORDS-93c2")).unwrap();
    eventually_sync("B makes the share ready again", || {
        b.store().is_staged().unwrap() && staged_words(&b, "BLAIR-NEW-WORDS-93c2")
    });
    assert!(!staged_words(&b, "BLAIR-FIRST-WORDS-4a7e"), "the old words left no trace");

    // The app closes with nothing staged (say, closed while staging ran): started again,
    // the node stages.
    b.node.shutdown().await;
    b.store().unstage().unwrap();
    assert!(!b.store().is_staged().unwrap());
    let config = NetConfig {
        discovery: false,
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
        tap: Some(b.tap.clone()),
        ..NetConfig::default()
    };
    b.node = Node::start(b.store(), config).await.unwrap();
    eventually_sync("B makes its share ready after starting again", || b.store().is_staged().unwrap());

    // Both confirm: what goes is the share as it was last written.
    a.confirm();
    b.confirm();
    eventually("the sync after both confirmed", Duration::from_secs(10), || a.shared_ids().contains(&waiting)).await;
    assert!(a.knows("BLAIR-NEW-WORDS-93c2"), "the search finds what was sent");
    assert!(!a.knows("BLAIR-FIRST-WORDS-4a7e") && !b.knows("BLAIR-FIRST-WORDS-4a7e"));
    assert!(!contains(&[a.tap.bytes(), b.tap.bytes()].concat(), "BLAIR-FIRST-WORDS-4a7e"));
}

/// "They don't match" forgets the pairing on this phone only: no message to the other
/// phone, nothing exchanged, and the other phone can no longer reach this one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn they_dont_match_forgets_the_pairing_on_this_phone_and_nothing_is_exchanged() {
    let a = Phone::new("Alex").await;
    let b = Phone::new("Blair").await;
    let text_a = "ALEX-BEFORE-REJECT-27f1";
    a.add_shared(agreement(text_a));
    let waiting_b = b.add_shared(agreement("BLAIR-WAITS-c08e"));
    pair_unconfirmed(&a, &b).await;
    a.confirm();
    eventually_sync("B makes its share ready while the words are shown", || b.store().is_staged().unwrap());
    assert!(contains(&b.store().document_bytes().unwrap(), "BLAIR-WAITS-c08e"), "the search finds it where it is");
    let mut b_store = b.store();
    assert!(b_store.couple().unwrap().is_some());
    let forgotten = peers::reject(&mut b_store).unwrap().expect("B had a pairing");
    assert_eq!(forgotten.name, "Alex");
    assert!(b_store.couple().unwrap().is_none(), "the couple is forgotten with the pairing");
    drop(b_store);

    b.status_until("B is not paired any more", |s| {
        s.link == LinkState::NotPaired && s.pairing == steady::net::PairingState::Unpaired
    })
    .await;
    // A was not told: it still holds its side of the pairing, and still waits.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let a_status = a.node.status().borrow().clone();
    assert!(a_status.partner.is_some() && !a_status.partner_confirmed, "{a_status:?}");

    assert!(dir_contains(a.dir.path(), text_a), "the search finds the text where it is");
    assert!(!dir_contains(b.dir.path(), text_a) && !b.knows(text_a));
    assert!(!contains(&[a.tap.bytes(), b.tap.bytes()].concat(), text_a));
    // B's share keeps waiting, for whoever B pairs with next; what B had made ready of it
    // while the words were shown is gone with the pairing.
    assert_eq!(b.shared_ids(), vec![waiting_b]);
    assert!(b.store().get(waiting_b).unwrap().waiting);
    assert!(!b.store().is_staged().unwrap());
    assert!(!contains(&b.store().document_bytes().unwrap(), "BLAIR-WAITS-c08e"));
}

/// After unpairing, the journal shared with the old partner stays on this phone, apart
/// and read-only, and nothing of it, nor of what I had shared with them, reaches the
/// next partner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_unpairing_a_third_phone_receives_nothing_of_the_first_partners_journal() {
    let a = Phone::new("Alex").await;
    let b = Phone::new("Blair").await;
    let (old_mine, old_theirs, new_mine) = ("ALEX-TO-BLAIR-4e0a", "BLAIR-SECRET-d7c3", "ALEX-TO-CASEY-815b");
    let old_a = a.add_shared(agreement(old_mine));
    let old_b = b.add_shared(Draft::Reflection {
        feeling: old_theirs.into(),
        needing: Some("time".into()),
        understanding: None,
    });
    pair(&a, &b).await;
    eventually("the first sync", Duration::from_secs(10), || {
        a.shared_ids() == b.shared_ids() && a.shared_ids().len() == 2
    })
    .await;

    a.node.unpair().await.unwrap();
    let pasts = a.store().past_documents().unwrap();
    assert_eq!(pasts.len(), 1);
    assert_eq!(pasts[0].partner, "Blair");
    let theirs = a.store().past_entries(pasts[0].id).unwrap();
    assert_eq!(theirs.iter().map(|e| e.id).collect::<Vec<_>>(), vec![old_b], "Blair's entry, kept apart");
    let mine = a.store().get(old_a).unwrap();
    assert!(!mine.shared && mine.shared_before, "my entry is private again: {mine:?}");
    assert!(!a.knows(old_theirs), "nothing of Blair's is in A's current journal");

    // A pairs with a third phone, Casey, and shares something new. Blair's phone keeps
    // running, still thinking it is paired with A.
    let mark = a.tap.len();
    let new_a = a.add_shared(agreement(new_mine));
    let c = Phone::new("Casey").await;
    let paired = pair(&a, &c).await;
    assert_eq!(paired.name, "Alex");
    eventually("the sync with Casey", Duration::from_secs(10), || c.shared_ids() == vec![new_a]).await;
    a.node.local_change();
    tokio::time::sleep(Duration::from_secs(1)).await;

    // The searches find each text where it belongs...
    assert!(dir_contains(b.dir.path(), old_theirs) && contains(&b.tap.bytes(), old_theirs));
    assert!(dir_contains(b.dir.path(), old_mine), "Blair's phone keeps the copy it received");
    assert!(dir_contains(c.dir.path(), new_mine) && contains(&a.tap.bytes()[mark..], new_mine));
    // ...and none of the first pairing's on Casey's phone or on the wire to it.
    let to_casey = [&a.tap.bytes()[mark..], c.tap.bytes().as_slice()].concat();
    for old in [old_theirs, old_mine] {
        assert!(!dir_contains(c.dir.path(), old), "{old} is in Casey's files");
        assert!(!c.knows(old), "{old} is in Casey's journal");
        assert!(!contains(&to_casey, old), "{old} went onto the network after unpairing");
    }
    assert!(!a.knows(old_theirs), "Blair's entry is not in A's new journal");
    assert_eq!(c.store().entries().unwrap().len(), 1, "Casey has only the one new entry");
    let doc = automerge::Automerge::load(&a.store().document_bytes().unwrap()).unwrap();
    assert!(!contains(&doc.save_nocompress(), old_mine), "the new document's history starts afresh");
}

/// What a hand-made hostile phone, holding the partner's keys, does to the shared
/// document before it syncs.
#[derive(Clone, Copy, Debug)]
enum Hostile {
    EditsMyEntry,
    DeletesMyEntry,
    ForgesMyAuthorship,
    UsesMyActor,
    ReplacesEntries,
}

/// A phone that holds the partner's keys and sends a change that breaks the rules, for
/// each way of breaking them: the change is refused whole, the `refused` event says why,
/// sync stops (and stays stopped, across restarts) until resumed, and my entries are as
/// they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partners_phone_that_changes_what_is_mine_is_refused_and_sync_stops() {
    use automerge::sync::SyncDoc;
    use automerge::transaction::Transactable;
    use automerge::{ObjType, ROOT, ReadDoc};
    use steady::net::frame::{self, MAX_SYNC_FRAME, SyncFrame};

    for hostile in [
        Hostile::EditsMyEntry,
        Hostile::DeletesMyEntry,
        Hostile::ForgesMyAuthorship,
        Hostile::UsesMyActor,
        Hostile::ReplacesEntries,
    ] {
        let a = Phone::new("Alex").await;
        let b = Phone::new("Blair").await;
        let mine =
            a.add_shared(Draft::Reflection { feeling: "Mine to change".into(), needing: None, understanding: None });
        pair(&a, &b).await;
        eventually("the sync", Duration::from_secs(10), || b.shared_ids() == vec![mine]).await;
        let before = a.store().entries().unwrap();
        let address = a.address().await;
        let (me, my_actor) = {
            let store = a.store();
            (store.me().unwrap().id, store.actor())
        };
        let mut b_store = b.store();
        let b_key = todays_key(&mut b_store);
        // B's hello, as B's phone makes it from the couple secret.
        let b_partner = peers::partner(&b_store).unwrap().unwrap();
        let couple = steady::net::sync::hello_token(
            b_partner.network.as_ref().unwrap(),
            b_partner.role.unwrap(),
            &b_partner.couple_bytes().unwrap(),
        );
        // B's own document, under B's own actor (or, to forge, mine), changed by hand.
        let actor = if matches!(hostile, Hostile::UsesMyActor) { my_actor } else { b_store.actor() };
        let mut doc = automerge::Automerge::load(&b_store.document_bytes().unwrap()).unwrap().with_actor(actor);
        let them = b_store.me().unwrap().id;
        drop(b_store);
        let mut tx = doc.transaction();
        let (_, entries) = tx.get(ROOT, "entries").unwrap().unwrap();
        let new_entry = |tx: &mut automerge::transaction::Transaction<'_>, author: String| {
            let entry = tx.put_object(&entries, EntryId::new().to_string(), ObjType::Map).unwrap();
            for (key, value) in [("kind", "agreement"), ("author", &author), ("text", "HOSTILE-TEXT-0aa1")] {
                tx.put(&entry, key, value).unwrap();
            }
            tx.put(&entry, "proposed_by", author.as_str()).unwrap();
            tx.put(&entry, "status", "active").unwrap();
            tx.put(&entry, "archived", false).unwrap();
            for key in ["created_at", "updated_at"] {
                tx.put(&entry, key, "2026-05-01T10:00:00.000Z").unwrap();
            }
        };
        match hostile {
            Hostile::EditsMyEntry => {
                let (_, entry) = tx.get(&entries, mine.to_string()).unwrap().unwrap();
                tx.put(&entry, "feeling", "HOSTILE-TEXT-0aa1").unwrap();
            }
            Hostile::DeletesMyEntry => tx.delete(&entries, mine.to_string()).unwrap(),
            Hostile::ForgesMyAuthorship => new_entry(&mut tx, me.to_string()),
            // A well-formed entry of B's own, but made under my device's actor.
            Hostile::UsesMyActor => new_entry(&mut tx, them.to_string()),
            Hostile::ReplacesEntries => {
                tx.put_object(ROOT, "entries", ObjType::Map).unwrap();
            }
        }
        tx.commit();
        drop(b);
        a.status_until("A is apart", |s| s.link == LinkState::Looking || s.link == LinkState::Offline).await;

        let mut a_events = a.node.subscribe();
        let mut raw = RawPeer::dial(b_key.clone(), address.clone());
        assert!(raw.connected().await, "{hostile:?}: the partner's key is let in");
        let protocol = StreamProtocol::new("/steady/sync/1");
        let mut incoming = raw.control.accept(protocol.clone()).unwrap();
        // A opens the session itself, at once or after its fallback wait; only if it never
        // does is one opened from here (two at once, and A keeps its own).
        let mut stream = match tokio::time::timeout(Duration::from_secs(3), incoming.next()).await {
            Ok(Some((_, stream))) => stream,
            _ => raw.control.open_stream(a.node.peer_id(), protocol).await.unwrap(),
        };
        let write = |frame: SyncFrame| frame::prefixed(&frame.encode(), MAX_SYNC_FRAME).unwrap();
        stream.write_all(&write(SyncFrame::Hello { couple, confirmed: true })).await.unwrap();
        let mut state = automerge::sync::State::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let out = match doc.generate_sync_message(&mut state) {
                Some(message) => write(SyncFrame::Sync(message)),
                None => write(SyncFrame::Ping),
            };
            if stream.write_all(&out).await.is_err() {
                break;
            }
            match tokio::time::timeout(Duration::from_millis(300), frame::read_body(&mut stream, MAX_SYNC_FRAME)).await
            {
                Ok(Ok(Some(body))) => {
                    if let Ok(SyncFrame::Sync(message)) = SyncFrame::decode(&body) {
                        doc.receive_sync_message(&mut state, message).unwrap();
                    }
                }
                Ok(_) => break,
                Err(_) => {}
            }
        }
        let mut reason = None;
        while let Ok(Ok(event)) = tokio::time::timeout(Duration::from_secs(2), a_events.recv()).await {
            if let NetEvent::Refused { reason: r, .. } = event {
                reason = Some(r);
                break;
            }
        }
        let reason = reason.unwrap_or_else(|| panic!("{hostile:?}: A said nothing about why"));
        println!("{hostile:?}: {reason}");
        assert!(reason.ends_with(". Sync is stopped."), "{hostile:?}: {reason}");
        if let Hostile::EditsMyEntry = hostile {
            assert_eq!(reason, "Your partner's phone sent changes to entries that are yours. Sync is stopped.");
        }
        assert_eq!(a.store().entries().unwrap(), before, "{hostile:?}: my entries are unchanged");
        assert!(!a.knows("HOSTILE-TEXT-0aa1"), "{hostile:?}");
        assert!(!dir_contains(a.dir.path(), "HOSTILE-TEXT-0aa1"), "{hostile:?}: nothing of it was written");
        assert_eq!(peers::stopped(&a.store()).unwrap().as_deref(), Some(reason.as_str()), "kept across restarts");
        let status = a.status_until("the badge says stopped", |s| s.link == LinkState::Stopped).await;
        assert_eq!(status.stopped.as_deref(), Some(reason.as_str()));
        assert_eq!(steady::ui::service::badge_text(&status), "Sync stopped");

        // It stays stopped: the partner's key is turned away until the person resumes.
        drop(stream);
        drop(raw);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut again = RawPeer::dial(b_key.clone(), address.clone());
        let connected = again.connected().await;
        let kept = connected && tokio::time::timeout(Duration::from_secs(1), again.events.recv()).await.is_err();
        assert!(!kept, "{hostile:?}: a stopped phone lets the partner's phone in");
        a.node.set_paused(false).await.unwrap();
        assert!(peers::stopped(&a.store()).unwrap().is_none(), "resuming lifts the stop");
    }
}

/// Two phones whose pairings differ (one paired again, say) say so and sync nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_in_a_different_pairing_is_told_to_pair_again() {
    let a = Phone::new("Alex").await;
    let b = Phone::new("Blair").await;
    let shared = a.add_shared(agreement("DIFFERENT-PAIRING-33c9"));
    pair(&a, &b).await;
    eventually("the sync", Duration::from_secs(10), || b.shared_ids() == vec![shared]).await;
    let address = a.address().await;
    let b_key = todays_key(&mut b.store());
    drop(b);
    a.status_until("A is apart", |s| s.link == LinkState::Looking || s.link == LinkState::Offline).await;

    let mut a_events = a.node.subscribe();
    let mut raw = RawPeer::dial(b_key, address);
    assert!(raw.connected().await);
    let protocol = StreamProtocol::new("/steady/sync/1");
    let mut incoming = raw.control.accept(protocol.clone()).unwrap();
    let mut stream = match tokio::time::timeout(Duration::from_millis(500), incoming.next()).await {
        Ok(Some((_, stream))) => stream,
        _ => raw.control.open_stream(a.node.peer_id(), protocol).await.unwrap(),
    };
    let hello = steady::net::frame::SyncFrame::Hello { couple: [0x5a; 16], confirmed: true };
    stream.write_all(&steady::net::frame::prefixed(&hello.encode(), 64).unwrap()).await.unwrap();
    let mut sink = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut sink)).await;
    assert!(read.is_ok(), "A closed the session");
    let mut reason = None;
    while let Ok(Ok(event)) = tokio::time::timeout(Duration::from_secs(2), a_events.recv()).await {
        if let NetEvent::Refused { reason: r, .. } = event {
            reason = Some(r);
            break;
        }
    }
    assert_eq!(reason.as_deref(), Some("your partner's phone has a different pairing; pair again"));
    assert!(!contains(&sink, "DIFFERENT-PAIRING-33c9"), "A sent nothing of the document before the hellos agreed");
}
