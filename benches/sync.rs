//! Sync between two phones on a made-up Wi-Fi: two network namespaces on a bridge, each
//! node on a thread that has moved into its phone's namespace, mDNS on. Needs root.
//! Prints one line per figure:
//!
//! - a change on A (a new share, an edit of a shared entry, a check-in on a shared
//!   agreement; 20 ms apart, then new shares back to back) until B's window lists it
//!   (taken from the node as the app takes it), and until B's store has it (p50, p99 over
//!   200 changes of each);
//! - B joins the network holding a 10,000-entry document that A has moved on from by a
//!   few entries, until synced;
//! - the bytes both phones send to catch up one entry, with the sync state saved.

#[path = "../tests/common/netns.rs"]
mod netns;

mod fixture;

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use steady::model::{Body, Draft, Outcome};
use steady::net::{NetConfig, NetEvent, Node, WireTap};
use steady::store::Store;

const EDITS: usize = 200;
const DOC_ENTRIES: usize = 10_000;
const AWAY: Duration = Duration::from_secs(10);
/// How long two people take to read four words to each other and say they match.
const COMPARING: Duration = Duration::from_secs(2);
/// Between two changes measured one at a time: a person's changes come seconds apart, and
/// this lets the last one's acknowledgement finish first.
const QUIET: Duration = Duration::from_millis(20);

/// Starts a node whose sockets live in `ns`.
fn node_in(ns: &str, dir: &Path, tap: Option<WireTap>) -> Node {
    let (tx, rx) = mpsc::channel();
    let (ns, dir) = (ns.to_owned(), dir.to_owned());
    std::thread::spawn(move || {
        netns::enter(&ns);
        let config = NetConfig { tap, ..NetConfig::default() };
        let _ = tx.send(Node::start_on_thread(Store::open_dir_without_passcode(&dir).unwrap(), config).unwrap());
    });
    rx.recv().unwrap()
}

/// Waits for the first event `want` accepts, asleep until events come, so the phones
/// being measured have both cores. `STEADY_BENCH_SPIN=1` waits as this bench once did,
/// spinning on a core, to compare.
fn wait(
    runtime: &tokio::runtime::Runtime,
    events: &mut tokio::sync::broadcast::Receiver<NetEvent>,
    limit: Duration,
    want: impl Fn(&NetEvent) -> bool,
) {
    if std::env::var_os("STEADY_BENCH_SPIN").is_some() {
        let deadline = Instant::now() + limit;
        loop {
            assert!(Instant::now() < deadline, "nothing arrived within {limit:?}");
            match events.try_recv() {
                Ok(e) if want(&e) => return,
                Ok(_) | Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::TryRecvError::Empty) => std::thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        }
    }
    let found = runtime.block_on(async {
        let next = async {
            loop {
                match events.recv().await {
                    Ok(e) if want(&e) => return,
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(e) => panic!("{e}"),
                }
            }
        };
        tokio::time::timeout(limit, next).await
    });
    assert!(found.is_ok(), "nothing arrived within {limit:?}");
}

fn received(e: &NetEvent) -> bool {
    matches!(e, NetEvent::Synced { received, .. } if *received > 0)
}

/// The kinds of change that leave at once.
#[derive(Clone, Copy)]
enum Change {
    /// A new share (counted from the end of its undo window: shared here as the command
    /// line shares, ready at once).
    Share,
    /// New words for a shared agreement.
    Edit,
    /// A check-in on a shared agreement.
    CheckIn,
}

impl Change {
    fn name(self) -> &'static str {
        match self {
            Change::Share => "a new share",
            Change::Edit => "an edit of a shared entry",
            Change::CheckIn => "a check-in on a shared agreement",
        }
    }
}

/// Whether a card shows `text`: as its words, or as a check-in's note.
fn shows(entry: &steady::model::Entry, text: &str) -> bool {
    entry.body.main_text() == text
        || matches!(&entry.body, Body::Agreement { check_ins, .. }
            if check_ins.iter().any(|c| c.note.as_deref() == Some(text)))
}

fn share(store: &mut Store, text: &str) {
    let id = store.add(Draft::Agreement { text: text.to_owned() }).unwrap().id;
    store.share(id).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let lan = netns::Lan::new(&["a", "b"]);
    let (ns_a, ns_b) = (lan.ns("a"), lan.ns("b"));
    let work = tempfile::TempDir::new().unwrap();
    let (dir_a, dir_b) = (work.path().join("a"), work.path().join("b"));

    // A holds the 10,000-entry journal; B starts empty and pairs.
    copy_dir(&fixture::waiting_to_share(), &dir_a);
    Store::open_dir_without_passcode(&dir_b).unwrap().init("Blair").unwrap();
    let tap_a = WireTap::default();
    let a = node_in(&ns_a, &dir_a, Some(tap_a.clone()));
    let b = node_in(&ns_b, &dir_b, None);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let link = runtime.block_on(a.invite()).unwrap();
    let mut b_events = b.subscribe();
    let start = Instant::now();
    runtime.block_on(b.join(link)).unwrap();
    // The two people read their words to each other; nothing syncs before both say they
    // match. Meanwhile each node makes its waiting shares ready (`Store::stage_outbox`).
    std::thread::sleep(COMPARING);
    let staged = Store::open_dir_without_passcode(&dir_a).unwrap().is_staged().unwrap();
    for dir in [&dir_a, &dir_b] {
        let mut store = Store::open_dir_without_passcode(dir).unwrap();
        while steady::net::peers::confirm(&mut store).unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    // As the window does after "They match".
    let confirmed = Instant::now();
    a.local_change();
    b.local_change();
    wait(&runtime, &mut b_events, Duration::from_secs(60), received);
    println!(
        "first sync of a 10,000-entry document to a newly paired phone: {:.0} ms from both confirming the words \
         ({:.0} ms from the join, the words compared for {} s; A's shares made ready by then: {staged})",
        ms(confirmed.elapsed()),
        ms(start.elapsed()),
        COMPARING.as_secs(),
    );

    // 1. A change on A until B's window lists it, and until B's store has it. B's window
    // takes what arrived as the app's does (`ui::service`): from the node's arrivals, into
    // its lists. Each kind of change the figure counts, a person's changes seconds apart
    // (here `QUIET` apart, which lets the last one's acknowledgement finish); then new
    // shares back to back, as the bench measured them before.
    let key_b = steady::vault::open_without_passcode(&dir_b).unwrap();
    let mut window_b = steady::ui::Journal::open(&dir_b, &key_b).unwrap();
    let mut store_a = Store::open_dir_without_passcode(&dir_a).unwrap();
    let shared = store_a.add(Draft::Agreement { text: "the agreement A changes".into() }).unwrap().id;
    store_a.share(shared).unwrap();
    let mut events = b.subscribe();
    a.local_change();
    wait(&runtime, &mut events, Duration::from_secs(10), received);
    // `STEADY_BENCH_ONLY=check-in` measures only the kinds whose name holds those words,
    // and not the rejoins: a shorter run to profile.
    let only = std::env::var("STEADY_BENCH_ONLY").ok();
    for (kind, quiet) in
        [(Change::Share, QUIET), (Change::Edit, QUIET), (Change::CheckIn, QUIET), (Change::Share, Duration::ZERO)]
    {
        if only.as_deref().is_some_and(|words| !kind.name().contains(words)) {
            continue;
        }
        let (mut on_screen, mut durable) = (Vec::with_capacity(EDITS), Vec::with_capacity(EDITS));
        for i in 0..EDITS + 20 {
            std::thread::sleep(quiet);
            let mut events = b.subscribe();
            let mut arrivals = b.arrivals();
            let text = format!("{} {i}", kind.name());
            match kind {
                Change::Share => share(&mut store_a, &text),
                Change::Edit => drop(store_a.edit(shared, Draft::Agreement { text: text.clone() }).unwrap()),
                Change::CheckIn => drop(store_a.check_in(shared, Outcome::Kept, Some(&text)).unwrap()),
            }
            let start = Instant::now();
            a.local_change();
            let listing = async {
                loop {
                    let arrived = arrivals.recv().await.expect("arrivals");
                    window_b.show_arrived(arrived).unwrap();
                    if window_b.entries.iter().any(|e| shows(e, &text)) {
                        return start.elapsed();
                    }
                }
            };
            let shown = runtime.block_on(async { tokio::time::timeout(Duration::from_secs(10), listing).await });
            let shown = shown.expect("the change reached B's window");
            wait(&runtime, &mut events, Duration::from_secs(10), received);
            if i >= 20 {
                on_screen.push(shown);
                durable.push(start.elapsed());
            }
        }
        let how = if quiet.is_zero() { "back to back".to_owned() } else { format!("{} ms apart", quiet.as_millis()) };
        for (what, mut times) in [("B's window lists it", on_screen), ("B's store has it", durable)] {
            times.sort();
            println!(
                "{} on A until {what}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({EDITS}, {how})",
                kind.name(),
                ms(percentile(&times, 0.5)),
                ms(percentile(&times, 0.99)),
                ms(*times.last().unwrap())
            );
        }
    }

    // 2 and 3. B leaves; A writes; B joins the network again and catches up.
    let mut b = b;
    let rejoins: &[usize] = if only.is_some() { &[] } else { &[1, 5, 100] };
    for &entries in rejoins {
        runtime.block_on(b.shutdown());
        drop(b);
        // B is away for 10 s: A has long given up its connection and looks every second.
        std::thread::sleep(AWAY);
        for i in 0..entries {
            share(&mut store_a, &format!("written while B was away, {entries}/{i}"));
        }
        a.local_change();
        let a_before = tap_a.sent();
        let tap_b = WireTap::default();
        let start = Instant::now();
        b = node_in(&ns_b, &dir_b, Some(tap_b.clone()));
        let mut events = b.subscribe();
        wait(&runtime, &mut events, Duration::from_secs(30), received);
        let took = start.elapsed();
        // Let the last acknowledgement leave too.
        std::thread::sleep(Duration::from_millis(100));
        println!(
            "B joins the network after {} s away, holding a {DOC_ENTRIES}-entry document, {entries} new on A, until \
             synced: {:.0} ms; \
             bytes sent to catch up: {} B (A {} B, B {} B)",
            AWAY.as_secs(),
            ms(took),
            tap_a.sent() - a_before + tap_b.sent(),
            tap_a.sent() - a_before,
            tap_b.sent()
        );
    }
    runtime.block_on(b.shutdown());
    runtime.block_on(a.shutdown());
    drop(lan);
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
