//! The Us screen and the sync badge with a real network node behind them (over loopback,
//! discovery off): pairing from the screen, then the badge following a sync.

mod harness;

use std::time::Duration;

use dioxus::prelude::*;
use harness::Screen;
use steady::model::Draft;
use steady::net::invite::InviteLink;
use steady::net::{NetConfig, Node};
use steady::store::Store;
use steady::ui::sync::NetOptions;
use steady::ui::{App, DataDir};
use tempfile::TempDir;

fn loopback() -> Vec<libp2p::Multiaddr> {
    vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairing_from_the_us_screen_then_the_badge_follows_the_sync() {
    let mine = TempDir::new().unwrap();
    Store::open_dir(mine.path()).unwrap().init("Alex").unwrap();
    let dom = VirtualDom::new(App)
        .with_root_context(DataDir(mine.path().to_owned()))
        .with_root_context(NetOptions { discovery_allowed: false, listen: loopback() });
    let mut screen = Screen::new(dom);
    screen.tap("data-tab", "us");
    assert!(screen.html().contains("Not paired"));
    screen.tap("data-action", "invite");
    assert!(screen.wait_until(Duration::from_secs(10), |h| h.contains("data-invite-code")).await, "no invite shown");
    let link = screen.attribute("id", "invite-link", "value").expect("the link is on screen");
    let code = screen.attribute("class", "invite-code", "data-invite-code").unwrap();
    assert!(link.contains(&code) && screen.html().contains("<svg"), "code, link and QR code are shown");

    // The partner's phone joins with the link.
    let theirs = TempDir::new().unwrap();
    let mut their_store = Store::open_dir(theirs.path()).unwrap();
    their_store.init("Blair").unwrap();
    let id = their_store.add(Draft::Agreement { text: "Blair shares this".into() }).unwrap().id;
    their_store.share(id).unwrap();
    let config = NetConfig { discovery: false, listen: loopback(), ..NetConfig::default() };
    let partner = Node::start(Store::open_dir(theirs.path()).unwrap(), config).await.unwrap();
    let paired = partner.join(InviteLink::parse(&link).unwrap()).await.unwrap();
    let words = paired.safety_words.join(" ");
    assert!(
        screen.wait_until(Duration::from_secs(10), |h| h.contains(&format!("data-safety-words=\"{words}\""))).await,
        "the screen shows the same safety words: {words}"
    );
    screen.tap("data-action", "words-match");
    assert!(
        screen.wait_until(Duration::from_secs(10), |h| h.contains("Synced at")).await,
        "the badge says synced: {}",
        screen.html()
    );
    screen.tap("data-tab", "agreements");
    assert!(screen.wait_until(Duration::from_secs(10), |h| h.contains("Blair shares this")).await);

    // The partner goes away (this window listens on loopback only, so it has no network
    // to look on), writes, and comes back by address: the badge follows.
    let address = screen.attribute("id", "invite-link", "value");
    assert!(address.is_none(), "the invite is gone once paired");
    partner.shutdown().await;
    drop(partner);
    assert!(screen.wait_until(Duration::from_secs(10), |h| h.contains(">Offline<")).await, "{}", screen.html());
    let mut their_store = Store::open_dir(theirs.path()).unwrap();
    let id = their_store.add(Draft::Agreement { text: "Written while apart".into() }).unwrap().id;
    their_store.share(id).unwrap();
    let window = steady::net::peers::addresses(&their_store).unwrap();
    let config = NetConfig { discovery: false, listen: loopback(), dial: window, ..NetConfig::default() };
    let partner = Node::start(Store::open_dir(theirs.path()).unwrap(), config).await.unwrap();
    assert!(
        screen
            .wait_until(Duration::from_secs(10), |h| h.contains("Synced at") && h.contains("Written while apart"))
            .await,
        "{}",
        screen.html()
    );
    partner.shutdown().await;
}
