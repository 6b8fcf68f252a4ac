//! The command line: the same binary as the app. With no subcommand it opens the app
//! window; with one, it does that one thing to the journal and exits.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Local, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use clap::{Parser, Subcommand, ValueEnum};

pub mod lock;
mod moving;
mod net;

pub use net::listen_address;

use crate::export::{self, file};
use crate::model::{Body, Draft, Entry, EntryId, KindName, Outcome, SafetySide, TimeWindow};
use crate::store::Store;

#[derive(Parser, Debug)]
#[command(
    name = "steady",
    version,
    about = "Rebuild trust through small, steady actions. With no command, opens the app."
)]
pub struct Cli {
    /// Where the journal lives. Defaults to this system's data directory for Steady.
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// When opening the app: never look for your partner's phone with mDNS (connect by
    /// address still works).
    #[arg(long)]
    pub no_discovery: bool,
    /// When opening the app: where to accept the partner's phone, as HOST:PORT (for
    /// example 127.0.0.1:4001 to try two phones on one computer).
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: Option<String>,
    /// When opening the app: the window's title.
    #[arg(long, value_name = "TITLE")]
    pub window_title: Option<String>,
    /// When opening the app: where on the screen the window opens, as X,Y (the demo puts
    /// two phones side by side).
    #[arg(long, value_name = "X,Y", value_parser = window_position)]
    pub window_position: Option<(i32, i32)>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Set up the person on this phone, or change the name they go by. A new journal is
    /// locked with a passcode of Steady's own, from STEADY_PASSCODE or the terminal.
    Init {
        #[arg(long)]
        name: String,
        /// Set up without a passcode: anyone who can open Steady here can read it.
        #[arg(long)]
        no_passcode: bool,
    },
    /// Write a new entry. It stays private until you share it. Prints its id.
    Add {
        /// safety-helps, safety-harder, reflection, agreement, checkin or transparency.
        kind: String,
        /// The entry's words. For a reflection: what I was feeling.
        text: Option<String>,
        /// Reflection: what I was feeling (instead of TEXT).
        #[arg(long)]
        feeling: Option<String>,
        /// Reflection: what I was needing.
        #[arg(long)]
        needing: Option<String>,
        /// Reflection: what I now understand about my partner.
        #[arg(long)]
        understanding: Option<String>,
        /// Transparency: when the plan starts, as 19:00, 7pm, or 2026-05-01 19:00.
        #[arg(long, value_name = "TIME")]
        from: Option<String>,
        /// Transparency: when the plan ends.
        #[arg(long, value_name = "TIME")]
        to: Option<String>,
    },
    /// Say how an agreement went today: kept, missed or renegotiated.
    CheckinAgreement {
        id: String,
        outcome: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// Share one of your entries with your partner.
    Share { id: String },
    /// Make a shared entry private again. Your partner may already have a copy.
    Unshare { id: String },
    /// Set an entry aside: out of the daily views, kept, restorable.
    Archive { id: String },
    /// Bring a set-aside entry back.
    Restore { id: String },
    /// List entries, newest first.
    List {
        /// Only this kind: safety (both sides), safety-helps, safety-harder, reflection,
        /// agreement, checkin or transparency.
        #[arg(long)]
        kind: Option<String>,
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Write every entry to a file you can keep.
    Export {
        #[arg(long, value_enum)]
        format: ExportFormat,
        /// The file to write; standard output if left out. An encrypted export's name
        /// ends in .age.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// JSON or Markdown in the clear, which anyone who finds the file can read.
        /// Without it, they are encrypted with age to the journal's passcode, or to
        /// STEADY_EXPORT_PASSPHRASE when that is set.
        #[arg(long)]
        plaintext: bool,
    },
    /// Restore a JSON export (encrypted or not) into an empty data directory.
    Import {
        file: PathBuf,
        /// When the data directory is new: set it up without a passcode.
        #[arg(long)]
        no_passcode: bool,
    },
    /// Change or remove Steady's passcode.
    Passcode {
        #[command(subcommand)]
        action: PasscodeAction,
    },
    /// Move Steady to a new phone, or receive it there: everything moves, and the old
    /// phone erases its copy.
    Move {
        #[command(subcommand)]
        action: moving::MoveAction,
    },
    /// Pair this phone with your partner's, once, with both phones in hand.
    Pair {
        #[command(subcommand)]
        action: net::PairAction,
    },
    /// A home relay: run one (`serve`, on a computer that stays on), or add or remove
    /// one of the couple's.
    Relay {
        #[command(subcommand)]
        action: net::RelayAction,
    },
    /// Sync shared entries with your partner's phone while this runs.
    Sync {
        #[command(flatten)]
        run: net::RunArgs,
        #[command(flatten)]
        net: net::NetArgs,
    },
    /// Where sync stands: partner, last sync, changes not yet sent.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Carry sealed letters to and from your partner's phone while the journal stays
    /// locked: no passcode is asked for or read, and nothing of the journal is opened.
    Courier {
        #[command(flatten)]
        run: net::RunArgs,
        /// Stop once every letter made here has left, for your partner's phone or a
        /// relay (as a phone does in the time it has as Steady leaves the screen).
        #[arg(long)]
        until_sent: bool,
        #[command(flatten)]
        net: net::NetArgs,
    },
    /// Stop syncing with your partner for now. Their phone is not told.
    Pause,
    /// Start syncing with your partner again.
    Resume,
    /// Forget your partner's phone. Every entry stays here; their phone is not told.
    Unpair,
}

#[derive(Subcommand, Debug)]
pub enum PasscodeAction {
    /// A new passcode, from STEADY_NEW_PASSCODE or the terminal (the current one from
    /// STEADY_PASSCODE or the terminal).
    Change,
    /// No passcode from now on. The journal stays encrypted, with its key kept beside it.
    Remove,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ExportFormat {
    Json,
    Markdown,
    Automerge,
}

impl From<ExportFormat> for file::Format {
    fn from(format: ExportFormat) -> Self {
        match format {
            ExportFormat::Json => file::Format::Json,
            ExportFormat::Markdown => file::Format::Markdown,
            ExportFormat::Automerge => file::Format::Automerge,
        }
    }
}

fn window_position(text: &str) -> Result<(i32, i32), String> {
    let (x, y) = text.split_once(',').ok_or("give the position as X,Y, for example 400,0")?;
    let number = |n: &str| n.trim().parse::<i32>().map_err(|_| format!("{n:?} is not a whole number"));
    Ok((number(x)?, number(y)?))
}

/// The data directory when none is given: the system's per-user data directory.
pub fn default_data_dir() -> Result<PathBuf> {
    directories::ProjectDirs::from("app", "Steady", "Steady")
        .map(|d| d.data_dir().to_owned())
        .context("this system has no home directory to keep the journal in; pass --data-dir DIR")
}

/// Runs one command. Nothing is written unless every argument was good.
pub fn run(data_dir: &Path, command: Command, out: &mut dyn Write) -> Result<()> {
    // A journal that moved away and whose erase was broken off is erased first.
    crate::store::moved::finish_erasing(data_dir);
    // Arguments are checked before the journal is opened, so a bad one writes nothing.
    match command {
        Command::Init { name, no_passcode } => {
            crate::model::Person::new(Default::default(), &name)?;
            let key = lock::set_up(data_dir, no_passcode, &mut std::io::stderr())?;
            let mut store = Store::open_dir(data_dir, &key)?;
            let person = store.init(&name)?;
            writeln!(out, "Steady is set up for {} in {}", person.name, data_dir.display())?;
        }
        Command::Add { kind, text, feeling, needing, understanding, from, to } => {
            let kind: KindName = kind.parse()?;
            let draft = draft(kind, text, feeling, needing, understanding, from, to)?;
            let entry = open(data_dir)?.add(draft)?;
            writeln!(out, "{}", entry.id)?;
        }
        Command::CheckinAgreement { id, outcome, note } => {
            let id: EntryId = id.parse()?;
            let outcome: Outcome = outcome.parse()?;
            let mut store = open(data_dir)?;
            let check_in = store.check_in(id, outcome, note.as_deref())?;
            post_letter(&mut store);
            writeln!(out, "{}", check_in.id)?;
        }
        Command::Share { id } => {
            let id: EntryId = id.parse()?;
            let mut store = open(data_dir)?;
            let e = store.share(id)?;
            post_letter(&mut store);
            writeln!(
                out,
                "Shared {}. It waits on this phone until it leaves for your partner's phone, at the next sync or \
                 sealed in a letter while you are apart; until then `steady unshare {}` takes it back without a \
                 trace.",
                e.id, e.id
            )?;
        }
        Command::Unshare { id } => {
            let id: EntryId = id.parse()?;
            let mut store = open(data_dir)?;
            let unshared = store.unshare(id)?;
            // Any other share that still waits goes in a letter of its own.
            post_letter(&mut store);
            let case = if unshared.partner_has_copy {
                "your partner's phone already has a copy, or will have one"
            } else {
                "not sent yet: it stays private"
            };
            writeln!(out, "{} is private again ({case}).", unshared.entry.id)?;
        }
        Command::Archive { id } => {
            let id: EntryId = id.parse()?;
            let e = open(data_dir)?.archive(id)?;
            writeln!(out, "Set aside {}.", e.id)?;
        }
        Command::Restore { id } => {
            let id: EntryId = id.parse()?;
            let e = open(data_dir)?.restore(id)?;
            writeln!(out, "Restored {}.", e.id)?;
        }
        Command::List { kind, json } => {
            let filter = kind.as_deref().map(KindFilter::parse).transpose()?;
            let mut store = open(data_dir)?;
            let names: HashMap<_, _> = store.people()?.into_iter().collect();
            let entries: Vec<Entry> =
                store.entries()?.into_iter().filter(|e| filter.is_none_or(|f| f.matches(e))).collect();
            if json {
                let items: Vec<_> = entries.iter().map(|e| export::list_item(e, &names)).collect();
                writeln!(out, "{}", crate::model::text::terminal_safe_json(&serde_json::to_string(&items)?))?;
            } else {
                for e in &entries {
                    writeln!(out, "{}", list_line(e))?;
                }
            }
        }
        Command::Export { format, out: file, plaintext } => {
            let (mut store, _) = lock::open(data_dir)?;
            let encrypt = !plaintext && !matches!(format, ExportFormat::Automerge);
            let passphrase = if encrypt { Some(lock::export_passphrase()?) } else { None };
            if plaintext && !matches!(format, ExportFormat::Automerge) {
                eprintln!(
                    "Warning: this export is not encrypted. Anyone who finds the file can read every entry in it, \
                     private ones too."
                );
            }
            match file {
                Some(path) => {
                    let path = file::write(&mut store, format.into(), &path, passphrase.as_ref().map(|p| p.as_str()))?;
                    let kind = if encrypt { "encrypted with age" } else { "not encrypted" };
                    eprintln!("Wrote {} ({kind})", path.display());
                }
                None => {
                    let mut bytes = file::bytes(&mut store, format.into())?;
                    if let Some(p) = &passphrase {
                        bytes = file::encrypt(&bytes, p)?;
                    }
                    if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                        // Straight to a terminal: the partner's words must not drive it, and
                        // bytes that aren't text can't be shown at all.
                        let text = match (&passphrase, format) {
                            (None, ExportFormat::Json | ExportFormat::Markdown) => String::from_utf8(bytes)?,
                            _ => bail!("this export is not text: give --out FILE, or send it to a file with >"),
                        };
                        bytes = crate::model::text::terminal_safe(&text).into_owned().into_bytes();
                    }
                    out.write_all(&bytes)?;
                }
            }
        }
        Command::Passcode { action: PasscodeAction::Change } => lock::change(data_dir, out)?,
        Command::Passcode { action: PasscodeAction::Remove } => lock::remove(data_dir, out)?,
        Command::Pair { action } => net::pair(data_dir, action, out)?,
        Command::Relay { action } => net::relay(data_dir, action, out)?,
        Command::Sync { run, net } => net::sync(data_dir, run.for_secs, run.json, net, out)?,
        Command::Status { json } => net::status(data_dir, json, out)?,
        Command::Move { action } => moving::run(data_dir, action, out)?,
        Command::Courier { run, until_sent, net } => net::courier(data_dir, run, until_sent, net, out)?,
        Command::Pause => net::set_paused(data_dir, true, out)?,
        Command::Resume => net::set_paused(data_dir, false, out)?,
        Command::Unpair => net::unpair(data_dir, out)?,
        Command::Import { file, no_passcode } => {
            let mut bytes = fs::read(&file).with_context(|| format!("can't read {}", file.display()))?;
            if file::is_age(&bytes) {
                bytes = lock::decrypt_export(&bytes).with_context(|| format!("can't import {}", file.display()))?;
            }
            let text = String::from_utf8(bytes)
                .map_err(|_| anyhow::anyhow!("can't import {}: it is not a JSON export", file.display()))?;
            let journal = export::from_json(&text).with_context(|| format!("can't import {}", file.display()))?;
            let count = journal.entries.len();
            let key = lock::set_up(data_dir, no_passcode, &mut std::io::stderr())?;
            Store::open_dir(data_dir, &key)?.import(journal.person, &journal.people, &journal.entries)?;
            writeln!(out, "Imported {count} entries into {}", data_dir.display())?;
        }
    }
    Ok(())
}

/// Opens the journal in `data_dir`, unlocking it with the passcode first if it has one.
pub(crate) fn open(data_dir: &Path) -> Result<Store> {
    let mut store = lock::open(data_dir)?.0;
    // Letters that came while the journal was locked are opened now, with every check a
    // sync gets; letters that left are taken into the document.
    match crate::net::letters::open_waiting(&mut store, None) {
        Ok(opened) => {
            for refused in opened.refused {
                eprintln!("{}", crate::model::text::terminal_safe(&refused));
            }
        }
        Err(e) => eprintln!("The letters waiting here could not be opened this time: {e}"),
    }
    if let Err(e) = crate::net::courier::keep_profile(&store) {
        eprintln!("The courier's profile could not be written: {e}");
    }
    Ok(store)
}

/// Seals what waits in the outbox into a letter, for a courier to carry while the two
/// phones are apart. The change itself is already saved: a letter that could not be
/// made is said, and the next sync sends the change anyway.
fn post_letter(store: &mut Store) {
    if let Err(e) = crate::net::letters::post(store) {
        eprintln!("No letter could be made for your partner's phone ({e}); it goes at the next sync instead.");
    }
}

fn draft(
    kind: KindName,
    text: Option<String>,
    feeling: Option<String>,
    needing: Option<String>,
    understanding: Option<String>,
    from: Option<String>,
    to: Option<String>,
) -> Result<Draft> {
    let is_reflection = kind == KindName::Reflection;
    if !is_reflection && (feeling.is_some() || needing.is_some() || understanding.is_some()) {
        bail!("--feeling, --needing and --understanding only go with a reflection");
    }
    if kind != KindName::Transparency && (from.is_some() || to.is_some()) {
        bail!("--from and --to only go with a transparency note");
    }
    let words = |text: Option<String>| text.context("write the entry's words after its kind, in quotes");
    Ok(match kind {
        KindName::SafetyHelps => Draft::SafetyNeed { side: SafetySide::Helps, text: words(text)? },
        KindName::SafetyHarder => Draft::SafetyNeed { side: SafetySide::Harder, text: words(text)? },
        KindName::Agreement => Draft::Agreement { text: words(text)? },
        KindName::CheckIn => Draft::CheckIn { text: words(text)? },
        KindName::Reflection => {
            let feeling = match (text, feeling) {
                (Some(_), Some(_)) => bail!("give what you were feeling once: as TEXT or as --feeling, not both"),
                (Some(f), None) | (None, Some(f)) => f,
                (None, None) => bail!("a reflection starts with what you were feeling: add it as TEXT or --feeling"),
            };
            Draft::Reflection { feeling, needing, understanding }
        }
        KindName::Transparency => {
            let window = match (from, to) {
                (None, None) => None,
                (Some(from), Some(to)) => Some(window(&from, &to, Local::now().naive_local())?),
                _ => bail!("a plan's time needs both --from and --to"),
            };
            Draft::Transparency { text: words(text)?, window }
        }
    })
}

/// A plan's window from two times as a person types them. A bare time means today, and an
/// end earlier than the start means the next day ("10pm to 1am").
pub fn window(from: &str, to: &str, now: NaiveDateTime) -> Result<TimeWindow> {
    let start = parse_time(from, now.date()).with_context(|| format!("--from {from:?} is not a time"))?;
    let mut end = parse_time(to, now.date()).with_context(|| format!("--to {to:?} is not a time"))?;
    if end.0 <= start.0 && !end.1 {
        end.0 += chrono::Duration::days(1);
    }
    let local = |t: NaiveDateTime| -> Result<DateTime<Utc>> {
        Local
            .from_local_datetime(&t)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .with_context(|| format!("{t} does not exist on this phone's clock (a daylight-saving jump)"))
    };
    Ok(TimeWindow { from: local(start.0)?, to: local(end.0)? })
}

/// A local date and time, and whether the date was given.
fn parse_time(text: &str, today: NaiveDate) -> Option<(NaiveDateTime, bool)> {
    let t = text.trim().to_ascii_lowercase();
    if let Ok(dt) = DateTime::parse_from_rfc3339(&t.to_uppercase()) {
        return Some((dt.with_timezone(&Local).naive_local(), true));
    }
    for format in ["%Y-%m-%d %H:%M", "%Y-%m-%dt%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dt%H:%M:%S"] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(&t, format) {
            return Some((dt, true));
        }
    }
    let mut compact = t.replace(' ', "");
    if !compact.contains(':') && (compact.ends_with("am") || compact.ends_with("pm")) {
        compact.insert_str(compact.len() - 2, ":00");
    }
    for format in ["%H:%M", "%I:%M%p"] {
        if let Ok(time) = NaiveTime::parse_from_str(&compact, format) {
            return Some((today.and_time(time), false));
        }
    }
    None
}

/// Which entries `list --kind` keeps.
#[derive(Clone, Copy, Debug)]
enum KindFilter {
    Safety,
    One(KindName),
}

impl KindFilter {
    fn parse(text: &str) -> Result<KindFilter> {
        if text == "safety" {
            return Ok(KindFilter::Safety);
        }
        Ok(KindFilter::One(text.parse()?))
    }

    fn matches(self, e: &Entry) -> bool {
        match self {
            KindFilter::Safety => matches!(e.body, Body::SafetyNeed { .. }),
            KindFilter::One(k) => e.kind_name() == Some(k),
        }
    }
}

fn list_line(e: &Entry) -> String {
    let kind = e.kind_name().map(KindName::as_str).unwrap_or("(newer kind)");
    let place = match (e.shared, e.waiting) {
        (true, true) => "waiting",
        (true, false) => "shared",
        (false, _) => "private",
    };
    let archived = if e.archived { " (set aside)" } else { "" };
    let day = e.created_at.with_timezone(&Local).format("%Y-%m-%d");
    let mut text: String = e.body.main_text().replace('\n', " ");
    if text.chars().count() > 60 {
        text = text.chars().take(59).collect::<String>() + "…";
    }
    // Entries from the partner's phone may carry anything: nothing reaches the terminal
    // that it would obey.
    let text = crate::model::text::terminal_safe(&text);
    format!("{}  {kind:<13} {place:<7} {day}  {text}{archived}", e.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(h: u32, m: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 6, 1).unwrap().and_hms_opt(h, m, 0).unwrap()
    }

    #[test]
    fn times_are_read_as_people_type_them() {
        let today = NaiveDate::from_ymd_opt(2026, 6, 1).unwrap();
        assert_eq!(parse_time("19:00", today), Some((at(19, 0), false)));
        assert_eq!(parse_time("7pm", today), Some((at(19, 0), false)));
        assert_eq!(parse_time("7:30 PM", today), Some((at(19, 30), false)));
        assert_eq!(parse_time("2026-06-01 19:00", today), Some((at(19, 0), true)));
        assert_eq!(parse_time("later", today), None);
    }

    #[test]
    fn a_window_past_midnight_ends_the_next_day() {
        let w = window("10pm", "1am", at(12, 0)).unwrap();
        assert_eq!((w.to - w.from).num_hours(), 3);
    }

    #[test]
    fn options_for_another_kind_are_refused() {
        let err =
            draft(KindName::Agreement, Some("x".into()), None, Some("rest".into()), None, None, None).unwrap_err();
        assert!(err.to_string().contains("only go with a reflection"));
        let err = draft(KindName::Reflection, Some("x".into()), Some("y".into()), None, None, None, None).unwrap_err();
        assert!(err.to_string().contains("not both"));
    }
}
