//! The `steady` binary: the app window, or one command-line action.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use steady::cli::{self, Cli};

fn main() -> ExitCode {
    let args = Cli::parse();
    // On a phone the journal lives in the app's private storage; elsewhere in the
    // system's data directory for Steady, unless --data-dir says otherwise.
    let chosen = args.data_dir.clone().or_else(steady::platform::phone_data_dir);
    let data_dir = match chosen.map(Ok).unwrap_or_else(cli::default_data_dir) {
        Ok(dir) => dir,
        Err(e) => return fail(&e),
    };
    match args.command {
        None => {
            let listen = match args.listen.as_deref().map(cli::listen_address).transpose() {
                Ok(l) => l.into_iter().collect(),
                Err(e) => return fail(&e),
            };
            let title = args.window_title.as_deref().unwrap_or("Steady");
            open_app(data_dir, args.no_discovery, listen, title, args.window_position)
        }
        Some(command) => {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            match cli::run(&data_dir, command, &mut out).and_then(|()| Ok(out.flush()?)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&e),
            }
        }
    }
}

fn fail(e: &anyhow::Error) -> ExitCode {
    // Each cause once: an error that already ends with its cause's words does not get
    // them again.
    let mut message = e.to_string();
    for cause in e.chain().skip(1) {
        let said = cause.to_string();
        if !message.ends_with(&said) {
            message.push_str(": ");
            message.push_str(&said);
        }
    }
    eprintln!("steady: {}", steady::model::text::terminal_safe(&message));
    ExitCode::FAILURE
}

#[cfg(any(feature = "desktop", feature = "mobile"))]
fn open_app(
    data_dir: std::path::PathBuf,
    no_discovery: bool,
    listen: Vec<libp2p::Multiaddr>,
    title: &str,
    position: Option<(i32, i32)>,
) -> ExitCode {
    // The desktop window's web engine polls the system's free memory every 5 s from a
    // thread of its own, for as long as the window is open, idle or not. Its web process
    // still watches its own footprint. Someone who wants the poll can set the variable.
    #[cfg(all(feature = "desktop", target_os = "linux"))]
    if std::env::var_os("WEBKIT_DISABLE_MEMORY_PRESSURE_MONITOR").is_none() {
        // SAFETY: no other thread exists yet: parsing the arguments and finding the data
        // folder start none, and the window starts its threads below.
        unsafe { std::env::set_var("WEBKIT_DISABLE_MEMORY_PRESSURE_MONITOR", "1") };
    }
    // Entries never appear in screenshots or the recent-apps list (Android; elsewhere
    // nothing to do).
    steady::platform::secure_window();
    // A journal that moved away and whose erase was broken off is erased first.
    steady::store::moved::finish_erasing(&data_dir);
    // iOS: the courier's background tasks, which iOS takes only while the app launches.
    steady::platform::register_background_carry();
    let net = steady::ui::service::NetOptions { discovery_allowed: !no_discovery, listen };
    steady::ui::launch(data_dir, net, title, position);
    ExitCode::SUCCESS
}

#[cfg(not(any(feature = "desktop", feature = "mobile")))]
fn open_app(
    _data_dir: std::path::PathBuf,
    _no_discovery: bool,
    _listen: Vec<libp2p::Multiaddr>,
    _title: &str,
    _position: Option<(i32, i32)>,
) -> ExitCode {
    eprintln!("steady: this build has no app window; use a command (steady --help)");
    ExitCode::FAILURE
}
