//! The command line, driven as a person would drive it: one process per command, so every
//! step also proves the journal survives a restart.

use crate::common;

use common::{fails, fails_with, list_json, ok, ok_with, snapshot_dir};
use serde_json::Value;

fn find<'a>(list: &'a [Value], id: &str) -> &'a Value {
    list.iter().find(|e| e["id"] == id).unwrap_or_else(|| panic!("{id} is not listed"))
}

#[test]
fn one_entry_of_each_practice_is_recorded_listed_and_kept_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init", "--name", "Alex", "--no-passcode"]);
    let helps = ok(d, &["add", "safety-helps", "Hearing from you when plans change"]).trim().to_owned();
    let harder = ok(d, &["add", "safety-harder", "Plans changing without a word"]).trim().to_owned();
    let reflection =
        ok(d, &["add", "reflection", "Scared", "--needing", "Reassurance", "--understanding", "You were overwhelmed"])
            .trim()
            .to_owned();
    let agreement = ok(d, &["add", "agreement", "Text when running late"]).trim().to_owned();
    let checkin = ok(d, &["add", "checkin", "A walk together after dinner"]).trim().to_owned();
    let note = ok(d, &["add", "transparency", "Out with Sam", "--from", "19:00", "--to", "22:00"]).trim().to_owned();

    let list = list_json(d);
    assert_eq!(list.len(), 6);
    let expect = [
        (&helps, "safety-helps", "Hearing from you when plans change"),
        (&harder, "safety-harder", "Plans changing without a word"),
        (&reflection, "reflection", "Scared"),
        (&agreement, "agreement", "Text when running late"),
        (&checkin, "checkin", "A walk together after dinner"),
        (&note, "transparency", "Out with Sam"),
    ];
    for (id, kind, text) in expect {
        let e = find(&list, id);
        assert_eq!(e["kind"], kind);
        assert_eq!(e["text"], text);
        assert_eq!(e["shared"], false);
        assert_eq!(e["archived"], false);
        assert_eq!(e["author"], "Alex");
        assert!(e["created_at"].as_str().unwrap().starts_with("20"));
    }
    assert_eq!(find(&list, &reflection)["needing"], "Reassurance");
    let window = find(&list, &note);
    assert!(window["from"].is_string() && window["to"].is_string());

    let only_safety: Vec<Value> = serde_json::from_str(&ok(d, &["list", "--kind", "safety", "--json"])).unwrap();
    assert_eq!(only_safety.len(), 2);
    let only_checkins: Vec<Value> = serde_json::from_str(&ok(d, &["list", "--kind", "checkin", "--json"])).unwrap();
    assert_eq!(only_checkins.len(), 1);
    let human = ok(d, &["list"]);
    assert_eq!(human.lines().count(), 6);
    assert!(human.contains("A walk together after dinner"));
}

#[test]
fn share_check_in_archive_and_restore_change_what_is_listed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init", "--name", "Blair", "--no-passcode"]);
    let agreement = ok(d, &["add", "agreement", "Phones away at dinner"]).trim().to_owned();
    ok(d, &["share", &agreement]);
    ok(d, &["share", &agreement]);
    ok(d, &["checkin-agreement", &agreement, "kept", "--note", "Felt close"]);
    ok(d, &["checkin-agreement", &agreement, "renegotiated"]);
    let e = find(&list_json(d), &agreement).clone();
    assert_eq!(e["shared"], true);
    assert_eq!(e["waiting"], true, "no partner has received it yet");
    let check_ins = e["check_ins"].as_object().unwrap();
    assert_eq!(check_ins.len(), 2);
    assert!(check_ins.values().any(|c| c["outcome"] == "kept" && c["note"] == "Felt close"));

    ok(d, &["archive", &agreement]);
    assert_eq!(find(&list_json(d), &agreement)["archived"], true);
    ok(d, &["restore", &agreement]);
    assert_eq!(find(&list_json(d), &agreement)["archived"], false);
    let said = ok(d, &["unshare", &agreement]);
    assert!(said.contains("(not sent yet: it stays private)"), "{said}");
    assert_eq!(find(&list_json(d), &agreement)["shared"], false);
}

#[test]
fn a_second_check_in_on_the_same_day_edits_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init", "--name", "Alex", "--no-passcode"]);
    let first = ok(d, &["add", "checkin", "Coffee together"]);
    let second = ok(d, &["add", "checkin", "Coffee and a long talk"]);
    assert_eq!(first, second);
    let list = list_json(d);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["text"], "Coffee and a long talk");
}

#[test]
fn bad_arguments_and_bad_input_exit_non_zero_with_a_clear_message_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init", "--name", "Alex", "--no-passcode"]);
    let id = ok(d, &["add", "agreement", "Say goodnight"]).trim().to_owned();
    let before = snapshot_dir(d);
    let cases: &[(&[&str], &str)] = &[
        (&["add", "gratitude", "x"], "not a known kind"),
        (&["add", "checkin", "   "], "empty"),
        (&["add", "agreement"], "words"),
        (&["add", "agreement", &"x".repeat(501)], "the most is 500"),
        (&["add", "agreement", "x", "--needing", "y"], "only go with a reflection"),
        (&["add", "transparency", "Out", "--from", "19:00"], "both --from and --to"),
        (&["add", "transparency", "Out", "--from", "soon", "--to", "22:00"], "not a time"),
        (&["checkin-agreement", &id, "sort-of"], "not a known outcome"),
        (&["checkin-agreement", "nope", "kept"], "not a valid entry id"),
        (&["share", "0190b3c2-0000-7000-8000-000000000000"], "no entry has the id"),
        (&["list", "--kind", "everything"], "not a known kind"),
        (&["import", "/no/such/file.json"], "can't read"),
    ];
    for (args, message) in cases {
        let err = fails(d, args);
        assert!(err.contains(message), "steady {args:?} said {err:?}, not {message:?}");
        assert!(!err.contains("panicked"), "{err}");
    }
    assert_eq!(snapshot_dir(d), before, "a failed command changed the data directory");
}

#[test]
fn nothing_is_added_before_the_person_is_set_up() {
    let dir = tempfile::tempdir().unwrap();
    let err = fails(dir.path(), &["add", "checkin", "Hello"]);
    assert!(err.contains("init --name"), "{err}");
}

#[test]
fn export_and_import_round_trip_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init", "--name", "Alex", "--no-passcode"]);
    ok(d, &["add", "safety-helps", "Kind words in the morning"]);
    let r = ok(d, &["add", "reflection", "--feeling", "Tense", "--needing", "A pause"]).trim().to_owned();
    let a = ok(d, &["add", "agreement", "Walk on Sundays"]).trim().to_owned();
    ok(d, &["checkin-agreement", &a, "missed", "--note", "Rain"]);
    ok(d, &["share", &a]);
    ok(d, &["archive", &r]);
    ok(d, &["add", "transparency", "Seeing my sister", "--from", "2026-05-01 10:00", "--to", "2026-05-01 16:00"]);

    // Encrypted with age by default, to the passphrase given; the name says so.
    let pass = [("STEADY_EXPORT_PASSPHRASE", "a passphrase for the copy")];
    let file = d.join("journal.json");
    ok_with(d, &["export", "--format", "json", "--out", file.to_str().unwrap()], &pass);
    let file = d.join("journal.json.age");
    let sealed = std::fs::read(&file).unwrap();
    assert!(sealed.starts_with(b"age-encryption.org/v1"), "an age file");
    assert!(!sealed.windows(15).any(|w| w == b"Walk on Sundays"), "nothing readable in it");
    let wrong = fails_with(
        tempfile::tempdir().unwrap().path(),
        &["import", file.to_str().unwrap(), "--no-passcode"],
        &[("STEADY_EXPORT_PASSPHRASE", "not the passphrase")],
    );
    assert!(wrong.contains("that passphrase does not open this export"), "{wrong}");
    let copy = tempfile::tempdir().unwrap();
    ok_with(copy.path(), &["import", file.to_str().unwrap(), "--no-passcode"], &pass);
    // A restored journal has no pairing: what was shared comes back private, marked as
    // shared before, and sharing is chosen afresh with the next pairing.
    let restored = list_json(copy.path());
    let mut expected = list_json(d);
    for e in expected.iter_mut().filter(|e| e["shared"] == true) {
        e["shared"] = false.into();
        e["waiting"] = false.into();
        e["shared_before"] = true.into();
    }
    assert_eq!(restored, expected);
    assert_eq!(find(&restored, &a)["shared_before"], true);

    let err = fails_with(copy.path(), &["import", file.to_str().unwrap()], &pass);
    assert!(err.contains("already holds entries"), "{err}");

    // A plain export is read back too, after a warning when it was written.
    let plain = d.join("plain.json");
    let out = common::steady(d, &["export", "--format", "json", "--plaintext", "--out", plain.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not encrypted"));
    let again = tempfile::tempdir().unwrap();
    ok(again.path(), &["import", plain.to_str().unwrap(), "--no-passcode"]);
    assert_eq!(list_json(again.path()), restored);

    let md = ok(d, &["export", "--format", "markdown", "--plaintext"]);
    assert!(md.contains("## Small agreements") && md.contains("> Walk on Sundays"));
    let am = d.join("shared.automerge");
    ok(d, &["export", "--format", "automerge", "--out", am.to_str().unwrap()]);
    let doc = automerge::Automerge::load(&std::fs::read(&am).unwrap()).unwrap();
    use automerge::ReadDoc;
    let (_, entries) = doc.get(automerge::ROOT, "entries").unwrap().unwrap();
    assert_eq!(
        doc.keys(&entries).count(),
        0,
        "a share waits on this phone until a partner is about to receive it; nothing is in the document yet"
    );
}

#[test]
fn a_data_directory_that_cannot_be_made_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let inside = file.join("journal");
    let err = fails(&inside, &["list"]);
    assert!(err.contains("can't use the data directory") && err.contains("a-file"), "{err}");
}

#[test]
fn network_commands_check_what_they_are_given_and_name_what_they_cannot_reach() {
    let dir = tempfile::TempDir::new().unwrap();
    let d = dir.path();
    assert!(fails(d, &["pair", "invite", "--no-discovery"]).contains("nobody is set up on this phone yet"));
    ok(d, &["init", "--name", "Alex", "--no-passcode"]);
    let status: Value = serde_json::from_str(&ok(d, &["status", "--json"])).unwrap();
    assert_eq!(status["link"], "not_paired");
    assert_eq!(status["unsent_changes"], 0);
    assert_eq!(status["pairing"], "none");
    assert!(fails(d, &["sync", "--for", "1", "--no-discovery"]).contains("isn't paired yet"));
    assert!(fails(d, &["pair", "join", "12"]).contains("invite code has 8 letters"));
    assert!(fails(d, &["pair", "join", "7KQM-4T2X", "--addr", "8.8.8.8:4001"]).contains("not on your local network"));
    let err = fails(d, &["pair", "join", "7KQM-4T2X", "--addr", "127.0.0.1:1", "--no-discovery"]);
    assert!(err.contains("can't reach partner at 127.0.0.1:1"), "{err}");
    assert!(fails(d, &["pause"]).contains("isn't paired"));
    assert!(fails(d, &["unpair"]).contains("isn't paired"));
}

/// A process whose standard output is read line by line as it comes.
pub(crate) struct Running {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    pub(crate) fn start(dir: &std::path::Path, args: &[&str]) -> Running {
        Running::start_with(dir, args, &[])
    }

    /// Like [`Running::start`], with environment variables set (and no passcode but one
    /// given here).
    pub(crate) fn start_with(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Running {
        use std::io::BufRead;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_steady"))
            .arg("--data-dir")
            .arg(dir)
            .args(args)
            .env_remove("STEADY_PASSCODE")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("steady starts");
        let (tx, lines) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running { child, lines, seen: Vec::new() }
    }

    /// Every line read so far.
    pub(crate) fn seen(&self) -> &[String] {
        &self.seen
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A line that contains `text`, printed already or waited for.
    pub(crate) fn saw_or_wait_for(&mut self, text: &str, limit: std::time::Duration) -> String {
        match self.seen.iter().find(|l| l.contains(text)) {
            Some(line) => line.clone(),
            None => self.wait_for(text, limit),
        }
    }

    /// Waits for a line that contains `text`, and returns it.
    pub(crate) fn wait_for(&mut self, text: &str, limit: std::time::Duration) -> String {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(text) {
                        return line;
                    }
                }
                Err(_) => panic!("no line with {text:?} within {limit:?}; saw {:#?}", self.seen),
            }
        }
    }

    /// Waits for the process to end; returns whether it succeeded and all it printed.
    pub(crate) fn finish(mut self) -> (bool, Vec<String>) {
        let status = self.child.wait().unwrap();
        self.seen.extend(self.lines.iter());
        (status.success(), std::mem::take(&mut self.seen))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn status_json(dir: &std::path::Path) -> Value {
    serde_json::from_str(&ok(dir, &["status", "--json"])).unwrap()
}

/// Pairing on the command line, over loopback with discovery off: both sides print the
/// words and exit unconfirmed; running `sync` processes exchange nothing of the document
/// until `pair confirm` has been run on both phones, which they notice within a moment.
#[test]
fn pairing_from_the_command_line_syncs_nothing_until_both_confirm() {
    use std::time::{Duration, Instant};
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (da, db) = (a.path(), b.path());
    ok(da, &["init", "--name", "Alex", "--no-passcode"]);
    ok(db, &["init", "--name", "Blair", "--no-passcode"]);
    let shared_a = ok(da, &["add", "agreement", "CLI-FROM-ALEX-0e5"]).trim().to_owned();
    ok(da, &["share", &shared_a]);
    let shared_b = ok(db, &["add", "agreement", "CLI-FROM-BLAIR-7c2"]).trim().to_owned();
    ok(db, &["share", &shared_b]);
    assert!(fails(da, &["pair", "confirm"]).contains("isn't paired"));
    assert!(fails(da, &["pair", "reject"]).contains("isn't paired"));
    assert_eq!(status_json(da)["pairing"], "none");

    let mut invite = Running::start(da, &["pair", "invite", "--no-discovery", "--listen", "127.0.0.1:0"]);
    let link = invite.wait_for("link: ", Duration::from_secs(10)).trim_start_matches("link: ").to_owned();
    let join = Running::start(db, &["pair", "join", &link, "--no-discovery"]);
    let (joined, join_out) = join.finish();
    assert!(joined, "pair join failed: {join_out:#?}");
    let (invited, invite_out) = invite.finish();
    assert!(invited, "pair invite failed: {invite_out:#?}");
    let words = |out: &[String]| -> String {
        let line = out.iter().find(|l| l.starts_with("words: ")).unwrap_or_else(|| panic!("{out:#?}")).clone();
        let words: Vec<&str> = line.trim_start_matches("words: ").split(' ').collect();
        assert_eq!(words.len(), 4, "{line}");
        assert!(words.iter().all(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase())), "{line}");
        line
    };
    assert_eq!(words(&join_out), words(&invite_out), "both phones print the same words");
    for dir in [da, db] {
        assert_eq!(status_json(dir)["pairing"], "unconfirmed");
        assert!(ok(dir, &["status"]).contains("steady pair confirm"));
    }

    // Sync runs on both while nobody has confirmed: they connect, and nothing crosses.
    let mut sync_a = Running::start(da, &["sync", "--json", "--no-discovery", "--listen", "127.0.0.1:0"]);
    let listening = sync_a.wait_for(r#""event":"listening""#, Duration::from_secs(10));
    let event: Value = serde_json::from_str(&listening).unwrap();
    let address = event["address"].as_str().unwrap().to_owned();
    let mut sync_b = Running::start(db, &["sync", "--json", "--no-discovery", "--dial", &address]);
    sync_b.wait_for(r#""event":"connected""#, Duration::from_secs(10));
    ok(da, &["pair", "confirm"]);
    assert_eq!(status_json(da)["pairing"], "confirmed");
    std::thread::sleep(Duration::from_secs(2));
    assert!(!sync_a.seen.iter().chain(&sync_b.seen).any(|l| l.contains(r#""event":"synced""#)));
    assert_eq!(list_json(db).len(), 1, "nothing of Alex's reached Blair");
    assert_eq!(list_json(da).len(), 1, "nothing of Blair's reached Alex");

    // Blair confirms in another process: the running syncs notice, and sync.
    let confirmed = Instant::now();
    assert!(ok(db, &["pair", "confirm"]).contains("Confirmed"));
    sync_b.wait_for(r#""event":"synced""#, Duration::from_secs(10));
    let deadline = Instant::now() + Duration::from_secs(10);
    while list_json(db).len() < 2 || list_json(da).len() < 2 {
        assert!(Instant::now() < deadline, "no sync after both confirmed");
        std::thread::sleep(Duration::from_millis(50));
    }
    println!("synced {:?} after the second confirmation", confirmed.elapsed());
    assert!(confirmed.elapsed() < Duration::from_secs(5), "{:?}", confirmed.elapsed());
    drop(sync_a);
    drop(sync_b);
    assert!(fails(db, &["pair", "reject"]).contains("steady unpair"), "a confirmed pairing is ended by unpair");

    // Unpairing keeps what Blair shared apart on Alex's phone.
    let out = ok(da, &["unpair"]);
    assert!(out.contains("no longer syncs with Blair") && out.contains("From your time with Blair"), "{out}");
    assert_eq!(status_json(da)["pairing"], "none");
}

#[test]
fn pair_reject_forgets_an_unconfirmed_pairing() {
    use std::time::Duration;
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (da, db) = (a.path(), b.path());
    ok(da, &["init", "--name", "Alex", "--no-passcode"]);
    ok(db, &["init", "--name", "Blair", "--no-passcode"]);
    let mut invite = Running::start(da, &["pair", "invite", "--no-discovery", "--listen", "127.0.0.1:0"]);
    let link = invite.wait_for("link: ", Duration::from_secs(10)).trim_start_matches("link: ").to_owned();
    let addr = link.split("/ip4/127.0.0.1/tcp/").nth(1).unwrap().split(['&', '/']).next().unwrap().to_owned();
    let code = link.trim_start_matches("steady://pair/").split('?').next().unwrap().to_owned();
    let (joined, out) =
        Running::start(db, &["pair", "join", &code, "--addr", &format!("127.0.0.1:{addr}"), "--no-discovery"]).finish();
    assert!(joined, "{out:#?}");
    assert!(invite.finish().0);
    let said = ok(db, &["pair", "reject"]);
    assert!(said.contains("Forgot the pairing with Alex"), "{said}");
    assert_eq!(status_json(db)["pairing"], "none");
    assert_eq!(status_json(da)["pairing"], "unconfirmed", "the other phone is not told");
}

#[test]
fn printed_text_can_not_drive_the_terminal() {
    let dir = tempfile::TempDir::new().unwrap();
    let d = dir.path();
    ok(d, &["init", "--name", "Alex", "--no-passcode"]);
    // Text with a terminal's escapes in it, as a partner's phone could send.
    let text = "Late again\u{1b}]0;owned\u{7}\u{1b}[2J\u{202E}desrever";
    ok(d, &["add", "agreement", text]);
    let listed = ok(d, &["list"]);
    assert!(!listed.chars().any(|c| c.is_control() && c != '\n' || c == '\u{202E}'), "{listed:?}");
    assert!(listed.contains("Late again\\u{1b}]0;owned\\u{7}\\u{1b}[2J\\u{202e}desrever"), "{listed}");
    let json = ok(d, &["list", "--json"]);
    assert!(!json.chars().any(|c| c.is_control() && c != '\n' || c == '\u{202E}'), "{json:?}");
    let items: Vec<Value> = serde_json::from_str(&json).unwrap();
    assert_eq!(items[0]["text"], text, "the JSON still says exactly what was written");
}

/// An entry over its limit is refused with the reason said once, and nothing is written.
#[test]
fn an_over_long_entry_is_refused_with_its_reason_said_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init", "--name", "Alex", "--no-passcode"]);
    let long = "a".repeat(100_000);
    let said = fails(d, &["add", "checkin", &long]);
    let reason = "the text is 100000 characters long; the most is 4000";
    assert_eq!(said.matches(reason).count(), 1, "the reason, once: {said}");
    assert!(list_json(d).is_empty(), "nothing was written");
}

/// Pairs `da` and `db` on the command line over loopback, confirms the words on both, and
/// syncs until `da` lists `entries`.
pub(crate) fn pair_and_sync(da: &std::path::Path, db: &std::path::Path, entries: usize) {
    pair_and_sync_with(da, db, entries, &[]);
}

/// [`pair_and_sync`], with `env_a` (a passcode) for the first phone's commands.
pub(crate) fn pair_and_sync_with(da: &std::path::Path, db: &std::path::Path, entries: usize, env_a: &[(&str, &str)]) {
    use std::time::{Duration, Instant};
    let mut invite = Running::start_with(da, &["pair", "invite", "--no-discovery", "--listen", "127.0.0.1:0"], env_a);
    let link = invite.wait_for("link: ", Duration::from_secs(10)).trim_start_matches("link: ").to_owned();
    let (joined, out) = Running::start(db, &["pair", "join", &link, "--no-discovery"]).finish();
    assert!(joined, "{out:#?}");
    assert!(invite.finish().0);
    ok_with(da, &["pair", "confirm"], env_a);
    ok(db, &["pair", "confirm"]);
    let mut sync_a = Running::start_with(da, &["sync", "--json", "--no-discovery", "--listen", "127.0.0.1:0"], env_a);
    let listening: Value =
        serde_json::from_str(&sync_a.wait_for(r#""event":"listening""#, Duration::from_secs(10))).expect("a JSON line");
    let address = listening["address"].as_str().unwrap().to_owned();
    let _sync_b = Running::start(db, &["sync", "--json", "--no-discovery", "--dial", &address]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let count = || -> usize {
        let listed = ok_with(da, &["list", "--json"], env_a);
        serde_json::from_str::<Vec<Value>>(&listed).expect("JSON").len()
    };
    while count() < entries {
        assert!(Instant::now() < deadline, "no sync");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A shared document grown past what Steady opens (here by a change too big to be one,
/// so that loading it would fail at once): the command line still lists every entry,
/// says in words why it can't write, and `unpair` sets the document apart without
/// loading it, giving the file's room back.
#[test]
fn a_shared_document_too_big_to_open_still_lists_and_can_be_unpaired() {
    use steady::store::{MAX_OPENED, Store};
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (da, db) = (a.path(), b.path());
    ok(da, &["init", "--name", "Alex", "--no-passcode"]);
    ok(db, &["init", "--name", "Blair", "--no-passcode"]);
    let mine = ok(da, &["add", "agreement", "BIG-FROM-ALEX-3d1"]).trim().to_owned();
    ok(da, &["share", &mine]);
    ok(da, &["add", "agreement", "BIG-PRIVATE-ALEX-3d1"]);
    let theirs = ok(db, &["add", "agreement", "BIG-FROM-BLAIR-9f4"]).trim().to_owned();
    ok(db, &["share", &theirs]);
    pair_and_sync(da, db, 3);
    let size = |d: &std::path::Path| -> u64 { snapshot_dir(d).iter().map(|(_, bytes)| bytes.len() as u64).sum() };
    let small = size(da);
    {
        let mut store = Store::open_dir_without_passcode(da).unwrap();
        store.append_unchecked_change(&vec![0x5a; MAX_OPENED as usize + 1]).unwrap();
    }
    assert!(size(da) > MAX_OPENED, "the journal grew: {}", size(da));
    let before = list_json(da);
    assert_eq!(before.len(), 3, "{before:#?}");
    let stored = status_json(da)["shared_document_too_big"].as_u64().expect("a size");
    assert!(stored > MAX_OPENED && stored < MAX_OPENED + 64 * 1024, "{stored}");
    assert!(ok(da, &["status"]).contains("more than Steady opens"));
    let said = fails(da, &["add", "checkin", "BIG-REFUSED-3d1"]);
    assert!(said.contains("more than Steady opens") && said.contains("unpair"), "{said}");
    assert_eq!(list_json(da), before, "nothing was written");

    let out = ok(da, &["unpair"]);
    assert!(out.contains("no longer syncs with Blair") && out.contains("From your time with Blair"), "{out}");
    {
        let store = Store::open_dir_without_passcode(da).unwrap();
        let past = store.past_documents().unwrap();
        let kept: Vec<String> =
            store.past_entries(past[0].id).unwrap().iter().map(|e| e.body.main_text().to_owned()).collect();
        assert_eq!(kept, vec!["BIG-FROM-BLAIR-9f4".to_owned()], "what Blair shared is kept apart");
    }
    let after = list_json(da);
    let mine_now = after.iter().find(|e| e["id"] == mine.as_str()).expect("my shared entry is back");
    assert_eq!(mine_now["shared"], false);
    assert_eq!(mine_now["shared_before"], true);
    assert!(after.iter().any(|e| e["text"] == "BIG-PRIVATE-ALEX-3d1"));
    assert_eq!(status_json(da)["shared_document_too_big"], Value::Null);
    ok(da, &["add", "checkin", "BIG-AFTER-3d1"]);
    assert!(size(da) < small + 1024 * 1024, "the room is given back: {} bytes, {small} before", size(da));
}
