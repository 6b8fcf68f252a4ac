//! The layering ARCHITECTURE.md describes, checked on the source itself, the way
//! rust-analyzer's tidy test checks its own: a change that breaks it fails here, with
//! the file and line that did.

use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// What a part of the code may not use, and why.
struct Rule {
    files: &'static str,
    forbidden: &'static [&'static str],
    why: &'static str,
}

const RULES: &[Rule] = &[
    Rule {
        files: "src/model",
        forbidden: &[
            "std::fs",
            "std::net",
            "std::env",
            "std::process",
            "SystemTime",
            "Instant",
            "Utc::now",
            "Local::now",
            "tokio",
            "rusqlite",
            "libp2p",
            "dioxus",
            "crate::store",
            "crate::net",
            "crate::ui",
            "crate::cli",
            "crate::vault",
            "crate::platform",
            "crate::export",
        ],
        why: "the model is pure data and rules: no IO and no clock (callers pass `now` and `today`)",
    },
    Rule {
        files: "src/export/mod.rs",
        forbidden: &[
            "std::fs",
            "std::net",
            "Utc::now",
            "Local::now",
            "crate::store",
            "crate::ui",
            "crate::cli",
            "tokio",
        ],
        why: "the export formats are pure functions of the entries; `export::file` does the IO",
    },
    Rule {
        files: "src/net/pairing.rs",
        forbidden: &[
            "tokio",
            "Swarm",
            "libp2p::swarm",
            "rusqlite",
            "std::net",
            "std::fs",
            "Instant::now",
            "SystemTime",
        ],
        why: "the pairing exchange is a sans-IO state machine: bytes in, bytes out",
    },
    Rule {
        files: "src/net/link",
        forbidden: &[
            "tokio",
            "Swarm",
            "libp2p::swarm",
            "libp2p_stream",
            "rusqlite",
            "crate::store",
            "std::net",
            "std::fs",
            "Instant::now",
            "Utc::now",
            "SystemTime",
            "rand::",
        ],
        why: "the partner link is a sans-IO state machine: inputs and the time in, effects out",
    },
    Rule {
        files: "src/net/peers.rs",
        forbidden: &["super::link", "net::link", "link::"],
        why: "what this phone remembers is read and written by the link, and knows nothing of it",
    },
    Rule {
        files: "src/net/sync.rs",
        forbidden: &[
            "tokio",
            "Swarm",
            "libp2p::swarm",
            "libp2p_stream",
            "std::net",
            "Instant::now",
            "Utc::now",
            "SystemTime",
        ],
        why: "the sync session decides with the store and the time it is handed; its runner meets the stream",
    },
    Rule {
        files: "src/store",
        forbidden: &["crate::ui", "crate::cli", "crate::net", "dioxus", "libp2p", "tokio"],
        why: "the store knows nothing of screens, commands or the network",
    },
    Rule {
        files: "src/ui",
        forbidden: &["crate::cli"],
        why: "the window never goes through the command line; both use the library",
    },
    Rule {
        files: "src/vault",
        forbidden: &["crate::store", "crate::ui", "crate::cli", "crate::net", "rusqlite", "dioxus", "libp2p"],
        why: "the lock sits below the store: it holds keys and files, nothing of the journal",
    },
];

/// Every line of `text` outside its test module that names something in `forbidden`,
/// with its line number. Comments don't count. A `crate::X` is also found inside a
/// grouped import (`use crate::{store, ...}`, on one line or several).
fn breaks<'a>(text: &'a str, forbidden: &[&'a str]) -> Vec<(usize, &'a str)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    let mut in_group = false;
    for (n, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let next = lines[n + 1..].iter().find(|l| !l.trim().is_empty()).map(|l| l.trim_start());
        if trimmed.starts_with("#[cfg(test)]") && next.is_some_and(|l| l.starts_with("mod ")) {
            break;
        }
        if trimmed.starts_with("//") {
            continue;
        }
        let code = line.split("//").next().unwrap_or_default();
        let group = match code.split_once("crate::{") {
            Some((_, rest)) => {
                in_group = !rest.contains('}');
                Some(rest)
            }
            None if in_group => {
                in_group = !code.contains('}');
                Some(code)
            }
            None => None,
        };
        for f in forbidden {
            let in_this_group = f.strip_prefix("crate::").zip(group).is_some_and(|(module, group)| {
                group.split(|c: char| !(c.is_alphanumeric() || c == '_')).any(|word| word == module)
            });
            if code.contains(f) || in_this_group {
                found.push((n + 1, *f));
            }
        }
    }
    found
}

fn rust_files(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_owned()];
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

#[test]
fn the_layers_use_only_what_they_may() {
    // The check itself finds what it looks for: a line that uses the clock, before the
    // tests, in code; not in a comment, and not in the tests.
    let sample = "use chrono::Utc;\n// Utc::now() in a comment\nlet t = Utc::now();\n#[cfg(test)]\nmod tests {\nlet u = Utc::now();";
    assert_eq!(breaks(sample, &["Utc::now"]), vec![(3, "Utc::now")]);
    let grouped =
        "use crate::{model, store};\nuse crate::{\n    ui::App,\n    cli,\n};\n#[cfg(test)]\nfn f() { Utc::now() }";
    assert_eq!(
        breaks(grouped, &["crate::store", "crate::cli", "Utc::now"]),
        vec![(1, "crate::store"), (4, "crate::cli"), (7, "Utc::now")]
    );

    let mut broken = Vec::new();
    let mut read = 0;
    for rule in RULES {
        for file in rust_files(&Path::new(ROOT).join(rule.files)) {
            let text = std::fs::read_to_string(&file).unwrap();
            read += 1;
            for (line, what) in breaks(&text, rule.forbidden) {
                let shown = file.strip_prefix(ROOT).unwrap_or(&file).display().to_string();
                broken.push(format!("{shown}:{line} uses {what}: {}", rule.why));
            }
        }
    }
    assert!(read >= 20, "only {read} files were read: the paths above are out of date");
    assert!(broken.is_empty(), "the layering is broken:\n{}", broken.join("\n"));
}
