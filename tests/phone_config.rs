//! Dioxus.toml declares what the phone builds need: the name and bundle identifier, every
//! Android permission that sync uses, and the iOS Info.plist keys for the local network.
//!
//! Each check reads the file the way dx 0.7.10 does: Android permissions come from
//! `[android.permissions]`, from `<uses-permission>` lines in `[android.raw] manifest` and
//! from the unified `[permissions]` table; dx's manifest template adds INTERNET by itself.
//! Info.plist keys come from `[ios.plist]` and from `[permissions]`.

use std::collections::BTreeMap;
use std::path::Path;

use toml::{Table, Value};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The permissions sync needs on Android.
const ANDROID_PERMISSIONS: [&str; 6] = [
    "android.permission.INTERNET",
    "android.permission.ACCESS_NETWORK_STATE",
    "android.permission.ACCESS_WIFI_STATE",
    "android.permission.CHANGE_WIFI_MULTICAST_STATE",
    "android.permission.NEARBY_WIFI_DEVICES",
    "android.permission.ACCESS_LOCAL_NETWORK",
];

/// The one dx 0.7.10's AndroidManifest.xml template always declares.
const TEMPLATE_PERMISSION: &str = "android.permission.INTERNET";

/// The service type libp2p-mdns 0.49 browses for (`SERVICE_NAME = b"_p2p._udp.local"` in
/// its lib.rs), as NSBonjourServices spells it.
const MDNS_SERVICE: &str = "_p2p._udp";
const MDNS_CRATE_VERSION: &str = "0.49.";

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn get<'a>(table: &'a Table, path: &[&str]) -> Option<&'a Value> {
    let (last, parents) = path.split_last()?;
    let mut table = table;
    for key in parents {
        table = table.get(*key)?.as_table()?;
    }
    table.get(*last)
}

fn get_str<'a>(table: &'a Table, path: &[&str]) -> Option<&'a str> {
    get(table, path)?.as_str()
}

/// Every Android permission the built manifest will declare, with how many times.
fn android_permissions(config: &Table) -> BTreeMap<String, usize> {
    let mut found = BTreeMap::new();
    *found.entry(TEMPLATE_PERMISSION.to_string()).or_default() += 1;
    if let Some(table) = get(config, &["android", "permissions"]).and_then(Value::as_table) {
        for name in table.keys() {
            *found.entry(name.clone()).or_default() += 1;
        }
    }
    if let Some(raw) = get_str(config, &["android", "raw", "manifest"]) {
        for name in raw.split("<uses-permission").skip(1).filter_map(|tag| attribute(tag, "android:name")) {
            *found.entry(name.to_string()).or_default() += 1;
        }
    }
    // The unified table's keys that map to Android permissions (dx 0.7.10 manifest_mapper).
    if get(config, &["permissions", "nearby-wifi"]).is_some() {
        *found.entry("android.permission.NEARBY_WIFI_DEVICES".into()).or_default() += 1;
    }
    found
}

/// The value of `name="…"` in the start of an XML tag.
fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let tag = &tag[..tag.find('>').unwrap_or(tag.len())];
    let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
    let len = tag[start..].find('"')?;
    Some(&tag[start..start + len])
}

/// Every Info.plist key dx adds from Dioxus.toml, with its value.
fn plist(config: &Table) -> Vec<(String, Value)> {
    let mut keys = Vec::new();
    if let Some(table) = get(config, &["ios", "plist"]).and_then(Value::as_table) {
        keys.extend(table.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    if let Some(description) = get(config, &["permissions", "local-network", "description"]) {
        keys.push(("NSLocalNetworkUsageDescription".into(), description.clone()));
    }
    keys
}

/// What is wrong with this Dioxus.toml and Cargo.lock for the phone builds.
fn problems(dioxus_toml: &str, cargo_lock: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let config: Table = match toml::from_str(dioxus_toml) {
        Ok(config) => config,
        Err(e) => return vec![format!("Dioxus.toml is not TOML: {e}")],
    };

    if get_str(&config, &["application", "name"]) != Some("Steady") {
        problems.push("[application] name is not \"Steady\"".into());
    }
    match get_str(&config, &["bundle", "identifier"]) {
        Some(id) if is_reverse_dns(id) => {}
        other => problems.push(format!("[bundle] identifier {other:?} is not a reverse-DNS identifier")),
    }
    if get_str(&config, &["bundle", "publisher"]).is_none_or(|p| p.trim().is_empty()) {
        problems.push("[bundle] publisher is missing".into());
    }
    for ignored in [["android", "manifest"], ["ios", "info_plist"]] {
        if get(&config, &ignored).is_some() {
            problems.push(format!("[{}] {} is read by nothing in dx 0.7.10", ignored[0], ignored[1]));
        }
    }

    let declared = android_permissions(&config);
    for permission in ANDROID_PERMISSIONS {
        match declared.get(permission) {
            None => problems.push(format!("Android permission {permission} is not declared")),
            Some(1) => {}
            Some(n) => problems.push(format!("Android permission {permission} is declared {n} times")),
        }
    }
    let raw = get_str(&config, &["android", "raw", "manifest"]).unwrap_or("");
    let nearby = raw.split("<uses-permission").skip(1).find(|tag| tag.contains("NEARBY_WIFI_DEVICES"));
    if nearby.and_then(|tag| attribute(tag, "android:usesPermissionFlags")) != Some("neverForLocation") {
        problems.push("NEARBY_WIFI_DEVICES is not declared in [android.raw] with neverForLocation".into());
    }

    let plist = plist(&config);
    let values = |key: &str| -> Vec<&Value> { plist.iter().filter(|(k, _)| k == key).map(|(_, v)| v).collect() };
    match values("NSLocalNetworkUsageDescription")[..] {
        [Value::String(text)] => {
            if !text.contains("partner") || text.len() < 40 {
                problems.push("NSLocalNetworkUsageDescription does not tell a partner why".into());
            }
            if text.contains(['&', '<']) {
                problems.push("NSLocalNetworkUsageDescription has & or <, which dx writes unescaped".into());
            }
        }
        [] => problems.push("NSLocalNetworkUsageDescription is missing".into()),
        [_] => problems.push("NSLocalNetworkUsageDescription is not text".into()),
        _ => problems.push("NSLocalNetworkUsageDescription is set twice".into()),
    }
    match values("NSBonjourServices")[..] {
        [Value::Array(services)] if services.iter().any(|s| s.as_str() == Some(MDNS_SERVICE)) => {}
        [] => problems.push("NSBonjourServices is missing".into()),
        _ => problems.push(format!("NSBonjourServices is not one list holding {MDNS_SERVICE}")),
    }

    // NSBonjourServices names the service of the libp2p-mdns version this was checked against.
    let lock: Table = toml::from_str(cargo_lock).unwrap_or_default();
    let mdns: Vec<&str> = lock
        .get("package")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|p| get_str(p.as_table().unwrap_or(&Table::new()), &["name"]) == Some("libp2p-mdns"))
        .filter_map(|p| p.get("version").and_then(Value::as_str))
        .collect();
    if mdns.is_empty() || !mdns.iter().all(|v| v.starts_with(MDNS_CRATE_VERSION)) {
        problems.push(format!(
            "Cargo.lock has libp2p-mdns {mdns:?}: check its service name and update NSBonjourServices and this test"
        ));
    }

    problems
}

/// Android's applicationId rules, which iOS bundle identifiers also meet: two or more
/// dot-separated parts, each starting with a letter, of letters, digits and underscores.
fn is_reverse_dns(id: &str) -> bool {
    let parts: Vec<&str> = id.split('.').collect();
    parts.len() >= 2
        && parts.iter().all(|part| {
            part.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

#[test]
fn dioxus_toml_declares_everything_the_phones_need() {
    let problems = problems(&read("Dioxus.toml"), &read("Cargo.lock"));
    assert!(problems.is_empty(), "Dioxus.toml is not ready for the phones:\n{}", problems.join("\n"));
}

#[test]
fn a_missing_or_repeated_setting_is_caught() {
    let good = read("Dioxus.toml");
    let lock = read("Cargo.lock");
    // Dioxus.toml without the line that holds `needle`.
    let without = |needle: &str| {
        let line = good.lines().find(|line| line.contains(needle));
        let line = line.unwrap_or_else(|| panic!("Dioxus.toml no longer has {needle:?}; update this test"));
        problems(&good.replacen(&format!("{line}\n"), "", 1), &lock)
    };
    let caught = |problems: Vec<String>, what: &str| {
        assert!(problems.iter().any(|p| p.contains(what)), "expected a problem about {what}, got {problems:?}");
    };

    caught(without("\"android.permission.CHANGE_WIFI_MULTICAST_STATE\" = "), "CHANGE_WIFI_MULTICAST_STATE");
    caught(without("android:usesPermissionFlags=\"neverForLocation\""), "neverForLocation");
    caught(without("NSLocalNetworkUsageDescription = "), "NSLocalNetworkUsageDescription");
    caught(without("\"_p2p._udp\""), "NSBonjourServices");
    caught(without("identifier = \"app.steady.Steady\""), "identifier");

    let internet_twice = format!(
        "{good}\n[permissions.nearby-wifi]\ndescription = \"x\"\n",
        good = good.replace(
            "[android.permissions]\n",
            "[android.permissions]\n\"android.permission.INTERNET\" = { description = \"x\" }\n"
        )
    );
    let twice = problems(&internet_twice, &lock);
    caught(twice.clone(), "INTERNET is declared 2 times");
    caught(twice, "NEARBY_WIFI_DEVICES is declared 2 times");

    let newer_mdns = "[[package]]\nname = \"libp2p-mdns\"\nversion = \"0.50.0\"\n";
    caught(problems(&good, newer_mdns), "libp2p-mdns");
}

#[test]
fn the_icons_and_phone_files_dioxus_toml_names_exist() {
    let config: Table = toml::from_str(&read("Dioxus.toml")).unwrap();
    let icons = get(&config, &["bundle", "icon"]).and_then(Value::as_array).expect("[bundle] icon");
    let mut files: Vec<String> = icons.iter().map(|i| i.as_str().expect("icon path").to_string()).collect();
    for density in ["mdpi", "hdpi", "xhdpi", "xxhdpi", "xxxhdpi"] {
        files.push(format!("platforms/android/res/mipmap-{density}/ic_launcher.png"));
        files.push(format!("platforms/android/res/mipmap-{density}/ic_launcher_foreground.png"));
    }
    files.push("platforms/ios/AppIcon-1024.png".into());
    for file in &files {
        let bytes = std::fs::read(Path::new(ROOT).join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{file} is not a PNG");
    }
    let adaptive = read("platforms/android/res/mipmap-anydpi-v26/ic_launcher.xml");
    assert!(adaptive.contains("@mipmap/ic_launcher_foreground") && adaptive.contains("@color/steady_icon_background"));
    assert!(read("platforms/android/res/values/steady_icon.xml").contains("name=\"steady_icon_background\""));

    let entitlements = read("platforms/ios/Steady.entitlements");
    assert!(
        entitlements.contains("<key>com.apple.developer.networking.multicast</key>\n\t<true/>"),
        "the iOS release entitlements do not ask for multicast networking"
    );
}
