//! The Us screen and the sync badge with a real network node behind them (over loopback,
//! discovery off): pairing from the screen, checking the words, then the badge following
//! a sync, unpairing, and the past pairing kept apart.

use crate::harness;

use std::time::Duration;

use dioxus::prelude::*;
use harness::Screen;
use steady::model::{Draft, Outcome};
use steady::net::invite::Invitation;
use steady::net::{NetConfig, Node, peers};
use steady::store::Store;
use steady::ui::service::NetOptions;
use steady::ui::{App, DataDir};
use tempfile::TempDir;

fn loopback() -> Vec<libp2p::Multiaddr> {
    vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()]
}

/// One free loopback port, kept across the window's node stopping and starting again
/// (as a phone's remembered port is), so the partner finds it where it was.
fn loopback_port() -> Vec<libp2p::Multiaddr> {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    vec![format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap()]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairing_from_the_us_screen_then_the_badge_follows_the_sync() {
    let mine = TempDir::new().unwrap();
    Store::open_dir_without_passcode(mine.path()).unwrap().init("Alex").unwrap();
    let dom = VirtualDom::new(App)
        .with_root_context(DataDir(mine.path().to_owned()))
        .with_root_context(NetOptions { discovery_allowed: false, listen: loopback_port() });
    let mut screen = Screen::new(dom);
    screen.tap("data-tab", "us");
    assert!(screen.html().contains("Not paired"));
    screen.tap("data-action", "invite");
    assert!(screen.wait_until(Duration::from_secs(10), |h| h.contains("data-invite-code")).await, "no invite shown");
    let link = screen.attribute("id", "invite-link", "value").expect("the link is on screen");
    let code = screen.attribute("class", "invite-code", "data-invite-code").unwrap();
    assert!(link.contains(&code) && screen.html().contains("<svg"), "code, link and QR code are shown");
    assert!(screen.html().contains("by voice or in person"), "the link says how the words are compared");

    // The partner's phone joins with the link.
    let theirs = TempDir::new().unwrap();
    let mut their_store = Store::open_dir_without_passcode(theirs.path()).unwrap();
    their_store.init("Blair").unwrap();
    let id = their_store.add(Draft::Agreement { text: "Blair shares this".into() }).unwrap().id;
    their_store.share(id).unwrap();
    drop(their_store);
    let config = NetConfig { discovery: false, listen: loopback(), ..NetConfig::default() };
    let partner = Node::start(Store::open_dir_without_passcode(theirs.path()).unwrap(), config).await.unwrap();
    let paired = partner.join(Invitation::parse(&link).unwrap()).await.unwrap();
    let words = paired.safety_words.join(" ");
    assert!(
        screen.wait_until(Duration::from_secs(10), |h| h.contains(&format!("data-safety-words=\"{words}\""))).await,
        "the screen shows the same safety words: {words}"
    );
    assert!(screen.html().contains("data-action=\"words-differ\""), "both answers are offered");
    // Nothing syncs until the words are checked on both phones.
    screen.tap("data-action", "words-match");
    assert!(
        screen.wait_until(Duration::from_secs(10), |h| h.contains("Waiting for Blair")).await,
        "the badge waits for the partner: {}",
        screen.html()
    );
    assert!(!screen.html().contains("Blair shares this"));
    peers::confirm(&mut Store::open_dir_without_passcode(theirs.path()).unwrap()).unwrap();
    assert!(
        screen.wait_until(Duration::from_secs(10), |h| h.contains("Up to date")).await,
        "the badge says up to date: {}",
        screen.html()
    );
    assert!(!screen.html().contains("Synced at"), "no time of day");
    screen.tap("data-tab", "agreements");
    assert!(screen.wait_until(Duration::from_secs(10), |h| h.contains("Blair shares this")).await);

    // The partner goes away (this window listens on loopback only, so it has no network
    // to look on), writes, and comes back by address: the badge follows.
    let address = screen.attribute("id", "invite-link", "value");
    assert!(address.is_none(), "the invite is gone once paired");
    partner.shutdown().await;
    drop(partner);
    assert!(
        screen.wait_until(Duration::from_secs(10), |h| h.contains(">Offline · last synced today<")).await,
        "apart, the badge says only the day: {}",
        screen.html()
    );
    let mut their_store = Store::open_dir_without_passcode(theirs.path()).unwrap();
    let id = their_store.add(Draft::Agreement { text: "Written while apart".into() }).unwrap().id;
    their_store.share(id).unwrap();
    let window = steady::net::peers::addresses(&their_store).unwrap();
    let config = NetConfig { discovery: false, listen: loopback(), dial: window, ..NetConfig::default() };
    let partner = Node::start(Store::open_dir_without_passcode(theirs.path()).unwrap(), config).await.unwrap();
    assert!(
        screen
            .wait_until(Duration::from_secs(10), |h| h.contains("Up to date") && h.contains("Written while apart"))
            .await,
        "{}",
        screen.html()
    );

    // Pausing from the window tells the running node, which ends the session at once;
    // then nothing of sync runs while paused. A check-in Blair makes meanwhile (which
    // leaves Blair's phone at once) waits for the resume.
    screen.tap("data-tab", "us");
    screen.tap("data-action", "pause");
    assert!(screen.wait_until(Duration::from_secs(5), |h| h.contains(">Sync paused")).await, "{}", screen.html());
    let mut their_store = Store::open_dir_without_passcode(theirs.path()).unwrap();
    let agreement =
        their_store.entries().unwrap().into_iter().find(|e| e.body.main_text() == "Blair shares this").unwrap().id;
    their_store.check_in(agreement, Outcome::Kept, None).unwrap();
    drop(their_store);
    partner.local_change();
    tokio::time::sleep(Duration::from_secs(2)).await;
    screen.tap("data-tab", "agreements");
    assert!(screen.html().contains("Kept 0 of 0 check-ins"), "nothing arrives while paused: {}", screen.html());
    screen.tap("data-tab", "us");
    screen.tap("data-action", "resume");
    screen.tap("data-tab", "agreements");
    assert!(
        screen.wait_until(Duration::from_secs(10), |h| h.contains("Kept 1 of 1 check-ins")).await,
        "after resuming it arrives: {}",
        screen.html()
    );
    partner.shutdown().await;

    // Unpairing sets what Blair shared apart, read-only, to export or delete for good.
    let exports = TempDir::new().unwrap();
    screen.tap("data-tab", "us");
    screen.type_into("id", "export-path", &exports.path().join("steady-journal.json").display().to_string());
    unpair_from_the_us_screen(&mut screen, "Blair").await;
    assert!(screen.html().contains("Blair shares this") && screen.html().contains("Written while apart"));
    assert!(screen.html().contains("Not paired"));
    screen.tap("data-action", "export-past");
    let saved: Vec<_> = std::fs::read_dir(exports.path()).unwrap().flatten().map(|e| e.path()).collect();
    assert_eq!(saved.len(), 1, "one file in the export folder: {saved:?}");
    let doc = automerge::Automerge::load(&std::fs::read(&saved[0]).unwrap()).expect("any Automerge program reads it");
    assert!(!doc.get_heads().is_empty());
    screen.tap("data-action", "delete-past");
    assert!(screen.html().contains("Yes, delete for good"), "deleting asks first");
    screen.tap("data-action", "delete-past-confirm");
    assert!(screen.wait_until(Duration::from_secs(5), |h| !h.contains("From your time with Blair")).await);
    assert!(Store::open_dir_without_passcode(mine.path()).unwrap().past_documents().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn they_dont_match_forgets_the_pairing_from_the_us_screen() {
    let mine = TempDir::new().unwrap();
    Store::open_dir_without_passcode(mine.path()).unwrap().init("Alex").unwrap();
    let dom = VirtualDom::new(App)
        .with_root_context(DataDir(mine.path().to_owned()))
        .with_root_context(NetOptions { discovery_allowed: false, listen: loopback() });
    let mut screen = Screen::new(dom);
    screen.tap("data-tab", "us");
    screen.tap("data-action", "invite");
    assert!(screen.wait_until(Duration::from_secs(10), |h| h.contains("data-invite-code")).await);
    let link = screen.attribute("id", "invite-link", "value").unwrap();
    let theirs = TempDir::new().unwrap();
    Store::open_dir_without_passcode(theirs.path()).unwrap().init("Blair").unwrap();
    let config = NetConfig { discovery: false, listen: loopback(), ..NetConfig::default() };
    let partner = Node::start(Store::open_dir_without_passcode(theirs.path()).unwrap(), config).await.unwrap();
    partner.join(Invitation::parse(&link).unwrap()).await.unwrap();
    assert!(screen.wait_until(Duration::from_secs(10), |h| h.contains("data-safety-words")).await);
    // The badge follows from the node's next look at the file.
    assert!(
        screen.wait_until(Duration::from_secs(5), |h| h.contains("Waiting for you to check the words")).await,
        "{}",
        screen.html()
    );
    screen.tap("data-action", "words-differ");
    assert!(screen.wait_until(Duration::from_secs(5), |h| h.contains("Pairing forgotten")).await, "{}", screen.html());
    assert!(screen.html().contains("Not paired") && screen.html().contains("Invite my partner"));
    let store = Store::open_dir_without_passcode(mine.path()).unwrap();
    assert!(peers::partner(&store).unwrap().is_none() && store.couple().unwrap().is_none());
    // The other phone was not told.
    assert!(peers::partner(&Store::open_dir_without_passcode(theirs.path()).unwrap()).unwrap().is_some());
    partner.shutdown().await;
}

/// A shared document stored bigger than Steady opens: the window opens, lists what was
/// shared, says why nothing syncs (with no "Resume", which could not help), and unpairing
/// from the Us screen sets the document apart, keeping what Blair shared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_document_too_big_to_open_can_be_unpaired_from_the_us_screen() {
    let (mine, theirs) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let (da, db) = (mine.path(), theirs.path());
    crate::common::ok(da, &["init", "--name", "Alex", "--no-passcode"]);
    crate::common::ok(db, &["init", "--name", "Blair", "--no-passcode"]);
    let id = crate::common::ok(db, &["add", "agreement", "TOO-BIG-FROM-BLAIR-51c"]).trim().to_owned();
    crate::common::ok(db, &["share", &id]);
    crate::cli::pair_and_sync(da, db, 1);
    let mut store = Store::open_dir_without_passcode(da).unwrap();
    store.append_unchecked_change(&vec![0x5a; steady::store::MAX_OPENED as usize + 1]).unwrap();
    drop(store);

    let dom = VirtualDom::new(App)
        .with_root_context(DataDir(da.to_owned()))
        .with_root_context(NetOptions { discovery_allowed: false, listen: loopback() });
    let mut screen = Screen::new(dom);
    screen.tap("data-tab", "agreements");
    assert!(screen.html().contains("TOO-BIG-FROM-BLAIR-51c"), "{}", screen.html());
    screen.tap("data-tab", "us");
    assert!(
        screen.wait_until(Duration::from_secs(10), |h| h.contains("data-too-big")).await,
        "the screen says why: {}",
        screen.html()
    );
    let html = screen.html();
    assert!(html.contains("more than Steady opens") && html.contains("Sync stopped"), "{html}");
    assert!(!html.contains("data-action=\"resume\""), "resuming could not help: {html}");
    unpair_from_the_us_screen(&mut screen, "Blair").await;
    assert!(screen.html().contains("TOO-BIG-FROM-BLAIR-51c") && screen.html().contains("Not paired"));
    assert_eq!(Store::open_dir_without_passcode(da).unwrap().document_too_big(), None);
}

/// Taps Unpair on the Us screen, confirms, and waits for the past pairing with `name`.
async fn unpair_from_the_us_screen(screen: &mut Screen, name: &str) {
    screen.tap("data-action", "unpair");
    screen.tap("data-action", "unpair-confirm");
    let past = format!("From your time with {name}");
    assert!(screen.wait_until(Duration::from_secs(10), |h| h.contains(&past)).await, "{}", screen.html());
}
