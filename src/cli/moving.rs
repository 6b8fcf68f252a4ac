//! `steady move`: the journal moves to a new phone over the Wi-Fi (`net::moving`).

use std::io::Write;
use std::path::Path;

use anyhow::{Result, anyhow, bail};
use clap::Subcommand;

use super::lock;
use super::net::{line, listen_address, runtime};
use crate::net::NetConfig;
use crate::net::moving::{self, MoveEvent};
use crate::store::moved::{MOVE_ANSWER, MOVE_WAITING};
use crate::vault::{check_new_passcode, make_private_dir};

#[derive(Subcommand, Debug)]
pub enum MoveAction {
    /// On the old phone: show a code for the new one, and wait (ten minutes at most).
    /// Once both phones show the same words and both of you said yes, everything moves,
    /// and this phone erases its copy once the new one holds it all, checked.
    Out {
        /// Where to accept the new phone, as HOST:PORT (or a multiaddr).
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
    },
    /// On the new phone: join the old phone's move with its code, into an empty data
    /// directory. The passcode comes from STEADY_PASSCODE (or the terminal).
    In {
        code: String,
        /// The old phone's address, when the code's addresses can't be reached.
        #[arg(long, value_name = "HOST:PORT")]
        addr: Option<String>,
        /// Keep the journal on this phone without a passcode.
        #[arg(long)]
        no_passcode: bool,
    },
    /// Both phones show the same words: yes, move.
    Confirm,
    /// The words differ, or you changed your mind: nothing moves.
    Reject,
}

pub fn run(data_dir: &Path, action: MoveAction, out: &mut dyn Write) -> Result<()> {
    match action {
        MoveAction::Out { listen } => move_out(data_dir, listen.as_deref(), out),
        MoveAction::In { code, addr, no_passcode } => move_in(data_dir, &code, addr.as_deref(), no_passcode, out),
        MoveAction::Confirm => answer(data_dir, true, out),
        MoveAction::Reject => answer(data_dir, false, out),
    }
}

/// The person's answer, from `move confirm` or `move reject` in another terminal.
fn asked(dir: &Path) -> impl FnMut() -> Option<bool> {
    let path = dir.join(MOVE_ANSWER);
    move || match std::fs::read_to_string(&path).as_deref().map(str::trim) {
        Ok("yes") => Some(true),
        Ok("no") => Some(false),
        _ => None,
    }
}

fn answer(dir: &Path, yes: bool, out: &mut dyn Write) -> Result<()> {
    if !dir.join(MOVE_WAITING).exists() {
        bail!("no move is waiting in {}: start one with `steady move out` or `steady move in CODE`", dir.display());
    }
    crate::vault::write_private_file(&dir.join(MOVE_ANSWER), if yes { b"yes" } else { b"no" })?;
    line(
        out,
        if yes { "Said yes. Everything moves once the other phone says yes too." } else { "Said no. Nothing moves." },
    )
}

/// Removes the files of a move under way from `dir`.
fn tidy(dir: &Path) {
    for name in [MOVE_WAITING, MOVE_ANSWER] {
        let _ = std::fs::remove_file(dir.join(name));
    }
}

/// Says each step, as a line.
fn say_to(out: &mut dyn Write) -> impl FnMut(MoveEvent) + '_ {
    move |event| {
        let text = match event {
            MoveEvent::Code(code) => format!("code: {code}"),
            MoveEvent::Words(words) => format!(
                "words: {words}\nCheck that both phones show these words, then say `steady move confirm` on each \
                 (or `steady move reject`)."
            ),
            MoveEvent::Moving { files, bytes } => {
                let files = if files == 1 { "1 file".to_owned() } else { format!("{files} files") };
                format!("Moving {files} ({:.1} MB)…", bytes as f64 / 1_000_000.0)
            }
            MoveEvent::Arrived => "Everything arrived on the new phone, and was checked.".to_owned(),
            MoveEvent::Erased => {
                "The old phone erased its copy of Steady: its journal, its key and its letters are gone.".to_owned()
            }
        };
        let _ = line(out, &text);
    }
}

fn move_out(dir: &Path, listen: Option<&str>, out: &mut dyn Write) -> Result<()> {
    let mut config = NetConfig { discovery: false, ..NetConfig::default() };
    if let Some(listen) = listen {
        config.listen.push(listen_address(listen)?);
    }
    let key = lock::unlock(dir)?.key;
    tidy(dir);
    crate::vault::write_private_file(&dir.join(MOVE_WAITING), std::process::id().to_string().as_bytes())?;
    let mut ask = asked(dir);
    let mut say = say_to(out);
    let done = runtime()?.block_on(moving::move_journal_out(dir, &key, &config, &mut ask, &mut say));
    drop(say);
    tidy(dir);
    Ok(done?)
}

fn move_in(dir: &Path, code: &str, addr: Option<&str>, no_passcode: bool, out: &mut dyn Write) -> Result<()> {
    // Everything is checked before anything is written.
    if !moving::may_move_into(dir) {
        bail!(
            "{} already holds a journal or other files: a move arrives only in an empty data directory. Nothing was written",
            dir.display()
        );
    }
    moving::parse_code(code)?;
    let extra = addr
        .map(|a| crate::net::addresses::parse_host_port(a).map_err(|e| anyhow!("can't connect to {a}: {e}")))
        .transpose()?;
    let passcode = if no_passcode {
        None
    } else {
        let passcode = lock::new_secret(lock::PASSCODE_VAR, "Choose a passcode for Steady on this phone: ")?;
        let Some(passcode) = passcode else {
            bail!(
                "the journal arrives under a passcode of this phone's: give it in STEADY_PASSCODE, or add \
                 --no-passcode to keep it without one. Nothing was written"
            );
        };
        check_new_passcode(&passcode)?;
        Some(passcode)
    };
    let made = !dir.exists();
    make_private_dir(dir)?;
    crate::vault::write_private_file(&dir.join(MOVE_WAITING), std::process::id().to_string().as_bytes())?;
    let mut ask = asked(dir);
    let mut say = say_to(out);
    let passcode = passcode.as_deref().map(|p| p.as_str());
    let done = runtime()?.block_on(moving::move_journal_in(dir, code, extra, passcode, &mut ask, &mut say));
    drop(say);
    match done {
        Ok((_, count)) => {
            let entries = if count == 1 { "1 entry".to_owned() } else { format!("{count} entries") };
            line(out, &format!("Steady has arrived on this phone: {entries}, checked."))
        }
        Err(e) => {
            tidy(dir);
            if made {
                let _ = std::fs::remove_dir(dir);
            }
            bail!("{e}. Nothing was kept on this phone.");
        }
    }
}
