//! The app's window: five practices on a phone-sized screen, one tap to share.
//!
//! Views (`views/`, one per screen) and reusable pieces (`components/`) read and change
//! the journal only through [`state::Journal`]; they never touch the store.

pub mod components;
pub mod lock;
pub mod moving;
pub mod service;
pub mod state;
pub mod views;

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;

use dioxus::prelude::*;

pub use state::Journal;

/// The data directory the window opens, handed in at launch.
#[derive(Clone, Debug)]
pub struct DataDir(pub PathBuf);

/// A journal opened before the window starts, for tests: the root takes it once.
#[derive(Clone, Default)]
pub struct Preloaded(pub Rc<RefCell<Option<Result<Journal, String>>>>);

impl Preloaded {
    pub fn new(journal: Journal) -> Preloaded {
        Preloaded(Rc::new(RefCell::new(Some(Ok(journal)))))
    }
}

/// The screens a person moves between.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tab {
    Today,
    Safety,
    Agreements,
    Reflections,
    Transparency,
    SetAside,
    Us,
}

impl Tab {
    /// The tabs on the bar at the bottom, in thumb order.
    pub const BAR: [Tab; 6] = [Tab::Today, Tab::Safety, Tab::Agreements, Tab::Reflections, Tab::Transparency, Tab::Us];

    pub fn label(self) -> &'static str {
        match self {
            Tab::Today => "Today",
            Tab::Safety => "Safety",
            Tab::Agreements => "Agreements",
            Tab::Reflections => "Reflect",
            Tab::Transparency => "Openness",
            Tab::SetAside => "Set aside",
            Tab::Us => "Us",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Tab::Today => "Today",
            Tab::Safety => "What safety means for each of us",
            Tab::Agreements => "Small agreements",
            Tab::Reflections => "From blame to understanding",
            Tab::Transparency => "Transparency, offered freely",
            Tab::SetAside => "Set aside",
            Tab::Us => "Us",
        }
    }

    /// A stable name for tests and screenshots.
    pub fn slug(self) -> &'static str {
        match self {
            Tab::Today => "today",
            Tab::Safety => "safety",
            Tab::Agreements => "agreements",
            Tab::Reflections => "reflections",
            Tab::Transparency => "transparency",
            Tab::SetAside => "set-aside",
            Tab::Us => "us",
        }
    }
}

/// The journal, shared by every view.
pub type JournalSignal = Signal<Result<Journal, String>>;

/// The message shown at the top of the screen after an action failed, or `None`.
pub type Notice = Signal<Option<String>>;

/// Runs `action` on the journal; a failure becomes the on-screen notice. Returns whether it
/// succeeded, so a form can keep its text when it did not.
pub fn act(
    mut journal: JournalSignal,
    mut notice: Notice,
    action: impl FnOnce(&mut Journal) -> Result<(), String>,
) -> bool {
    let result = match journal.write().as_mut() {
        Ok(j) => action(j),
        Err(e) => Err(e.clone()),
    };
    match result {
        Ok(()) => {
            notice.set(None);
            if let Some(service) = try_consume_context::<service::SyncService>() {
                service.send(service::Action::LocalChange);
            }
            true
        }
        Err(message) => {
            notice.set(Some(message));
            false
        }
    }
}

/// Opens the app on a phone, full screen, on the journal in `data_dir`.
#[cfg(all(feature = "mobile", not(feature = "desktop")))]
pub fn launch(data_dir: PathBuf, net: service::NetOptions, _title: &str, _position: Option<(i32, i32)>) {
    let config = dioxus::mobile::Config::new().with_custom_index(INDEX.to_owned());
    dioxus::LaunchBuilder::mobile().with_cfg(config).with_context(DataDir(data_dir)).with_context(net).launch(App);
}

/// Opens the app window on the journal in `data_dir`.
#[cfg(feature = "desktop")]
pub fn launch(data_dir: PathBuf, net: service::NetOptions, title: &str, position: Option<(i32, i32)>) {
    use dioxus::desktop::{Config, LogicalPosition, LogicalSize, WindowBuilder};
    let mut window = WindowBuilder::new().with_title(title).with_inner_size(LogicalSize::new(390.0, 844.0));
    if let Some((x, y)) = position {
        window = window.with_position(LogicalPosition::new(x, y));
    }
    let config = Config::new().with_window(window).with_menu(None).with_custom_index(INDEX.to_owned());
    // The end-to-end tests' WebDriver server (on 127.0.0.1 only). It is compiled in only
    // with the `e2e` feature, and even then starts only when the test asks for it.
    #[cfg(feature = "e2e")]
    let config = wdio_dioxus::install(config);
    dioxus::LaunchBuilder::desktop().with_cfg(config).with_context(DataDir(data_dir)).with_context(net).launch(App);
}

/// The page the app is drawn into: its language is English (screen readers pronounce
/// it so), and it can be zoomed, unlike the framework's default page.
#[cfg(any(feature = "desktop", feature = "mobile"))]
const INDEX: &str = include_str!("../../assets/index.html");

/// The stylesheet, inside the binary. A desktop window finds `asset!` files next to the
/// source tree unless `dx` bundled the app, so a binary run on its own, or installed with
/// `cargo install`, would show bare HTML; with the stylesheet inside it, every way of
/// getting the app looks the same.
#[cfg(feature = "desktop")]
pub const STYLESHEET: &str = include_str!("../../assets/steady.css");

/// The app's styles: inside the binary on the desktop, and from the bundle that `dx`
/// makes on a phone.
#[component]
fn Styles() -> Element {
    #[cfg(feature = "desktop")]
    return rsx! { document::Style { {STYLESHEET} } };
    #[cfg(not(feature = "desktop"))]
    return rsx! { document::Stylesheet { href: asset!("/assets/steady.css") } };
}

/// The root: unlocks the journal (or takes a preloaded one) and shows the current
/// screen; while locked, only the lock screen.
#[component]
pub fn App() -> Element {
    let preloaded = try_use_context::<Preloaded>();
    let dir = try_use_context::<DataDir>();
    let mut first_gate = lock::Gate::Open;
    let journal: JournalSignal = use_context_provider(|| {
        let taken = preloaded.and_then(|p| p.0.borrow_mut().take());
        Signal::new(match (taken, &dir) {
            (Some(journal), _) => journal,
            (None, Some(d)) => {
                let (gate, journal) = lock::start(&d.0);
                first_gate = gate;
                journal
            }
            (None, None) => Err("No data directory was given".into()),
        })
    });
    let gate: Signal<lock::Gate> = use_context_provider(|| Signal::new(first_gate));
    let moving: moving::MoveSignal = use_context_provider(|| Signal::new(None));
    let notice: Notice = use_context_provider(|| Signal::new(None));
    let tab = use_context_provider(|| Signal::new(Tab::Today));
    let service = service::use_sync_service(journal, notice, gate);
    lock::use_auto_lock(journal, gate, service.foreground);
    // iOS photographs the screen for the app switcher as the app leaves: cover it first.
    let covered = cfg!(target_os = "ios") && !(service.foreground)();
    rsx! {
        Styles {}
        match gate() {
            lock::Gate::Open => rsx! { components::shell::Shell { journal, notice, tab } },
            lock::Gate::Locked => rsx! { lock::LockScreen { journal, gate } },
            lock::Gate::SetUp { upgrading } => rsx! { lock::SetUpScreen { journal, gate, upgrading } },
            lock::Gate::MoveIn => rsx! { moving::MoveInScreen { gate, task: moving } },
            lock::Gate::Restore => rsx! { moving::RestoreScreen { journal, gate } },
            lock::Gate::Moving => rsx! { moving::MovingScreen { journal, gate, task: moving } },
        }
        if covered {
            div { class: "privacy-cover", "aria-hidden": "true", "Steady" }
        }
    }
}
