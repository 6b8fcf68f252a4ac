//! The window's link to the partner's phone. It runs the network node only while it is
//! needed (paired and not paused, or pairing) and the app is in the foreground, and stops
//! it otherwise: a phone in the background loses its sockets anyway, and a half-finished
//! sync does not matter, because every change that arrives is written in one transaction
//! and the next session starts from the heads both sides last agreed on.

use std::rc::Rc;

use chrono::{DateTime, Local, NaiveDate, Utc};
use dioxus::dioxus_core::spawn_forever;
use dioxus::prelude::*;
use libp2p::Multiaddr;

use crate::net::invite::InviteLink;
use crate::net::{Link, NetConfig, NetError, NetEvent, NetStatus, Node, PairingState, peers};
use crate::ui::{JournalSignal, Notice};

/// How the window may use the network, decided at launch.
#[derive(Clone, Debug)]
pub struct NetOptions {
    /// `false` when the app was started with `--no-discovery`: mDNS stays off whatever
    /// the setting on the Us screen says.
    pub discovery_allowed: bool,
    /// Where to listen; empty for every address of this phone.
    pub listen: Vec<Multiaddr>,
}

impl Default for NetOptions {
    fn default() -> Self {
        NetOptions { discovery_allowed: true, listen: Vec::new() }
    }
}

/// Where pairing stands on this screen.
#[derive(Clone, Debug, PartialEq)]
pub enum Pairing {
    Idle,
    /// The invite is being made.
    Opening,
    /// An invite is open; the partner types the code or scans the QR code.
    Inviting {
        code: String,
        link: String,
        qr_svg: String,
    },
    /// Looking for the partner's invite.
    Joining,
    /// Paired just now: both screens show these words, and the person says whether
    /// they match.
    Done {
        name: String,
        words: Vec<String>,
    },
}

/// Shared with every view through the context.
#[derive(Clone, Copy)]
pub struct SyncLink {
    pub status: Signal<NetStatus>,
    /// Whether the app is in the foreground; sync runs only then.
    pub foreground: Signal<bool>,
    pub pairing: Signal<Pairing>,
    node: Signal<Option<Rc<Node>>>,
    multicast: Signal<Option<Rc<crate::platform::MulticastLock>>>,
    journal: JournalSignal,
    notice: Notice,
}

/// The root's hook: makes the link, and starts or stops the node as the app comes to
/// the foreground or leaves it, and as pairing and pausing change what is needed.
pub fn use_sync_link(journal: JournalSignal, notice: Notice, gate: Signal<crate::ui::lock::Gate>) -> SyncLink {
    let foreground = crate::platform::use_foreground();
    let link = use_context_provider(|| {
        let status = journal.peek().as_ref().ok().and_then(|j| j.net_status().ok()).unwrap_or_else(blank_status);
        SyncLink {
            status: Signal::new(status),
            foreground,
            pairing: Signal::new(Pairing::Idle),
            node: Signal::new(None),
            multicast: Signal::new(None),
            journal,
            notice,
        }
    });
    // Unlocked: sync picks up where this phone's settings say it stands.
    use_effect(move || {
        if gate() == crate::ui::lock::Gate::Open {
            link.refresh_at_rest();
        }
    });
    use_effect(move || {
        // Locked: nothing runs, and the node's connection (and key) is dropped.
        if gate() != crate::ui::lock::Gate::Open {
            link.pairing.clone().set(Pairing::Idle);
            return link.stop();
        }
        // Pairing, or its words still on screen: the node the pairing used keeps running.
        let pairing = !matches!(*link.pairing.read(), Pairing::Idle);
        let status = link.status.read();
        let syncing = status.partner.is_some() && !status.paused && status.stopped.is_none();
        let wanted = foreground() && (pairing || syncing);
        drop(status);
        if wanted { link.start() } else { link.stop() }
    });
    link
}

fn blank_status() -> NetStatus {
    NetStatus {
        peer_id: None,
        link: Link::NotPaired,
        partner: None,
        paused: false,
        last_synced: None,
        unsent_changes: 0,
        listening: Vec::new(),
        pairing: PairingState::Unpaired,
        partner_confirmed: false,
        stopped: None,
    }
}

impl SyncLink {
    fn running(&self) -> Option<Rc<Node>> {
        self.node.peek().clone()
    }

    /// Starts the node if it is not running. Without a data directory (component
    /// tests), there is nothing to start. Its tasks belong to the app, not to the screen
    /// that asked, so they go on when a person moves to another tab.
    fn start(mut self) {
        if self.running().is_some() {
            return;
        }
        let Some(dir) = try_consume_context::<crate::ui::DataDir>() else { return };
        let options = try_consume_context::<NetOptions>().unwrap_or_default();
        let discovery_on = self.journal.peek().as_ref().map(|j| j.discovery_on()).unwrap_or(true);
        let config = NetConfig {
            discovery: options.discovery_allowed && discovery_on,
            listen: options.listen.clone(),
            ..NetConfig::default()
        };
        let Some(key) = self.journal.peek().as_ref().ok().and_then(|j| j.key().cloned()) else { return };
        let store = match crate::store::Store::open_dir(&dir.0, &key) {
            Ok(s) => s,
            Err(e) => return self.notice.set(Some(format!("Sync could not start: {e}"))),
        };
        // Android 17 asks once for the local network; elsewhere this does nothing.
        crate::platform::request_local_network();
        if config.discovery {
            match crate::platform::MulticastLock::acquire() {
                Ok(lock) => self.multicast.set(Some(Rc::new(lock))),
                Err(e) => tracing::warn!("no multicast lock, discovery may not work: {e}"),
            }
        }
        let node = match Node::start_on_thread(store, config) {
            Ok(n) => Rc::new(n),
            Err(e) => return self.notice.set(Some(format!("Sync could not start: {e}"))),
        };
        let mut status_rx = node.status();
        let mut events = node.subscribe();
        let mut arrivals = node.arrivals();
        self.node.set(Some(node));
        let mut this = self;
        // What arrived is on disk: show it, only the entries it changed.
        spawn_forever(async move {
            loop {
                let shown = match arrivals.recv().await {
                    Ok(arrived) => this.journal.write().as_mut().ok().map(|j| j.show_arrived(arrived)),
                    // Fell behind: the lists are read whole.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        this.journal.write().as_mut().ok().map(|j| j.reload())
                    }
                    Err(_) => break,
                };
                if let Some(Err(e)) = shown {
                    tracing::warn!("what arrived could not be shown: {e}");
                }
            }
        });
        spawn_forever(async move {
            let mut stopped = this.status.peek().stopped.clone();
            loop {
                let now = status_rx.borrow_and_update().clone();
                if now.stopped.is_some() && now.stopped != stopped {
                    this.notice.set(now.stopped.clone());
                }
                stopped = now.stopped.clone();
                this.status.set(now);
                if status_rx.changed().await.is_err() {
                    break;
                }
            }
        });
        spawn_forever(async move {
            loop {
                let event = match events.recv().await {
                    Ok(e) => e,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => break,
                };
                match event {
                    NetEvent::Paired { name, safety_words, .. } => {
                        this.pairing.set(Pairing::Done { name, words: safety_words });
                        if let Ok(j) = this.journal.write().as_mut() {
                            let _ = j.reload();
                        }
                    }
                    NetEvent::InviteEnded { reason } => {
                        if matches!(*this.pairing.peek(), Pairing::Inviting { .. }) {
                            this.pairing.set(Pairing::Idle);
                            this.notice.set(Some(format!("The invite ended: {reason}.")));
                        }
                    }
                    NetEvent::Refused { reason, .. } if matches!(*this.pairing.peek(), Pairing::Inviting { .. }) => {
                        this.notice.set(Some(format!("Someone tried to join and failed: {reason}")));
                    }
                    _ => {}
                }
            }
        });
    }

    /// Stops the node; what it was doing ends between two writes.
    fn stop(mut self) {
        if self.node.peek().is_none() {
            return;
        }
        self.node.set(None);
        self.multicast.set(None);
        self.refresh_at_rest();
    }

    fn refresh_at_rest(mut self) {
        if let Ok(status) = self.journal.peek().as_ref().map(|j| j.net_status()) {
            match status {
                Ok(s) => self.status.set(s),
                Err(e) => self.notice.set(Some(e)),
            }
        }
    }

    /// Tells the node this phone's journal changed, so the partner hears of it now.
    pub fn local_change(&self) {
        if let Some(node) = self.running() {
            node.local_change();
        }
    }

    /// Shows `state` and starts the node a pairing needs; `None` if it could not start.
    fn begin_pairing(mut self, state: Pairing) -> Option<Rc<Node>> {
        self.pairing.set(state);
        self.start();
        let node = self.running();
        if node.is_none() {
            self.pairing.set(Pairing::Idle);
        }
        node
    }

    pub fn invite(mut self) {
        let Some(node) = self.begin_pairing(Pairing::Opening) else { return };
        spawn_forever(async move {
            // Let the node learn its addresses first, so the invite can name them.
            let mut status = node.status();
            let _ =
                tokio::time::timeout(std::time::Duration::from_secs(2), status.wait_for(|s| !s.listening.is_empty()))
                    .await;
            match node.invite().await {
                Ok(invite) => {
                    let qr_svg = invite.qr_svg().unwrap_or_default();
                    self.pairing.set(Pairing::Inviting {
                        code: invite.code.to_string(),
                        link: invite.to_link(),
                        qr_svg,
                    });
                }
                Err(e) => {
                    self.pairing.set(Pairing::Idle);
                    self.notice.set(Some(e.to_string()));
                }
            }
        });
    }

    pub fn join(mut self, text: &str, address: &str) {
        let mut link = match InviteLink::parse(text) {
            Ok(l) => l,
            Err(e) => return self.notice.set(Some(e.to_string())),
        };
        if !address.trim().is_empty() {
            match peers::parse_host_port(address) {
                Ok(a) => link.addresses.insert(0, a),
                Err(e) => return self.notice.set(Some(format!("Can't reach partner at {}: {e}", address.trim()))),
            }
        }
        let Some(node) = self.begin_pairing(Pairing::Joining) else { return };
        spawn_forever(async move {
            let limit = std::time::Duration::from_secs(60);
            match tokio::time::timeout(limit, node.join(link)).await {
                Ok(Ok(paired)) => {
                    let words = paired.safety_words.iter().map(|w| (*w).to_owned()).collect();
                    self.pairing.set(Pairing::Done { name: paired.name, words });
                }
                // The person cancelled: nothing went wrong, and nothing is said.
                Ok(Err(NetError::Cancelled)) => self.pairing.set(Pairing::Idle),
                Ok(Err(e)) => {
                    self.pairing.set(Pairing::Idle);
                    self.notice.set(Some(e.to_string()));
                }
                Err(_) => {
                    node.cancel_pairing();
                    self.pairing.set(Pairing::Idle);
                    self.notice.set(Some(
                        "No invite found on this Wi-Fi in a minute. Check that both phones are on the same \
                         network, or type the address your partner's screen shows."
                            .to_owned(),
                    ));
                }
            }
        });
    }

    pub fn cancel_pairing(mut self) {
        if let Some(node) = self.running() {
            node.cancel_pairing();
        }
        self.pairing.set(Pairing::Idle);
    }

    pub fn finish_pairing(mut self) {
        self.pairing.set(Pairing::Idle);
    }

    /// "They match": the person checked the words, so this phone starts to sync. The
    /// running node sees the change in the file and tells the partner's phone; nothing
    /// restarts.
    pub fn confirm_pairing(mut self) {
        let result = match self.journal.write().as_mut() {
            Ok(j) => j.confirm_pairing(),
            Err(e) => Err(e.clone()),
        };
        if let Err(e) = result {
            self.notice.set(Some(e));
        }
        self.pairing.set(Pairing::Idle);
        self.refresh_at_rest();
    }

    /// "They don't match": forgets the pairing on this phone. The other phone is not
    /// told.
    pub fn reject_pairing(mut self) {
        if let Some(node) = self.running() {
            node.cancel_pairing();
        }
        self.pairing.set(Pairing::Idle);
        self.stop();
        let result = match self.journal.write().as_mut() {
            Ok(j) => j.reject_pairing(),
            Err(e) => Err(e.clone()),
        };
        self.notice.set(Some(match result {
            Ok(()) => "Pairing forgotten: nothing was shared. Pair again when you're together, and compare the words \
                       by voice or in person."
                .to_owned(),
            Err(e) => e,
        }));
        self.refresh_at_rest();
    }

    /// "Connect by address", for networks that block discovery.
    pub fn connect(mut self, address: &str) {
        let target = match peers::parse_host_port(address) {
            Ok(a) => a,
            Err(e) => return self.notice.set(Some(format!("Can't reach partner at {}: {e}", address.trim()))),
        };
        let Some(node) = self.running() else {
            return self.notice.set(Some("Sync is off right now; resume it first.".to_owned()));
        };
        spawn_forever(async move {
            if let Err(e) = node.dial(target).await {
                self.notice.set(Some(e.to_string()));
            }
        });
    }

    /// Pauses or resumes sync. A running node is told directly, and ends or starts its
    /// session at once; otherwise the setting is written for the next start.
    pub fn set_paused(mut self, paused: bool) {
        let Some(node) = self.running() else { return self.change(move |j| j.set_sync_paused(paused)) };
        spawn_forever(async move {
            if let Err(e) = node.set_paused(paused).await {
                self.notice.set(Some(e.to_string()));
            }
            self.refresh_at_rest();
        });
    }

    /// Unpairs. A running node is told directly: it ends the session and lets the
    /// partner's phone go. My shared entries are private again, so the lists reload.
    pub fn unpair(mut self) {
        let Some(node) = self.running() else { return self.change(|j| j.unpair()) };
        spawn_forever(async move {
            if let Err(e) = node.unpair().await {
                self.notice.set(Some(e.to_string()));
            }
            if let Ok(j) = self.journal.write().as_mut()
                && let Err(e) = j.reload()
            {
                self.notice.set(Some(e));
            }
            self.refresh_at_rest();
        });
    }

    /// Settings the node reads only when it starts (the discovery switch, which decides
    /// whether it runs mDNS at all): it is stopped first, and the effect starts it again
    /// if needed.
    pub fn change(mut self, action: impl FnOnce(&mut crate::ui::Journal) -> Result<(), String>) {
        self.stop();
        let result = match self.journal.write().as_mut() {
            Ok(j) => action(j),
            Err(e) => Err(e.clone()),
        };
        if let Err(e) = result {
            self.notice.set(Some(e));
        }
        self.refresh_at_rest();
    }
}

/// The badge's words for where sync stands.
pub fn badge_text(status: &NetStatus) -> String {
    badge_text_on(status, Local::now().date_naive())
}

/// The badge's words on the day `today`. They never say when the partner's phone was last
/// seen: "Up to date" while connected, and only the day of the last sync while apart.
pub fn badge_text_on(status: &NetStatus, today: NaiveDate) -> String {
    let partner = status.partner.as_ref().map(|p| p.name.as_str()).unwrap_or("your partner");
    let day = status.last_synced.map(|at| synced_day(at, today));
    let mut text = match status.link {
        Link::NotPaired => "Not paired".to_owned(),
        _ if status.pairing == PairingState::Unconfirmed => "Waiting for you to check the words".to_owned(),
        Link::Stopped => "Sync stopped".to_owned(),
        Link::Paused => "Sync paused".to_owned(),
        _ if !status.partner_confirmed => format!("Waiting for {partner}"),
        Link::Offline => match day {
            Some(day) => format!("Offline · last synced {day}"),
            None => "Offline".to_owned(),
        },
        Link::Looking => match day {
            Some(day) => format!("Last synced {day}"),
            None => format!("Looking for {partner}"),
        },
        Link::Connected => format!("Connected to {partner}"),
        Link::Synced => "Up to date".to_owned(),
    };
    if status.partner.is_some() && status.unsent_changes > 0 {
        let n = status.unsent_changes;
        text.push_str(&format!(" · {n} not sent yet"));
    }
    text
}

/// The day of the last sync, in words: "today", "yesterday", "3 days ago".
fn synced_day(at: DateTime<Utc>, today: NaiveDate) -> String {
    match (today - at.with_timezone(&Local).date_naive()).num_days() {
        ..=0 => "today".to_owned(),
        1 => "yesterday".to_owned(),
        n => format!("{n} days ago"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::PartnerView;

    #[test]
    fn the_badge_says_where_sync_stands_and_never_when_the_partner_was_seen() {
        let today = Local::now().date_naive();
        let badge = |s: &NetStatus| badge_text_on(s, today);
        let mut s = blank_status();
        assert_eq!(badge(&s), "Not paired");
        s.partner = Some(PartnerView { peer_id: "x".into(), name: "Blair".into() });
        s.pairing = PairingState::Unconfirmed;
        s.link = Link::Connected;
        assert_eq!(badge(&s), "Waiting for you to check the words");
        s.pairing = PairingState::Confirmed;
        assert_eq!(badge(&s), "Waiting for Blair");
        s.partner_confirmed = true;
        assert_eq!(badge(&s), "Connected to Blair");
        s.link = Link::Looking;
        assert_eq!(badge(&s), "Looking for Blair");
        s.unsent_changes = 3;
        assert_eq!(badge(&s), "Looking for Blair · 3 not sent yet");
        s.link = Link::Offline;
        s.unsent_changes = 0;
        assert_eq!(badge(&s), "Offline");
        s.link = Link::Synced;
        s.last_synced = Some(Utc::now());
        assert_eq!(badge(&s), "Up to date");
        s.link = Link::Looking;
        assert_eq!(badge(&s), "Last synced today");
        s.link = Link::Offline;
        assert_eq!(badge(&s), "Offline · last synced today");
        s.link = Link::Looking;
        s.last_synced = Some(Utc::now() - chrono::Duration::days(1));
        assert_eq!(badge(&s), "Last synced yesterday");
        s.last_synced = Some(Utc::now() - chrono::Duration::days(3));
        assert_eq!(badge(&s), "Last synced 3 days ago");
        assert!(!badge(&s).contains(':'), "no time of day");
        s.link = Link::Paused;
        assert_eq!(badge(&s), "Sync paused");
        s.link = Link::Stopped;
        assert_eq!(badge(&s), "Sync stopped");
    }
}
