//! A move to a new phone in the window: the old phone's side (Us › Move to a new phone)
//! and the new phone's (the first run's "I have Steady on another phone"). The move runs
//! on a thread of its own (`net::moving`), with its own connection to the journal; the
//! window has closed its own and stopped syncing first. The window shows what the move
//! says, and hands it each person's answer.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use dioxus::prelude::*;
use zeroize::Zeroizing;

use crate::net::NetConfig;
use crate::net::moving::{self, MoveEvent};
use crate::ui::lock::{Gate, NEW_PASSCODE, NEW_PASSCODE_AGAIN, PasscodeOrNone, chosen_passcode};
use crate::ui::{DataDir, Journal, JournalSignal, components::typed};
use crate::vault::DataKey;

/// Which side of a move this window is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Out,
    In,
}

/// What a move on its thread tells the window.
#[derive(Debug)]
enum Said {
    Step(MoveEvent),
    /// It ended: for the new phone, with the data key it arrived with.
    Ended(Result<Option<DataKey>, String>),
}

/// A move running on its thread.
pub struct MoveTask {
    side: Side,
    /// What the move says, until the window takes it to read.
    said: Option<tokio::sync::mpsc::UnboundedReceiver<Said>>,
    /// 0 while the person has not answered, 1 for yes, 2 for no.
    answer: Arc<AtomicU8>,
    /// Set to stop a move nobody has joined yet.
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl MoveTask {
    /// The old phone: shows a code, and moves the journal in `dir` (closed in the window).
    pub fn out(dir: PathBuf, key: DataKey, config: NetConfig) -> MoveTask {
        MoveTask::run(Side::Out, move |ask, say| {
            Box::pin(async move {
                moving::move_journal_out(&dir, &key, &config, ask, say).await.map(|()| None).map_err(|e| e.to_string())
            })
        })
    }

    /// The new phone: joins the old phone's `code` and moves the journal into `dir`,
    /// sealed under `passcode` (or kept without one).
    pub fn into(dir: PathBuf, code: String, passcode: Option<Zeroizing<String>>) -> MoveTask {
        MoveTask::run(Side::In, move |ask, say| {
            Box::pin(async move {
                let passcode = passcode.as_deref().map(|p| p.as_str());
                moving::move_journal_in(&dir, &code, None, passcode, ask, say)
                    .await
                    .map(|(key, _)| Some(key))
                    .map_err(|e| e.to_string())
            })
        })
    }

    #[allow(clippy::type_complexity)]
    fn run(
        side: Side,
        work: impl for<'a> FnOnce(
            moving::Ask<'a>,
            &'a mut dyn FnMut(MoveEvent),
        ) -> std::pin::Pin<Box<dyn Future<Output = Result<Option<DataKey>, String>> + 'a>>
        + Send
        + 'static,
    ) -> MoveTask {
        let (tx, said) = tokio::sync::mpsc::unbounded_channel();
        let answer = Arc::new(AtomicU8::new(0));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let given = answer.clone();
        let spawned = std::thread::Builder::new().name("steady-move".into()).spawn({
            let tx = tx.clone();
            move || {
                let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(runtime) => runtime,
                    Err(e) => return drop(tx.send(Said::Ended(Err(e.to_string())))),
                };
                let steps = tx.clone();
                let ended = runtime.block_on(async move {
                    let mut ask = || match given.load(Ordering::SeqCst) {
                        1 => Some(true),
                        2 => Some(false),
                        _ => None,
                    };
                    let mut say = move |event| drop(steps.send(Said::Step(event)));
                    tokio::select! {
                        ended = work(&mut ask, &mut say) => ended,
                        _ = stopped => Err("The move was stopped on this phone: nothing moved.".to_owned()),
                    }
                });
                let _ = tx.send(Said::Ended(ended));
            }
        });
        if let Err(e) = spawned {
            let _ = tx.send(Said::Ended(Err(e.to_string())));
        }
        MoveTask { side, said: Some(said), answer, stop: Some(stop) }
    }

    fn answer(&self, yes: bool) {
        self.answer.store(if yes { 1 } else { 2 }, Ordering::SeqCst);
    }
}

/// Where a move stands, as the window shows it.
#[derive(Clone, Debug, PartialEq, Default)]
enum Shown {
    #[default]
    Starting,
    Code(String),
    Words(String),
    Answered(String),
    Moving,
    /// The old phone's copy is erased.
    MovedAway,
    Failed(String),
}

/// The move under way in this window, if any: the root provides it.
pub type MoveSignal = Signal<Option<Rc<RefCell<MoveTask>>>>;

use std::cell::RefCell;
use std::rc::Rc;

/// Starts the old phone's move: the window's journal is closed (and sync with it), and
/// the move takes over.
pub fn start_out(mut journal: JournalSignal, mut gate: Signal<Gate>, mut task: MoveSignal) -> Result<(), String> {
    let dir = try_consume_context::<DataDir>().ok_or("No data directory was given")?;
    let key = journal.read().as_ref().map_err(Clone::clone)?.data_key().ok_or("This journal has no key to move")?;
    let options = try_consume_context::<crate::ui::service::NetOptions>().unwrap_or_default();
    let config = NetConfig { discovery: false, listen: options.listen, ..NetConfig::default() };
    journal.set(Err(MOVING.into()));
    task.set(Some(Rc::new(RefCell::new(MoveTask::out(dir.0, key, config)))));
    gate.set(Gate::Moving);
    Ok(())
}

/// What a window whose journal is moving holds instead of it.
pub const MOVING: &str = "Steady is moving to a new phone.";

/// The move, as it goes: the code (old phone), the words and the two answers, then the
/// end. The old phone ends on a plain screen: its copy is gone. The new phone opens the
/// journal that arrived.
#[component]
pub fn MovingScreen(journal: JournalSignal, gate: Signal<Gate>, task: MoveSignal) -> Element {
    let mut shown = use_signal(Shown::default);
    let mut arrived_key = use_signal(|| None::<DataKey>);
    let side = task.read().as_ref().map(|t| t.borrow().side).unwrap_or(Side::Out);
    // Reads what the move says, for as long as it runs.
    use_future(move || async move {
        let Some(mut said) = task.peek().as_ref().and_then(|t| t.borrow_mut().said.take()) else { return };
        while let Some(next) = said.recv().await {
            match next {
                Said::Step(MoveEvent::Code(code)) => shown.set(Shown::Code(code)),
                Said::Step(MoveEvent::Words(words)) => shown.set(Shown::Words(words)),
                Said::Step(MoveEvent::Moving { .. }) => shown.set(Shown::Moving),
                Said::Step(MoveEvent::Arrived | MoveEvent::Erased) => {}
                Said::Ended(Ok(key)) => {
                    match key {
                        Some(key) => arrived_key.set(Some(key)),
                        None => shown.set(Shown::MovedAway),
                    }
                    break;
                }
                Said::Ended(Err(e)) => {
                    shown.set(Shown::Failed(e));
                    break;
                }
            }
        }
    });
    // The new phone: the journal that arrived opens, and the window goes on as usual.
    use_effect(move || {
        let Some(key) = arrived_key() else { return };
        let Some(dir) = try_consume_context::<DataDir>() else { return };
        let mut journal = journal;
        let mut gate = gate;
        let mut task = task;
        match Journal::open(&dir.0, &key) {
            Ok(j) => {
                journal.set(Ok(j));
                task.set(None);
                gate.set(Gate::Open);
            }
            Err(e) => shown.set(Shown::Failed(e)),
        }
    });
    let mut answer = move |yes: bool| {
        if let Some(t) = task.read().as_ref() {
            t.borrow().answer(yes);
        }
        shown.set(Shown::Answered(if yes {
            "Waiting for the other phone's answer…".into()
        } else {
            "Stopping: nothing moves.".into()
        }));
    };
    let stop = move |_| {
        if let Some(t) = task.read().as_ref()
            && let Some(stop) = t.borrow_mut().stop.take()
        {
            let _ = stop.send(());
        }
    };
    // After a failure: the old phone opens its journal again; the new one starts over.
    let back = move |_| {
        let mut task = task;
        let mut gate = gate;
        let mut journal = journal;
        task.set(None);
        match side {
            Side::Out => {
                let dir = try_consume_context::<DataDir>();
                let (next, opened) =
                    dir.map(|d| crate::ui::lock::start(&d.0)).unwrap_or((Gate::Open, Err(MOVING.into())));
                journal.set(opened);
                gate.set(next);
            }
            Side::In => gate.set(Gate::SetUp { upgrading: false }),
        }
    };
    let title = if side == Side::Out { "Move to a new phone" } else { "Steady from your other phone" };
    rsx! {
        main { class: "lock-screen", "data-gate": "moving",
            h1 { "{title}" }
            match shown() {
                Shown::Starting => rsx! { p { role: "status", "Getting ready…" } },
                Shown::Code(code) => rsx! {
                    p { "On your new phone, open Steady and choose “I have Steady on another phone”. Then type this code there, or scan it." }
                    p { class: "move-code", "data-move-code": "{code}", "{code}" }
                    if let Some(svg) = qr_svg(&code) {
                        div { class: "qr", role: "img", "aria-label": "The code as a QR code", dangerous_inner_html: "{svg}" }
                    }
                    p { class: "hint", role: "status", "Waiting for your new phone, for 10 minutes at most." }
                    button { class: "quiet", "data-move": "stop", onclick: stop, "Stop" }
                },
                Shown::Words(words) => rsx! {
                    p { "Both phones should show the same four words:" }
                    p { class: "safety-words", "data-move-words": "{words}", "{words}" }
                    if side == Side::Out {
                        p { "If they match, everything on this phone moves to the new one: your private entries, what you shared, your pairing, past pairings and settings. Then this phone erases its copy." }
                    } else {
                        p { "If they match, everything on your other phone moves here, and that phone erases its copy." }
                    }
                    div { class: "actions",
                        button { class: "primary", "data-move": "confirm", onclick: move |_| answer(true), "They match: move" }
                        button { class: "quiet", "data-move": "reject", onclick: move |_| answer(false), "They don't match" }
                    }
                },
                Shown::Answered(text) => rsx! { p { role: "status", "{text}" } },
                Shown::Moving => rsx! { p { role: "status", "Moving everything, and checking it on arrival…" } },
                Shown::MovedAway => rsx! {
                    p { role: "status", "data-moved-away": "", "Steady moved to your new phone. This phone's copy is erased: its journal, its key and its letters are gone." }
                },
                Shown::Failed(why) => rsx! {
                    p { class: "notice", role: "alert", "{why}" }
                    button { class: "primary", "data-move": "back", onclick: back,
                        if side == Side::Out { "Back to Steady" } else { "Start again" }
                    }
                },
            }
        }
    }
}

/// The new phone's first step: the old phone's code and this phone's passcode.
#[component]
pub fn MoveInScreen(gate: Signal<Gate>, task: MoveSignal) -> Element {
    let mut message = use_signal(|| None::<String>);
    let mut with_passcode = use_signal(|| true);
    let mut join = move |code: String, passcode: Option<(String, String)>| {
        let Some(dir) = try_consume_context::<DataDir>() else { return };
        if let Err(e) = moving::parse_code(&code) {
            return message.set(Some(e.to_string()));
        }
        let passcode = match chosen_passcode(passcode) {
            Ok(passcode) => passcode,
            Err(e) => return message.set(Some(e)),
        };
        let mut task = task;
        let mut gate = gate;
        task.set(Some(Rc::new(RefCell::new(MoveTask::into(dir.0, code.trim().to_owned(), passcode)))));
        gate.set(Gate::Moving);
    };
    rsx! {
        main { class: "lock-screen", "data-gate": "move-in",
            h1 { "Steady from your other phone" }
            p { "On your other phone, open Us › Move to a new phone. It shows a code: type it here. Everything moves to this phone, and the other phone erases its copy once this one has it all." }
            form { class: "entry-form", "data-form": "move-in",
                onsubmit: move |e| {
                    e.prevent_default();
                    let passcode = with_passcode().then(|| (typed(&e, NEW_PASSCODE), typed(&e, NEW_PASSCODE_AGAIN)));
                    join(typed(&e, MOVE_CODE), passcode);
                },
                label { r#for: "move-code", "The code your other phone shows" }
                input { id: "move-code", name: MOVE_CODE, r#type: "text", autocomplete: "off", spellcheck: "false" }
                PasscodeOrNone { id: "move-passcode", with_passcode: with_passcode(), prompt: "Choose the passcode Steady asks for on this phone (your old one is fine)." }
                button { r#type: "submit", class: "primary", "data-move": "join", "Join" }
            }
            button { class: "link", "data-move": "passcode-choice", onclick: move |_| with_passcode.set(!with_passcode()),
                if with_passcode() { "Continue without a passcode" } else { "Use a passcode after all" }
            }
            button { class: "quiet", "data-move": "cancel", onclick: move |_| { let mut gate = gate; gate.set(Gate::SetUp { upgrading: false }) }, "Back" }
            if let Some(m) = message() {
                p { class: "notice", role: "alert", "{m}" }
            }
        }
    }
}

/// The first run's "Restore from a backup": an export file kept earlier, its passphrase,
/// and this phone's passcode. What was shared comes back private, marked as shared
/// before, as `import` does, until a pairing that continues the shared history.
#[component]
pub fn RestoreScreen(journal: JournalSignal, gate: Signal<Gate>) -> Element {
    let mut message = use_signal(|| None::<String>);
    let mut with_passcode = use_signal(|| true);
    let mut restore = move |path: String, passphrase: String, passcode: Option<(String, String)>| {
        let Some(dir) = try_consume_context::<DataDir>() else { return };
        let path = path.trim().to_owned();
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) => return message.set(Some(format!("Can't read {path}: {e}"))),
        };
        let passphrase = Zeroizing::new(passphrase);
        let backup = match crate::export::file::read_backup(&bytes, Some(passphrase.as_str()).filter(|p| !p.is_empty()))
        {
            Ok(backup) => backup,
            Err(e) => return message.set(Some(format!("Can't restore {path}: {e}."))),
        };
        let passcode = match chosen_passcode(passcode) {
            Ok(passcode) => passcode,
            Err(e) => return message.set(Some(e)),
        };
        match Journal::restore_backup(&dir.0, backup, passcode.as_deref().map(|p| p.as_str())) {
            Ok(j) => {
                let (mut journal, mut gate) = (journal, gate);
                journal.set(Ok(j));
                gate.set(Gate::Open);
            }
            Err(e) => message.set(Some(e)),
        }
    };
    rsx! {
        main { class: "lock-screen", "data-gate": "restore",
            h1 { "Restore from a backup" }
            p { "Your entries come back from an export you kept (Us › Keep a copy). What you had shared comes back private, marked as shared before. To get your shared history back, your partner unpairs your old phone and invites, and you join from Us with \"continue our shared history\" ticked." }
            form { class: "entry-form", "data-form": "restore",
                onsubmit: move |e| {
                    e.prevent_default();
                    let passcode = with_passcode().then(|| (typed(&e, NEW_PASSCODE), typed(&e, NEW_PASSCODE_AGAIN)));
                    restore(typed(&e, BACKUP_PATH), typed(&e, BACKUP_PASSPHRASE), passcode);
                },
                label { r#for: "backup-path", "The export file" }
                input { id: "backup-path", name: BACKUP_PATH, r#type: "text", autocomplete: "off", spellcheck: "false" }
                label { r#for: "backup-passphrase", "Its passphrase, if it is encrypted" }
                input { id: "backup-passphrase", name: BACKUP_PASSPHRASE, r#type: "password", autocomplete: "off" }
                PasscodeOrNone { id: "restore-passcode", with_passcode: with_passcode(), prompt: "Choose the passcode Steady asks for on this phone." }
                button { r#type: "submit", class: "primary", "data-restore": "go", "Restore" }
            }
            button { class: "link", "data-restore": "passcode-choice", onclick: move |_| with_passcode.set(!with_passcode()),
                if with_passcode() { "Continue without a passcode" } else { "Use a passcode after all" }
            }
            button { class: "quiet", "data-restore": "cancel", onclick: move |_| { let mut gate = gate; gate.set(Gate::SetUp { upgrading: false }) }, "Back" }
            if let Some(m) = message() {
                p { class: "notice", role: "alert", "{m}" }
            }
        }
    }
}

/// The restore form's fields.
pub const BACKUP_PATH: &str = "backup-path";
pub const BACKUP_PASSPHRASE: &str = "backup-passphrase";

/// The field the new phone types the old phone's code in.
pub const MOVE_CODE: &str = "move-code";

fn qr_svg(text: &str) -> Option<String> {
    crate::net::invite::qr_svg_of(text).ok()
}
