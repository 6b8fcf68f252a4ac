//! The `steady` binary: the app window, or one command-line action.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use steady::cli::{self, Cli};

fn main() -> ExitCode {
    let args = Cli::parse();
    let data_dir = match args.data_dir.clone().map(Ok).unwrap_or_else(cli::default_data_dir) {
        Ok(dir) => dir,
        Err(e) => return fail(&e),
    };
    match args.command {
        None => open_app(data_dir),
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
    let mut message = e.to_string();
    for cause in e.chain().skip(1) {
        message.push_str(": ");
        message.push_str(&cause.to_string());
    }
    eprintln!("steady: {message}");
    ExitCode::FAILURE
}

#[cfg(feature = "desktop")]
fn open_app(data_dir: std::path::PathBuf) -> ExitCode {
    steady::ui::launch(data_dir);
    ExitCode::SUCCESS
}

#[cfg(not(feature = "desktop"))]
fn open_app(_data_dir: std::path::PathBuf) -> ExitCode {
    eprintln!("steady: this build has no app window; use a command (steady --help)");
    ExitCode::FAILURE
}
