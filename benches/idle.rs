//! What two paired phones cost when nothing happens: each runs `steady sync` in its own
//! network namespace on a bridge (mDNS on, as on a phone), connected and synced, and
//! nobody writes. Over 60 s it counts each process's wake-ups (voluntary context switches,
//! summed over its threads, from `/proc/<pid>/task/*/status`) and its CPU time (utime and
//! stime from `/proc/<pid>/stat`). Needs root. `STEADY_BIN` measures another build of the
//! app instead of this one (to compare before and after a change).
//!
//! Then the app's window, not paired, under a virtual display: which of its threads, and of
//! the web engine's processes it starts, wake in its first two minutes (starting: loading
//! the page, the JavaScript heap's first collection) and in the minute after, untouched.
//!
//! Apart: the same two phones, then B leaves the Wi-Fi (its process stopped, its link
//! down) and A's `steady sync` is left running for 10 minutes: its wake-ups and CPU.
//! Then B comes back, having shared something meanwhile: how long until A lists it.
//!
//! `cargo bench --bench idle` (`-- window`: the window alone; `-- apart`: apart alone;
//! `-- courier`: a locked phone's courier, apart)

#[path = "../tests/common/netns.rs"]
mod netns;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const IDLE: Duration = Duration::from_secs(60);
/// How long A runs with its partner away.
const APART: Duration = Duration::from_secs(600);
/// How long the window is left to finish starting before its idle minute is counted.
const SETTLING: Duration = Duration::from_secs(120);

fn app() -> String {
    std::env::var("STEADY_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_steady").to_owned())
}

fn run(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(app()).arg("--data-dir").arg(dir).args(args).output().unwrap();
    assert!(out.status.success(), "steady {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn spawn(ns: &str, dir: &Path, args: &[&str]) -> (Child, std::sync::mpsc::Receiver<String>) {
    netns::spawn_in(ns, &app(), dir, args)
}

fn wait_for(lines: &std::sync::mpsc::Receiver<String>, prefix: &str, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines.recv_timeout(left).unwrap_or_else(|_| panic!("no {prefix:?} within {limit:?}"));
        if line.starts_with(prefix) {
            return line;
        }
    }
}

/// Wake-ups so far (voluntary context switches of every thread) and CPU seconds.
fn counters(pid: u32) -> (u64, f64) {
    let switches = by_thread(pid).values().sum();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command's closing parenthesis; utime and stime are 14 and 15.
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (switches, ticks as f64 / per_second)
}

/// Wake-ups so far of each of a process's threads, by thread name.
fn by_thread(pid: u32) -> std::collections::BTreeMap<String, u64> {
    let mut out = std::collections::BTreeMap::new();
    for ((_, _, name), switches) in by_tid(pid) {
        *out.entry(name).or_insert(0) += switches;
    }
    out
}

/// What each thread of a process did between two readings, as "name n, ...".
fn threads_between(
    before: &std::collections::BTreeMap<String, u64>,
    after: &std::collections::BTreeMap<String, u64>,
) -> String {
    after
        .iter()
        .map(|(name, n)| (name, n.saturating_sub(before.get(name).copied().unwrap_or(0))))
        .filter(|(_, n)| *n > 0)
        .map(|(name, n)| format!("{name} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let lan = netns::Lan::new(&["a", "b"]);
    let work = tempfile::TempDir::new().unwrap();
    if std::env::args().skip(1).any(|a| a == "window") {
        idle_window(&lan.ns("a"), work.path());
        return;
    }
    let (da, db) = (work.path().join("a"), work.path().join("b"));
    pair(&lan, &da, &db);
    let (mut a, a_lines) = spawn(&lan.ns("a"), &da, &["sync", "--json"]);
    let (mut b, _) = spawn(&lan.ns("b"), &db, &["sync", "--json"]);
    wait_for(&a_lines, r#"{"event":"synced""#, Duration::from_secs(30));
    if std::env::args().skip(1).any(|a| a == "apart") {
        apart(&lan, &db, &da, (a, a_lines), b);
        return;
    }
    if std::env::args().skip(1).any(|a| a == "courier") {
        // A locks: its courier runs in place of its sync, with no passcode.
        let _ = (a.kill(), a.wait());
        let courier = spawn(&lan.ns("a"), &da, &["courier", "--json"]);
        wait_for(&courier.1, r#"{"event":"connected""#, Duration::from_secs(60));
        courier_apart(&lan, &db, &da, courier, b);
        return;
    }
    std::thread::sleep(Duration::from_secs(5));
    let before = [counters(a.id()), counters(b.id())];
    let threads_before = [by_thread(a.id()), by_thread(b.id())];
    std::thread::sleep(IDLE);
    let after = [counters(a.id()), counters(b.id())];
    let threads_after = [by_thread(a.id()), by_thread(b.id())];
    let still_connected = a_lines.try_iter().all(|l| !l.contains(r#""event":"disconnected""#));
    let mut cpu = 0.0;
    for (name, ((w0, c0), (w1, c1))) in ["A", "B"].iter().zip(before.iter().zip(after.iter())) {
        let wakeups = (w1 - w0) as f64 / IDLE.as_secs_f64();
        println!("{name}: {wakeups:.2} wake-ups a second, {:.3} s of CPU over {} s", c1 - c0, IDLE.as_secs());
        let i = usize::from(*name == "B");
        println!("   by thread, over {} s: {}", IDLE.as_secs(), threads_between(&threads_before[i], &threads_after[i]));
        cpu += c1 - c0;
    }
    println!(
        "an idle connected session for {} s: {cpu:.3} s of CPU on both phones together{}",
        IDLE.as_secs(),
        if still_connected { "" } else { " (the connection dropped meanwhile)" }
    );
    let _ = (a.kill(), b.kill(), a.wait(), b.wait());
    idle_window(&lan.ns("a"), work.path());
    drop(lan);
}

/// Pairs the phones in `da` (namespace a) and `db` (namespace b), both confirmed.
fn pair(lan: &netns::Lan, da: &Path, db: &Path) {
    run(da, &["init", "--name", "Alex", "--no-passcode"]);
    run(db, &["init", "--name", "Blair", "--no-passcode"]);
    let (mut invite, lines) = spawn(&lan.ns("a"), da, &["pair", "invite"]);
    let code = wait_for(&lines, "code: ", Duration::from_secs(10)).trim_start_matches("code: ").to_owned();
    let (mut join, _) = spawn(&lan.ns("b"), db, &["pair", "join", &code]);
    assert!(join.wait().unwrap().success(), "pairing failed");
    assert!(invite.wait().unwrap().success());
    for dir in [da, db] {
        run(dir, &["pair", "confirm"]);
    }
}

/// B leaves the Wi-Fi, and `who` (process `pid`) runs on alone for [`APART`]: its
/// wake-ups and CPU, thread by thread.
fn alone(lan: &netns::Lan, who: &str, lines: &std::sync::mpsc::Receiver<String>, pid: u32, mut b: Child) {
    let _ = (b.kill(), b.wait());
    lan.link("b", false);
    wait_for(lines, r#"{"event":"disconnected""#, Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(5));
    let (before, threads_before) = (counters(pid), by_thread(pid));
    std::thread::sleep(APART);
    let (after, threads_after) = (counters(pid), by_thread(pid));
    let wakeups = (after.0 - before.0) as f64 / APART.as_secs_f64();
    println!(
        "{who}, its partner away for {} s: {wakeups:.3} wake-ups a second ({} in all), {:.3} s of CPU",
        APART.as_secs(),
        after.0 - before.0,
        after.1 - before.1
    );
    println!("   by thread: {}", threads_between(&threads_before, &threads_after));
}

/// B leaves the Wi-Fi; A's sync runs on alone for [`APART`], and is measured. Then B
/// comes back with a share made while away.
fn apart(lan: &netns::Lan, db: &Path, da: &Path, a: (Child, std::sync::mpsc::Receiver<String>), b: Child) {
    let (mut a, a_lines) = a;
    alone(lan, "A", &a_lines, a.id(), b);
    let id = run(db, &["add", "agreement", "Written while away 5d2a"]).trim().to_owned();
    run(db, &["share", &id]);
    lan.link("b", true);
    let back = Instant::now();
    let (mut b, _) = spawn(&lan.ns("b"), db, &["sync", "--json"]);
    let has = || run(da, &["list", "--json"]).contains("Written while away 5d2a");
    while !has() {
        assert!(back.elapsed() < Duration::from_secs(60), "B's share never reached A");
        std::thread::sleep(Duration::from_millis(20));
    }
    println!("B back on the Wi-Fi, its sync started: A lists B's share {} ms later", back.elapsed().as_millis());
    let _ = (a.kill(), b.kill(), a.wait(), b.wait());
}

/// A's courier, with B away for [`APART`], measured as [`apart`] measures a sync; then B
/// comes back with a share, which the courier takes, sealed, and A reads at its unlock.
fn courier_apart(lan: &netns::Lan, db: &Path, da: &Path, a: (Child, std::sync::mpsc::Receiver<String>), b: Child) {
    let (mut a, a_lines) = a;
    alone(lan, "A's courier", &a_lines, a.id(), b);
    let id = run(db, &["add", "agreement", "Written while away 7c1e"]).trim().to_owned();
    run(db, &["share", &id]);
    lan.link("b", true);
    let back = Instant::now();
    let (mut b, _) = spawn(&lan.ns("b"), db, &["sync", "--json"]);
    wait_for(&a_lines, r#"{"event":"letter_received""#, Duration::from_secs(60));
    println!(
        "B back on the Wi-Fi, its sync started: A's courier holds B's letter {} ms later",
        back.elapsed().as_millis()
    );
    let _ = (a.kill(), b.kill(), a.wait(), b.wait());
    assert!(run(da, &["list", "--json"]).contains("Written while away 7c1e"), "A reads it at its unlock");
}

/// The app's window, not paired, open and untouched for 60 s under a virtual display
/// (inside a namespace of its own, like the phones): which of its threads wake. Skipped
/// where `xvfb-run` is missing.
fn idle_window(ns: &str, work: &Path) {
    if Command::new("xvfb-run").arg("--help").output().is_err() {
        println!("the window: skipped, xvfb-run is not installed");
        return;
    }
    let dir = work.join("window");
    run(&dir, &["init", "--name", "Sam", "--no-passcode"]);
    let mut window = Command::new("ip")
        .args(["netns", "exec", ns, "xvfb-run", "-a", &app(), "--data-dir"])
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The app's own process, once its window is up.
    let pattern = format!("^{} --data-dir {}$", app(), dir.display());
    let mut pid = None;
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(100));
        let found = Command::new("pgrep").args(["-f", &pattern]).output().unwrap();
        pid = String::from_utf8_lossy(&found.stdout).lines().next().and_then(|l| l.trim().parse::<u32>().ok());
        if pid.is_some() {
            break;
        }
    }
    let pid = pid.expect("the window started");
    // The first half minute, as the window starts, then the idle minute.
    let started = by_tid(pid);
    std::thread::sleep(SETTLING);
    let before = by_tid(pid);
    std::thread::sleep(IDLE);
    let after = by_tid(pid);
    let processes =
        after.keys().filter(|(process, _, _)| *process != pid).map(|k| k.0).collect::<std::collections::BTreeSet<_>>();
    for (what, from, to) in [
        (format!("starting, its first {} s", SETTLING.as_secs()), &started, &before),
        (format!("not paired, untouched for {} s after that", IDLE.as_secs()), &before, &after),
    ] {
        let woke = woke_between(pid, from, to);
        println!(
            "the window, {what}: {} of its {} threads woke ({} in the app, the rest in the web engine's {} processes): {}",
            woke.len(),
            to.len(),
            to.keys().filter(|(process, _, _)| *process == pid).count(),
            processes.len(),
            if woke.is_empty() { "none".to_owned() } else { woke.join(", ") }
        );
    }
    let _ = Command::new("pkill").args(["-f", &pattern]).status();
    let _ = window.wait();
}

/// The threads that woke between two counts, each with its process and how often.
fn woke_between(pid: u32, from: &Threads, to: &Threads) -> Vec<String> {
    to.iter()
        .map(|(thread, n)| (thread, n.saturating_sub(from.get(thread).copied().unwrap_or(0))))
        .filter(|(_, n)| *n > 0)
        .map(|((process, tid, name), n)| {
            let which = match () {
                _ if *tid == pid => "the app's main thread".to_owned(),
                _ if *process == pid => format!("the app's thread {tid}"),
                _ => format!("thread {tid} of the web engine's process {process}"),
            };
            format!("{name} ({which}) {n}")
        })
        .collect()
}

/// Wake-ups so far of each thread, by process, thread id and name.
type Threads = std::collections::BTreeMap<(u32, u32, String), u64>;

/// Wake-ups so far of each thread of the app's process and of the processes it started
/// (the web engine's).
fn by_tid(pid: u32) -> Threads {
    let mut out = Threads::new();
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    for process in std::iter::once(pid).chain(children.split_whitespace().filter_map(|c| c.parse().ok())) {
        threads_of(process, &mut out);
    }
    out
}

fn threads_of(pid: u32, out: &mut Threads) {
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).into_iter().flatten().flatten() {
        let Ok(tid) = task.file_name().to_string_lossy().parse::<u32>() else { continue };
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        let name = status.lines().find_map(|l| l.strip_prefix("Name:")).unwrap_or("?").trim().to_owned();
        let switches = status
            .lines()
            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
        out.insert((pid, tid, name), switches);
    }
}
