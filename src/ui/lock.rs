//! The app lock: the first-run passcode, the lock screen, and locking again, now or after
//! the app has been away for the grace period. While locked, nothing of the journal is on
//! screen or in memory (the `Journal` and its key are dropped) and the sync node stops.

use std::time::Duration;

use dioxus::prelude::*;

use crate::ui::components::typed;
use crate::ui::{Journal, JournalSignal};
use crate::vault::{FORGOTTEN, WITHOUT_PASSCODE};
use crate::vault::{LockState, Now, Vault, VaultError, check_new_passcode, duration_words};

/// What the window shows instead of the journal, or that the journal is open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gate {
    /// First run: choose a passcode, or go on without one. `upgrading` when a journal
    /// from before encryption is there, to be encrypted with it.
    SetUp { upgrading: bool },
    /// Locked with a passcode.
    Locked,
    /// The journal is open.
    Open,
    /// First run: the old phone's code, for a move to this phone (`ui::moving`).
    MoveIn,
    /// First run: a backup (an export file) to restore.
    Restore,
    /// A move to a new phone is under way, on either side; the journal is closed here.
    Moving,
}

/// The message a locked window's journal holds instead of the journal.
pub const LOCKED: &str = "Steady is locked.";

/// How long the app may be away before it locks, as offered in settings.
pub const GRACE_CHOICES: [(u64, &str); 5] = [
    (0, "Immediately"),
    (30, "After 30 seconds"),
    (60, "After 1 minute"),
    (300, "After 5 minutes"),
    (900, "After 15 minutes"),
];
/// The grace period when none was chosen.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(30);

/// Where the window starts: the gate for the journal in `dir`, and the journal if it
/// opens without a passcode.
pub fn start(dir: &std::path::Path) -> (Gate, Result<Journal, String>) {
    let vault = Vault::at(dir);
    match vault.state() {
        Ok(LockState::New) => (Gate::SetUp { upgrading: false }, Err(LOCKED.into())),
        Ok(LockState::Unencrypted) => (Gate::SetUp { upgrading: true }, Err(LOCKED.into())),
        Ok(LockState::Passcode) => (Gate::Locked, Err(LOCKED.into())),
        Ok(LockState::NoPasscode) => match vault.key_without_passcode() {
            Ok(key) => (Gate::Open, Journal::open(dir, &key)),
            Err(e) => (Gate::Open, Err(e.to_string())),
        },
        Err(e) => (Gate::Open, Err(e.to_string())),
    }
}

/// Locks the window: the journal and its key are dropped, and the sync node stops.
pub fn lock_now(mut journal: JournalSignal, mut gate: Signal<Gate>) {
    journal.set(Err(LOCKED.into()));
    gate.set(Gate::Locked);
}

/// The lock screen: the passcode, and nothing of the journal.
#[component]
pub fn LockScreen(journal: JournalSignal, gate: Signal<Gate>) -> Element {
    let Some(dir) = try_use_context::<crate::ui::DataDir>() else {
        return rsx! { p { class: "error", "No data directory was given" } };
    };
    let mut message = use_signal(|| None::<String>);
    // Each wrong try remounts the form, so the field is empty for the next one.
    let mut tries = use_signal(|| 0u32);
    let waiting = Vault::at(&dir.0).wait_at(&Now::current()).ok().flatten();
    // The folder, where each submit of the (remounted) form can take it.
    let dir = use_hook(|| CopyValue::new(dir.0.clone()));
    let mut unlock = move |passcode: String| {
        // Wiped from memory once this try is over.
        let passcode = zeroize::Zeroizing::new(passcode);
        let dir = dir.read();
        let vault = Vault::at(&dir);
        match vault.unlock(&passcode) {
            Ok(key) => match Journal::open(&dir, &key) {
                Ok(j) => {
                    message.set(None);
                    let mut journal = journal;
                    journal.set(Ok(j));
                    let mut gate = gate;
                    gate.set(Gate::Open);
                }
                Err(e) => message.set(Some(e)),
            },
            Err(VaultError::WrongPasscode { wait, tries_before_wait }) => {
                tries += 1;
                message.set(Some(match wait {
                    Some(w) => format!("That passcode is not right. Wait {} before trying again.", duration_words(w)),
                    None if tries_before_wait > 0 => format!(
                        "That passcode is not right. {tries_before_wait} more {} before Steady asks you to wait.",
                        if tries_before_wait == 1 { "try" } else { "tries" }
                    ),
                    None => "That passcode is not right.".into(),
                }));
            }
            Err(VaultError::TooSoon(w)) => {
                message.set(Some(format!("Too many wrong passcodes. Try again in {}.", duration_words(w))))
            }
            Err(e) => message.set(Some(e.to_string())),
        }
    };
    rsx! {
        main { class: "lock-screen", "data-gate": "locked",
            h1 { "Steady is locked" }
            for n in [tries()] {
                form { key: "{n}", class: "entry-form", "data-form": "unlock",
                    onsubmit: move |e| { e.prevent_default(); unlock(typed(&e, "passcode")); },
                    label { r#for: "passcode", "Your Steady passcode" }
                    input { id: "passcode", name: "passcode", r#type: "password", autocomplete: "current-password",
                        // The lock screen is only for this: the passcode field takes focus.
                        onmounted: crate::ui::components::focus }
                    button { r#type: "submit", class: "primary", "data-unlock": "", "Unlock" }
                }
            }
            if let Some(m) = message() {
                p { class: "notice", role: "alert", "{m}" }
            } else if let Some(w) = waiting {
                p { class: "notice", role: "status", "Too many wrong passcodes. Try again in {duration_words(w)}." }
            }
            p { class: "muted", "Forgot it? Private entries can't be recovered. What you shared stays on your partner's phone, as a past pairing; pairing again starts a new shared history, unless you restore an export you kept. Removing the app is the only reset." }
        }
    }
}

/// The first run: a passcode of Steady's own (on by default), or none, after a plain
/// warning.
#[component]
pub fn SetUpScreen(journal: JournalSignal, gate: Signal<Gate>, upgrading: bool) -> Element {
    let Some(dir) = try_use_context::<crate::ui::DataDir>() else {
        return rsx! { p { class: "error", "No data directory was given" } };
    };
    let mut with_passcode = use_signal(|| true);
    let mut message = use_signal(|| None::<String>);
    // `passcode`: the new passcode and the same again, or `None` to go on without one.
    let mut finish = move |passcode: Option<(String, String)>| {
        let passcode = match chosen_passcode(passcode) {
            Ok(passcode) => passcode,
            Err(e) => return message.set(Some(e)),
        };
        // A journal from before encryption must be whole and Steady's before a key is
        // made for it.
        if upgrading && let Err(e) = crate::store::Store::check_earlier_version(&dir.0) {
            return message.set(Some(e.to_string()));
        }
        let opened = Vault::at(&dir.0)
            .set_up(passcode.as_ref().map(|p| p.as_str()))
            .map_err(|e| e.to_string())
            .and_then(|key| Journal::open(&dir.0, &key));
        match opened {
            Ok(j) => {
                let mut journal = journal;
                journal.set(Ok(j));
                let mut gate = gate;
                gate.set(Gate::Open);
            }
            Err(e) => message.set(Some(e)),
        }
    };
    rsx! {
        main { class: "lock-screen", "data-gate": "set-up",
            h1 { "Welcome to Steady" }
            if upgrading {
                p { "Steady now keeps your journal encrypted on this phone. Choose how it opens; your entries stay as they are." }
            }
            p { "Steady can ask for a passcode of its own before it opens: not your phone's code, which others may know." }
            if with_passcode() {
                form { class: "entry-form", "data-form": "set-up",
                    onsubmit: move |e| {
                        e.prevent_default();
                        finish(Some((typed(&e, NEW_PASSCODE), typed(&e, NEW_PASSCODE_AGAIN))));
                    },
                    NewPasscode { id: "new-passcode" }
                    button { r#type: "submit", class: "primary", "data-set-up": "passcode", "Lock Steady with this passcode" }
                }
                button { class: "link", "data-set-up": "without", onclick: move |_| { message.set(None); with_passcode.set(false) }, "Continue without a passcode" }
                if !upgrading {
                    button { class: "link", "data-set-up": "other-phone", onclick: move |_| { let mut gate = gate; gate.set(Gate::MoveIn) }, "I have Steady on another phone" }
                    button { class: "link", "data-set-up": "restore", onclick: move |_| { let mut gate = gate; gate.set(Gate::Restore) }, "Restore from a backup" }
                }
            } else {
                p { class: "notice", role: "alert", "{WITHOUT_PASSCODE}" }
                div { class: "actions",
                    button { class: "primary", "data-set-up": "no-passcode", onclick: move |_| finish(None), "Continue without a passcode" }
                    button { class: "quiet", onclick: move |_| with_passcode.set(true), "Use a passcode after all" }
                }
            }
            if let Some(m) = message() {
                p { class: "notice", role: "alert", "{m}" }
            }
        }
    }
}

/// The clocks the lock reads: the phone's own ([`Now::current`]), or a test's.
#[derive(Clone)]
pub struct LockClock(pub std::sync::Arc<dyn Fn() -> Now + Send + Sync>);

impl Default for LockClock {
    fn default() -> Self {
        LockClock(std::sync::Arc::new(Now::current))
    }
}

/// Whether the phone's screen is off or the phone locked
/// ([`crate::platform::screen_off_or_locked`]), asked while the app is away; a stand-in
/// for tests.
#[derive(Clone)]
pub struct ScreenWatch(pub std::sync::Arc<dyn Fn() -> bool + Send + Sync>);

impl Default for ScreenWatch {
    fn default() -> Self {
        ScreenWatch(std::sync::Arc::new(crate::platform::screen_off_or_locked))
    }
}

/// How often the screen is asked about while the app is away.
const SCREEN_LOOK: Duration = Duration::from_millis(500);

/// How long the app has been away since `since`, on the clock that counts while the phone
/// sleeps. Since another boot (the phone restarted): longer than any grace period.
fn away_for(since: &Now, now: &Now) -> Duration {
    now.since(since.boot, &since.boot_id).unwrap_or(Duration::MAX)
}

/// Locks the window after the app has been away (in the background) for the grace
/// period, or at once with a grace of zero, or at once when the screen turns off or the
/// phone locks while it is away. Called once, by the root. Time away is measured on the
/// boot-time clock, which counts while the phone sleeps and which setting the date can't
/// shorten: two hours with the screen off are two hours.
pub fn use_auto_lock(journal: JournalSignal, gate: Signal<Gate>, foreground: Signal<bool>) {
    let clock = try_use_context::<LockClock>().unwrap_or_default();
    let screen = try_use_context::<ScreenWatch>().unwrap_or_default();
    let mut away_since = use_signal(|| None::<Now>);
    use_effect(move || {
        let here = foreground();
        if *gate.peek() != Gate::Open {
            away_since.set(None);
            return;
        }
        let grace = journal.peek().as_ref().map(|j| j.lock_grace()).unwrap_or(DEFAULT_GRACE);
        let has_passcode = journal.peek().as_ref().is_ok_and(|j| j.has_passcode());
        if !has_passcode {
            return;
        }
        if here {
            // Back: away the grace period or longer (a timer doesn't run while a phone
            // sleeps), and it locks now.
            if let Some(since) = away_since.take()
                && away_for(&since, &(clock.0)()) >= grace
            {
                lock_now(journal, gate);
            }
            return;
        }
        let since = (clock.0)();
        away_since.set(Some(since.clone()));
        if grace.is_zero() || (screen.0)() {
            return lock_now(journal, gate);
        }
        let (clock, screen) = (clock.clone(), screen.clone());
        spawn(async move {
            // Asked every half second: the screen going off (or the phone locking) ends
            // the grace period at once; otherwise it runs out on the boot-time clock.
            loop {
                let left = grace.saturating_sub(away_for(&since, &(clock.0)()));
                tokio::time::sleep(left.min(SCREEN_LOOK)).await;
                if away_since.peek().as_ref() != Some(&since) || *gate.peek() != Gate::Open {
                    return;
                }
                if (screen.0)() || away_for(&since, &(clock.0)()) >= grace {
                    return lock_now(journal, gate);
                }
            }
        });
    });
}

/// The names under which a form holds a new passcode and the same again
/// ([`NewPasscode`]).
/// A new passcode as typed twice (`None`: none was chosen), checked: long enough, and the
/// same both times. Wiped from memory when dropped.
pub fn chosen_passcode(typed: Option<(String, String)>) -> Result<Option<zeroize::Zeroizing<String>>, String> {
    let Some((first, again)) = typed else { return Ok(None) };
    let (first, again) = (zeroize::Zeroizing::new(first), zeroize::Zeroizing::new(again));
    check_new_passcode(&first).map_err(|e| e.to_string())?;
    if first != again {
        return Err("The two passcodes are not the same.".into());
    }
    Ok(Some(first))
}

/// The passcode part of a new phone's first form: a new passcode typed twice, with
/// `prompt`, or, when the person chose none, what that leaves open.
#[component]
pub fn PasscodeOrNone(id: &'static str, with_passcode: bool, prompt: &'static str) -> Element {
    rsx! {
        if with_passcode {
            p { "{prompt}" }
            NewPasscode { id }
        } else {
            p { class: "notice", "{WITHOUT_PASSCODE}" }
        }
    }
}

pub const NEW_PASSCODE: &str = "new-passcode";
pub const NEW_PASSCODE_AGAIN: &str = "new-passcode-again";

/// A new passcode, typed twice, and what forgetting it costs. The form around it reads
/// the two fields as [`NEW_PASSCODE`] and [`NEW_PASSCODE_AGAIN`].
#[component]
pub fn NewPasscode(id: &'static str) -> Element {
    let again_id = format!("{id}-again");
    rsx! {
        label { r#for: id, "A PIN of 6 digits or more, or a passphrase" }
        input { id, name: NEW_PASSCODE, r#type: "password", autocomplete: "new-password" }
        label { r#for: "{again_id}", "The same passcode again" }
        input { id: "{again_id}", name: NEW_PASSCODE_AGAIN, r#type: "password", autocomplete: "new-password" }
        p { class: "hint", "{FORGOTTEN}" }
    }
}
