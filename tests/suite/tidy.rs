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
    /// A file that may name one of the forbidden, and why.
    except: &'static [(&'static str, &'static str)],
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
        except: &[],
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
        except: &[],
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
        except: &[],
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
        except: &[],
    },
    Rule {
        files: "src/net/peers.rs",
        forbidden: &["super::link", "net::link", "link::"],
        why: "what this phone remembers is read and written by the link, and knows nothing of it",
        except: &[],
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
        except: &[],
    },
    Rule {
        files: "src/store",
        forbidden: &["crate::ui", "crate::cli", "crate::net", "dioxus", "libp2p", "tokio"],
        why: "the store knows nothing of screens, commands or the network",
        except: &[],
    },
    Rule {
        files: "src/ui",
        forbidden: &["crate::cli"],
        why: "the window never goes through the command line; both use the library",
        except: &[],
    },
    Rule {
        files: "src/vault",
        forbidden: &["crate::store", "crate::ui", "crate::cli", "crate::net", "rusqlite", "dioxus", "libp2p"],
        why: "the lock sits below the store: it holds keys and files, nothing of the journal",
        // After a passcode change cut short, the one value that says which key file is
        // the journal's own: its key id, in the clear, read without writing.
        except: &[("src/vault/change.rs", "rusqlite")],
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
            let shown = file.strip_prefix(ROOT).unwrap_or(&file).display().to_string();
            for (line, what) in breaks(&text, rule.forbidden) {
                if rule.except.contains(&(shown.as_str(), what)) {
                    continue;
                }
                broken.push(format!("{shown}:{line} uses {what}: {}", rule.why));
            }
        }
    }
    assert!(read >= 20, "only {read} files were read: the paths above are out of date");
    assert!(broken.is_empty(), "the layering is broken:\n{}", broken.join("\n"));
}

/// The window opens the journal in one place: `ui::state` (the `Journal`, which also
/// gives the sync node its own connection). A screen that opened a `Store` of its own
/// would hold the journal (and its key) where the lock can't drop it.
#[test]
fn in_the_window_only_ui_state_opens_a_store() {
    let opens = ["Store::open", "store::Store::open"];
    let state = Path::new(ROOT).join("src/ui/state.rs");
    let mut found = Vec::new();
    let mut read = 0;
    for file in rust_files(&Path::new(ROOT).join("src/ui")) {
        let text = std::fs::read_to_string(&file).unwrap();
        read += 1;
        let hits = breaks(&text, &opens);
        if file == state {
            assert!(!hits.is_empty(), "ui::state no longer opens the journal: the check is out of date");
            continue;
        }
        for (line, what) in hits {
            found.push(format!("{}:{line} uses {what}", file.strip_prefix(ROOT).unwrap_or(&file).display()));
        }
    }
    assert!(read >= 10, "only {read} files of the window were read");
    assert!(found.is_empty(), "only ui::state may open the journal:\n{}", found.join("\n"));
}

/// The desktop window's hotkey thread comes from `patches/global-hotkey`: the build uses
/// that copy, and its notes say which upstream change would let it go.
#[test]
fn the_patched_global_hotkey_is_the_copy_in_use_and_says_what_retires_it() {
    let manifest = std::fs::read_to_string(Path::new(ROOT).join("Cargo.toml")).unwrap();
    let manifest: toml::Value = toml::from_str(&manifest).unwrap();
    let patched = &manifest["patch"]["crates-io"]["global-hotkey"]["path"];
    assert_eq!(patched.as_str(), Some("patches/global-hotkey"), "the patch entry points at the copy");
    let copy = std::fs::read_to_string(Path::new(ROOT).join("patches/global-hotkey/Cargo.toml")).unwrap();
    let copy: toml::Value = toml::from_str(&copy).unwrap();
    let version = copy["package"]["version"].as_str().unwrap();
    // In the lock file, the crate in use is the path copy: an entry with no `source`.
    let lock = std::fs::read_to_string(Path::new(ROOT).join("Cargo.lock")).unwrap();
    let lock: toml::Value = toml::from_str(&lock).unwrap();
    let entries: Vec<&toml::Value> =
        lock["package"].as_array().unwrap().iter().filter(|p| p["name"].as_str() == Some("global-hotkey")).collect();
    assert_eq!(entries.len(), 1, "one global-hotkey in the build: {entries:?}");
    assert!(entries[0].get("source").is_none(), "the build uses the patched copy, not crates.io's: {:?}", entries[0]);
    assert_eq!(entries[0]["version"].as_str(), Some(version));
    let notes = std::fs::read_to_string(Path::new(ROOT).join("patches/global-hotkey/PATCHED.md")).unwrap();
    assert!(
        notes.contains("Upstream change that retires it:") && notes.contains("tauri-apps/global-hotkey#"),
        "PATCHED.md names the upstream change that would retire the copy"
    );
}

/// The crate's modules, named as paths (`store::rules::lookup`) from its source files:
/// `src/x/mod.rs` is `x`, and test modules don't count.
fn modules() -> Vec<String> {
    let src = Path::new(ROOT).join("src");
    let mut names: Vec<String> = rust_files(&src)
        .iter()
        .filter_map(|file| {
            let path = file.strip_prefix(&src).ok()?.with_extension("");
            let parts: Vec<String> = path.iter().map(|p| p.to_string_lossy().into_owned()).collect();
            let parts = match parts.last().map(String::as_str) {
                Some("mod") => &parts[..parts.len() - 1],
                _ => &parts[..],
            };
            let name = parts.join("::");
            let is_test = parts.iter().any(|p| p == "tests");
            (!is_test && !matches!(name.as_str(), "lib" | "main")).then_some(name)
        })
        .collect();
    names.sort();
    names
}

/// The modules ARCHITECTURE.md's code map names, in its first column.
fn mapped_modules(map: &str) -> Vec<String> {
    let mut names: Vec<String> = map
        .lines()
        .filter_map(|line| line.strip_prefix("| `")?.split_once('`').map(|(name, _)| name.to_owned()))
        .collect();
    names.sort();
    names
}

#[test]
fn the_code_map_names_every_module_and_only_modules_that_exist() {
    let sample = "| module | what |\n|---|---|\n| `store` | the journal |\n| `store::rules` | who may |\nprose `net`";
    assert_eq!(mapped_modules(sample), vec!["store", "store::rules"]);
    let map = std::fs::read_to_string(Path::new(ROOT).join("ARCHITECTURE.md")).unwrap();
    let (mapped, found) = (mapped_modules(&map), modules());
    assert!(found.len() >= 50 && found.contains(&"store::rules".to_owned()), "the modules were not found: {found:?}");
    let missing: Vec<&String> = found.iter().filter(|m| !mapped.contains(m)).collect();
    let gone: Vec<&String> = mapped.iter().filter(|m| !found.contains(m)).collect();
    assert!(missing.is_empty(), "modules ARCHITECTURE.md's code map does not name: {missing:?}");
    assert!(gone.is_empty(), "modules ARCHITECTURE.md's code map names that don't exist: {gone:?}");
}

/// ARCHITECTURE.md is the map and nothing else: short enough to read before a first
/// change. The designs are in docs/design, and every link to them leads somewhere.
#[test]
fn architecture_md_is_short_and_its_links_lead_somewhere() {
    let map = std::fs::read_to_string(Path::new(ROOT).join("ARCHITECTURE.md")).unwrap();
    assert!(map.len() <= 12 * 1024, "ARCHITECTURE.md is {} bytes; at most 12 KB", map.len());
    let mut links = 0;
    for (_, rest) in map.match_indices("](").map(|(i, _)| map.split_at(i + 2)) {
        let target = rest.split(')').next().unwrap_or_default();
        if target.starts_with("http") {
            continue;
        }
        links += 1;
        assert!(Path::new(ROOT).join(target).exists(), "ARCHITECTURE.md links to {target}, which isn't there");
    }
    assert!(links >= 8, "only {links} links to the designs were found");
}
