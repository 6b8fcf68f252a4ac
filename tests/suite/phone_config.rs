//! Dioxus.toml and platforms/ declare what the phone builds need: the name and bundle
//! identifier, every Android permission that sync uses, the iOS Info.plist keys for the
//! local network, and that the journal stays out of every backup.
//!
//! Each check reads the files the way dx 0.7.10 does. Android: `[application]
//! android_manifest` names platforms/android/AndroidManifest.xml, which dx then uses as it
//! is, instead of rendering its own template, so the permissions and the backup settings
//! are read from that file, and any `[android.*]` table of Dioxus.toml that would have fed
//! the template is a mistake (dx ignores it). Info.plist keys come from `[ios.plist]` and
//! from `[permissions]`. iOS has no backup setting in Info.plist: the app marks the
//! journal's folder itself, which the last test checks in its source.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use toml::{Table, Value};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The Android manifest dx uses, relative to the crate.
const ANDROID_MANIFEST: &str = "platforms/android/AndroidManifest.xml";
/// Where the Android resources that dx does not write live; use-steady-icon.sh copies them
/// into the generated project.
const ANDROID_RES: &str = "platforms/android/res";

/// The permissions sync needs on Android.
const ANDROID_PERMISSIONS: [&str; 6] = [
    "android.permission.INTERNET",
    "android.permission.ACCESS_NETWORK_STATE",
    "android.permission.ACCESS_WIFI_STATE",
    "android.permission.CHANGE_WIFI_MULTICAST_STATE",
    "android.permission.NEARBY_WIFI_DEVICES",
    "android.permission.ACCESS_LOCAL_NETWORK",
];

/// The resources dx 0.7.10 writes into the Android project it generates (strings.xml,
/// styles.xml, its launcher icon and network_security_config.xml).
const DX_RESOURCES: [&str; 4] =
    ["@string/app_name", "@style/AppTheme", "@mipmap/ic_launcher", "@xml/network_security_config"];

/// Every storage domain Android's backup rules know (FullBackup's XML domains): the app's
/// credential-protected storage and its device-protected twin.
const BACKUP_DOMAINS: [&str; 9] = [
    "root",
    "file",
    "database",
    "sharedpref",
    "external",
    "device_root",
    "device_file",
    "device_database",
    "device_sharedpref",
];

/// The sections of `<data-extraction-rules>`: backups to the cloud, and moving to a new
/// phone.
const EXTRACTION_SECTIONS: [&str; 2] = ["cloud-backup", "device-transfer"];

/// The service type libp2p-mdns 0.49 browses for (`SERVICE_NAME = b"_p2p._udp.local"` in
/// its lib.rs), as NSBonjourServices spells it.
const MDNS_SERVICE: &str = "_p2p._udp";
const MDNS_CRATE_VERSION: &str = "0.49.";

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The text of an XML resource in platforms/android/res, by its `@type/name`.
fn platform_resource(reference: &str) -> Option<String> {
    let (kind, name) = reference.strip_prefix('@')?.split_once('/')?;
    std::fs::read_to_string(Path::new(ROOT).join(ANDROID_RES).join(kind).join(format!("{name}.xml"))).ok()
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

/// An XML element: its name, its attributes in order, and its child elements. Text,
/// comments and the declaration are dropped.
#[derive(Debug)]
struct Element {
    name: String,
    attributes: Vec<(String, String)>,
    children: Vec<Element>,
}

impl Element {
    fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn children<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |child| child.name == name)
    }

    /// Every element inside this one, at any depth.
    fn descendants(&self) -> Vec<&Element> {
        let mut all = Vec::new();
        for child in &self.children {
            all.push(child);
            all.extend(child.descendants());
        }
        all
    }
}

/// Parses the XML that Android resource and manifest files use: one root element, tags
/// with quoted attributes, comments and a declaration. An error says what is malformed.
fn parse_xml(text: &str) -> Result<Element, String> {
    let mut open: Vec<Element> = Vec::new();
    let mut root = None;
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        if !rest[..start].trim().is_empty() && open.is_empty() {
            return Err(format!("text outside the root element: {:?}", rest[..start].trim()));
        }
        rest = &rest[start..];
        if let Some(after) = rest.strip_prefix("<!--") {
            let end = after.find("-->").ok_or("a comment is not closed")?;
            if after[..end].contains("--") {
                return Err("a comment holds `--`".into());
            }
            rest = &after[end + 3..];
            continue;
        }
        if let Some(after) = rest.strip_prefix("<?") {
            rest = &after[after.find("?>").ok_or("a declaration is not closed")? + 2..];
            continue;
        }
        let end = rest.find('>').ok_or("a tag is not closed")?;
        let tag = &rest[1..end];
        rest = &rest[end + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            let element = open.pop().ok_or_else(|| format!("</{name}> closes nothing"))?;
            if element.name != name.trim() {
                return Err(format!("</{}> closes <{}>", name.trim(), element.name));
            }
            match open.last_mut() {
                Some(parent) => parent.children.push(element),
                None if root.is_none() => root = Some(element),
                None => return Err("more than one root element".into()),
            }
            continue;
        }
        let (tag, empty) = match tag.strip_suffix('/') {
            Some(tag) => (tag, true),
            None => (tag, false),
        };
        let element = parse_tag(tag)?;
        if empty {
            match open.last_mut() {
                Some(parent) => parent.children.push(element),
                None if root.is_none() => root = Some(element),
                None => return Err("more than one root element".into()),
            }
        } else {
            open.push(element);
        }
    }
    if let Some(element) = open.pop() {
        return Err(format!("<{}> is not closed", element.name));
    }
    if !rest.trim().is_empty() {
        return Err(format!("text after the root element: {:?}", rest.trim()));
    }
    root.ok_or_else(|| "no root element".into())
}

/// `name attr="value" attr='value'` inside `<` and `>`.
fn parse_tag(tag: &str) -> Result<Element, String> {
    let tag = tag.trim();
    let name_end = tag.find(char::is_whitespace).unwrap_or(tag.len());
    let name = &tag[..name_end];
    if name.is_empty() {
        return Err(format!("a tag has no name: <{tag}>"));
    }
    let mut attributes: Vec<(String, String)> = Vec::new();
    let mut rest = tag[name_end..].trim_start();
    while !rest.is_empty() {
        let eq = rest.find('=').ok_or_else(|| format!("<{name}>: {rest:?} has no value"))?;
        let attribute = rest[..eq].trim();
        let value = rest[eq + 1..].trim_start();
        let quote = value.chars().next().filter(|q| *q == '"' || *q == '\'');
        let quote = quote.ok_or_else(|| format!("<{name}>: {attribute} is not quoted"))?;
        let len = value[1..].find(quote).ok_or_else(|| format!("<{name}>: {attribute} is not closed"))?;
        if attributes.iter().any(|(n, _)| n == attribute) {
            return Err(format!("<{name}>: {attribute} is set twice"));
        }
        attributes.push((attribute.to_string(), value[1..1 + len].to_string()));
        rest = value[len + 2..].trim_start();
    }
    Ok(Element { name: name.to_string(), attributes, children: Vec::new() })
}

/// What is wrong with backup rules that should leave nothing to back up: `root` is the
/// file's root element, `sections` the elements under it that hold rules (or the root
/// itself when empty). Each section must include nothing and exclude every domain whole.
fn rules_problems(file: &str, text: &str, root: &str, sections: &[&str]) -> Vec<String> {
    let rules = match parse_xml(text) {
        Ok(rules) => rules,
        Err(e) => return vec![format!("{file} is not XML: {e}")],
    };
    if rules.name != root {
        return vec![format!("{file} is <{}>, not <{root}>", rules.name)];
    }
    let mut checked: Vec<(String, &Element)> = Vec::new();
    if sections.is_empty() {
        checked.push((root.to_string(), &rules));
    }
    let mut problems = Vec::new();
    for section in sections {
        match rules.children(section).collect::<Vec<_>>()[..] {
            [one] => checked.push((format!("{root}/{section}"), one)),
            [] => problems.push(format!("{file} has no <{section}>, so Android uses its defaults there")),
            _ => problems.push(format!("{file} has <{section}> twice")),
        }
    }
    for (where_, section) in checked {
        let mut excluded = BTreeSet::new();
        for rule in &section.children {
            let domain = rule.attribute("domain").unwrap_or("");
            match rule.name.as_str() {
                "exclude" => {
                    // A path names only part of the domain; "." or none is all of it.
                    match rule.attribute("path") {
                        None | Some(".") => {
                            excluded.insert(domain);
                        }
                        Some(path) => problems.push(format!("{file}: <{where_}> excludes only {path} of {domain}")),
                    }
                }
                "include" => problems.push(format!("{file}: <{where_}> includes {domain}")),
                other => problems.push(format!("{file}: <{where_}> has <{other}>")),
            }
        }
        for domain in BACKUP_DOMAINS {
            if !excluded.contains(domain) {
                problems.push(format!("{file}: <{where_}> does not exclude the {domain} domain"));
            }
        }
        for domain in excluded {
            if !BACKUP_DOMAINS.contains(&domain) {
                problems.push(format!("{file}: <{where_}> names an unknown domain {domain:?}"));
            }
        }
    }
    problems
}

/// What is wrong with the Android manifest: `resource` reads one of platforms/android/res's
/// XML resources by its `@xml/name`.
fn manifest_problems(manifest: &str, resource: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    let manifest = match parse_xml(manifest) {
        Ok(manifest) => manifest,
        Err(e) => return vec![format!("{ANDROID_MANIFEST} is not XML: {e}")],
    };
    let mut problems = Vec::new();
    if manifest.name != "manifest" {
        problems.push(format!("{ANDROID_MANIFEST}'s root is <{}>, not <manifest>", manifest.name));
    }

    let mut declared: BTreeMap<&str, usize> = BTreeMap::new();
    for permission in manifest.children("uses-permission") {
        *declared.entry(permission.attribute("android:name").unwrap_or("")).or_default() += 1;
    }
    for permission in ANDROID_PERMISSIONS {
        match declared.get(permission) {
            None => problems.push(format!("Android permission {permission} is not declared")),
            Some(1) => {}
            Some(n) => problems.push(format!("Android permission {permission} is declared {n} times")),
        }
    }
    let nearby = manifest
        .children("uses-permission")
        .find(|p| p.attribute("android:name") == Some("android.permission.NEARBY_WIFI_DEVICES"));
    if nearby.and_then(|p| p.attribute("android:usesPermissionFlags")) != Some("neverForLocation") {
        problems.push("NEARBY_WIFI_DEVICES is not declared with neverForLocation".into());
    }

    let applications: Vec<&Element> = manifest.children("application").collect();
    let [application] = applications[..] else {
        problems.push(format!("{ANDROID_MANIFEST} has {} <application> elements, not one", applications.len()));
        return problems;
    };
    if application.attribute("android:allowBackup") != Some("false") {
        problems.push("<application> does not set android:allowBackup=\"false\"".into());
    }
    for (attribute, root, sections) in [
        ("android:dataExtractionRules", "data-extraction-rules", &EXTRACTION_SECTIONS[..]),
        ("android:fullBackupContent", "full-backup-content", &[][..]),
    ] {
        let Some(reference) = application.attribute(attribute).filter(|r| r.starts_with("@xml/")) else {
            problems.push(format!("<application> does not name an @xml resource in {attribute}"));
            continue;
        };
        match resource(reference) {
            Some(text) => problems.extend(rules_problems(reference, &text, root, sections)),
            None => problems.push(format!("{attribute} names {reference}, which is not in {ANDROID_RES}")),
        }
    }

    // What dx 0.7.10's template sets up for the app to start: its MainActivity (in package
    // dev.dioxus.main) loading the native library libmain.so through NativeActivity.
    let launcher = application.children("activity").find(|a| {
        a.children("intent-filter").any(|f| {
            f.children("category").any(|c| c.attribute("android:name") == Some("android.intent.category.LAUNCHER"))
        })
    });
    match launcher {
        None => problems.push("no activity is the launcher's".into()),
        Some(activity) => {
            if activity.attribute("android:name") != Some("dev.dioxus.main.MainActivity") {
                problems.push("the launcher activity is not dx's dev.dioxus.main.MainActivity".into());
            }
            let meta = |name: &str| {
                activity
                    .children("meta-data")
                    .find(|m| m.attribute("android:name") == Some(name))?
                    .attribute("android:value")
            };
            if meta("android.app.lib_name") != Some("main") {
                problems.push("android.app.lib_name is not \"main\", the library dx 0.7.10 builds (libmain.so)".into());
            }
            if meta("android.app.func_name") != Some("ANativeActivity_onCreate") {
                problems.push("android.app.func_name is not ANativeActivity_onCreate".into());
            }
        }
    }

    // Every resource the manifest names must be in the generated project: written by dx,
    // or copied there from platforms/android/res.
    let references: BTreeSet<&str> = manifest
        .descendants()
        .into_iter()
        .flat_map(|element| element.attributes.iter().map(|(_, value)| value.as_str()))
        .filter(|value| value.starts_with('@'))
        .collect();
    for reference in references {
        let in_platforms = match reference.split_once('/') {
            Some(("@mipmap", name)) => {
                Path::new(ROOT).join(ANDROID_RES).join("mipmap-mdpi").join(format!("{name}.png")).is_file()
            }
            _ => resource(reference).is_some(),
        };
        if !DX_RESOURCES.contains(&reference) && !in_platforms {
            problems.push(format!("{ANDROID_MANIFEST} names {reference}, which neither dx nor {ANDROID_RES} provides"));
        }
    }
    problems
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

/// What is wrong with this Dioxus.toml, Android manifest and Cargo.lock for the phone
/// builds. `resource` reads platforms/android/res's XML resources.
fn problems(
    dioxus_toml: &str,
    manifest: &str,
    resource: &dyn Fn(&str) -> Option<String>,
    cargo_lock: &str,
) -> Vec<String> {
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

    // Android: dx 0.7.10 reads the manifest file and renders no template.
    if get_str(&config, &["application", "android_manifest"]) != Some(ANDROID_MANIFEST) {
        problems.push(format!("[application] android_manifest does not name {ANDROID_MANIFEST}"));
    }
    for template_only in ["permissions", "raw", "application", "features", "lib_name", "url_schemes", "intent_filters"]
    {
        if get(&config, &["android", template_only]).is_some() {
            problems.push(format!(
                "[android] {template_only} is ignored: dx uses {ANDROID_MANIFEST} as it is, so set it there"
            ));
        }
    }
    if get(&config, &["permissions", "nearby-wifi"]).is_some() {
        problems.push(format!("[permissions.nearby-wifi] is ignored on Android: declare it in {ANDROID_MANIFEST}"));
    }
    problems.extend(manifest_problems(manifest, resource));

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
fn dioxus_toml_and_the_android_manifest_declare_everything_the_phones_need() {
    let problems = problems(&read("Dioxus.toml"), &read(ANDROID_MANIFEST), &platform_resource, &read("Cargo.lock"));
    assert!(problems.is_empty(), "the phone settings are not ready:\n{}", problems.join("\n"));
}

#[test]
fn the_android_backup_rules_exclude_every_domain_from_cloud_backup_and_device_transfer() {
    let manifest = parse_xml(&read(ANDROID_MANIFEST)).expect("the manifest is XML");
    let application = manifest.children("application").next().expect("<application>");
    assert_eq!(application.attribute("android:allowBackup"), Some("false"));

    let reference = application.attribute("android:dataExtractionRules").expect("android:dataExtractionRules");
    let rules = parse_xml(&platform_resource(reference).expect("the data extraction rules")).expect("XML");
    assert_eq!(rules.name, "data-extraction-rules");
    for section in EXTRACTION_SECTIONS {
        let section = rules.children(section).next().unwrap_or_else(|| panic!("<{section}>"));
        let excluded: BTreeSet<&str> = section.children("exclude").filter_map(|e| e.attribute("domain")).collect();
        assert_eq!(excluded, BTreeSet::from(BACKUP_DOMAINS), "<{}> excludes", section.name);
        assert_eq!(section.children("include").count(), 0, "<{}> includes something", section.name);
    }

    let reference = application.attribute("android:fullBackupContent").expect("android:fullBackupContent");
    let rules = parse_xml(&platform_resource(reference).expect("the full backup rules")).expect("XML");
    assert_eq!(rules.name, "full-backup-content");
    let excluded: BTreeSet<&str> = rules.children("exclude").filter_map(|e| e.attribute("domain")).collect();
    assert_eq!(excluded, BTreeSet::from(BACKUP_DOMAINS));
    assert_eq!(rules.children("include").count(), 0);
}

#[test]
fn the_script_for_the_generated_android_project_copies_the_backup_rules() {
    // dx 0.7.10 copies no resources of the app's own; use-steady-icon.sh copies all of
    // platforms/android/res, the rules in res/xml included.
    let script = read("platforms/android/use-steady-icon.sh");
    assert!(script.contains(r#"cp -R "$here/res/." "$res/""#), "use-steady-icon.sh no longer copies all of res/");
    for rules in ["data_extraction_rules.xml", "backup_rules.xml"] {
        assert!(Path::new(ROOT).join(ANDROID_RES).join("xml").join(rules).is_file(), "{rules} is missing");
    }
}

#[test]
fn a_missing_or_repeated_setting_is_caught() {
    let good = read("Dioxus.toml");
    let manifest = read(ANDROID_MANIFEST);
    let lock = read("Cargo.lock");
    let check = |dioxus_toml: &str, manifest: &str| problems(dioxus_toml, manifest, &platform_resource, &lock);
    assert_eq!(check(&good, &manifest), Vec::<String>::new());
    // `text` without the line that holds `needle`.
    let without = |text: &str, needle: &str| {
        let line = text.lines().find(|line| line.contains(needle));
        let line = line.unwrap_or_else(|| panic!("no longer has {needle:?}; update this test"));
        text.replacen(&format!("{line}\n"), "", 1)
    };
    let caught = |problems: Vec<String>, what: &str| {
        assert!(problems.iter().any(|p| p.contains(what)), "expected a problem about {what}, got {problems:?}");
    };

    caught(check(&good, &without(&manifest, "CHANGE_WIFI_MULTICAST_STATE\"")), "CHANGE_WIFI_MULTICAST_STATE");
    caught(
        check(&good, &manifest.replace(" android:usesPermissionFlags=\"neverForLocation\"", "")),
        "neverForLocation",
    );
    let internet = "<uses-permission android:name=\"android.permission.INTERNET\" />";
    caught(
        check(&good, &manifest.replacen(internet, &format!("{internet}{internet}"), 1)),
        "INTERNET is declared 2 times",
    );
    caught(check(&without(&good, "NSLocalNetworkUsageDescription = "), &manifest), "NSLocalNetworkUsageDescription");
    caught(check(&without(&good, "\"_p2p._udp\""), &manifest), "NSBonjourServices");
    caught(check(&without(&good, "identifier = \"app.steady.Steady\""), &manifest), "identifier");

    // Android settings dx would ignore, or a manifest it would not use.
    caught(check(&without(&good, "android_manifest = "), &manifest), "android_manifest");
    let permissions = "\n[android.permissions]\n\"android.permission.CAMERA\" = { description = \"x\" }\n";
    caught(check(&format!("{good}{permissions}"), &manifest), "[android] permissions is ignored");
    caught(check(&format!("{good}\n[android.raw]\nmanifest = \"\"\n"), &manifest), "[android] raw is ignored");
    caught(check(&format!("{good}\n[permissions.nearby-wifi]\ndescription = \"x\"\n"), &manifest), "nearby-wifi");
    caught(check(&good, &manifest.replace("android:value=\"main\"", "android:value=\"steady\"")), "lib_name");
    caught(check(&good, "<manifest>"), "is not XML");

    // Backups.
    caught(
        check(&good, &manifest.replace("android:allowBackup=\"false\"", "android:allowBackup=\"true\"")),
        "allowBackup",
    );
    caught(check(&good, &without(&manifest, "android:allowBackup=")), "allowBackup");
    caught(check(&good, &without(&manifest, "android:dataExtractionRules=")), "android:dataExtractionRules");
    caught(check(&good, &without(&manifest, "android:fullBackupContent=")), "android:fullBackupContent");
    caught(
        check(&good, &manifest.replace("@xml/data_extraction_rules", "@xml/missing_rules")),
        "@xml/missing_rules, which is not in",
    );

    // Rules that let something through, checked through the manifest that names them.
    let with_rules = |file: &'static str, rules: String| {
        let resource = move |reference: &str| {
            if reference == format!("@xml/{file}") { Some(rules.clone()) } else { platform_resource(reference) }
        };
        problems(&good, &manifest, &resource, &lock)
    };
    let extraction = platform_resource("@xml/data_extraction_rules").expect("the data extraction rules");
    let transfer_start = extraction.find("<device-transfer>").expect("<device-transfer>");
    let (cloud, transfer) = extraction.split_at(transfer_start);
    let one_less = format!("{cloud}{}", without(transfer, "<exclude domain=\"sharedpref\""));
    caught(
        with_rules("data_extraction_rules", one_less),
        "<data-extraction-rules/device-transfer> does not exclude the sharedpref domain",
    );
    let no_cloud =
        extraction.replace("<cloud-backup>", "<cloud-backup-off>").replace("</cloud-backup>", "</cloud-backup-off>");
    caught(with_rules("data_extraction_rules", no_cloud), "has no <cloud-backup>");
    let included =
        extraction.replacen("<exclude domain=\"file\" />", "<include domain=\"file\" path=\"journal\" />", 1);
    caught(with_rules("data_extraction_rules", included), "includes file");
    let part = extraction.replacen("<exclude domain=\"root\" />", "<exclude domain=\"root\" path=\"cache\" />", 1);
    caught(with_rules("data_extraction_rules", part), "excludes only cache of root");
    caught(with_rules("data_extraction_rules", extraction.replace("</device-transfer>", "")), "is not XML");
    let full = platform_resource("@xml/backup_rules").expect("the full backup rules");
    caught(
        with_rules("backup_rules", without(&full, "<exclude domain=\"database\"")),
        "<full-backup-content> does not exclude the database domain",
    );

    let newer_mdns = "[[package]]\nname = \"libp2p-mdns\"\nversion = \"0.50.0\"\n";
    caught(problems(&good, &manifest, &platform_resource, newer_mdns), "libp2p-mdns");
}

#[test]
fn the_xml_reader_reads_nesting_and_attributes_and_refuses_what_is_malformed() {
    let element = parse_xml(
        "<?xml version=\"1.0\"?>\n<!-- a comment -->\n<a x=\"1\" y='2'>\n  <b/>\n  <c z=\"3\"><b /></c>\n</a>\n",
    )
    .expect("well-formed");
    assert_eq!(element.name, "a");
    assert_eq!((element.attribute("x"), element.attribute("y")), (Some("1"), Some("2")));
    assert_eq!(element.children.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["b", "c"]);
    assert_eq!(element.descendants().len(), 3);
    assert_eq!(element.children("c").next().and_then(|c| c.attribute("z")), Some("3"));

    for malformed in
        ["<a>", "<a></b>", "<a/><b/>", "<a x=1/>", "<a x=\"1\" x=\"2\"/>", "<a/>text", "<!-- a -- b --><a/>", ""]
    {
        assert!(parse_xml(malformed).is_err(), "{malformed:?} was read as XML");
    }
}

#[test]
fn the_icons_and_phone_files_exist() {
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

/// The text of the Rust item that starts with `signature` in `source`, to its closing brace
/// (found by counting braces, which is enough for this crate's platform code).
fn item<'a>(source: &'a str, signature: &str) -> &'a str {
    let start = source.find(signature).unwrap_or_else(|| panic!("{signature:?} is gone; update this test"));
    let mut depth = 0;
    for (i, c) in source[start..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 1 => return &source[start..start + i + 1],
            '}' => depth -= 1,
            _ => {}
        }
    }
    panic!("{signature:?} does not close")
}

/// The block that follows the first `#[cfg(target_os = "ios")]` in `body`.
fn ios_block(body: &str) -> &str {
    let start = body.find("#[cfg(target_os = \"ios\")]").expect("an iOS block");
    let rest = &body[start..];
    item(rest, &rest[..rest.find('{').expect("a block")])
}

#[test]
fn on_ios_the_journal_folder_is_kept_out_of_backups_and_the_key_in_this_device_only() {
    // iOS is not built here, so this reads the code that does it.
    let platform = read("src/platform/mod.rs");

    // The folder phone_data_dir hands out exists, and is marked, before anyone uses it.
    let data_dir = ios_block(item(&platform, "pub fn phone_data_dir()"));
    let created = data_dir.find("create_dir_all(&dir)").expect("phone_data_dir creates the folder on iOS");
    let excluded = data_dir.find("exclude_from_backup(&dir)").expect("phone_data_dir marks the folder on iOS");
    assert!(created < excluded, "the folder is marked before it exists");
    assert!(data_dir.find("Some(dir)").is_some_and(|given| excluded < given), "the folder is handed out unmarked");

    let exclude = ios_block(item(&platform, "pub fn exclude_from_backup("));
    assert!(exclude.contains("ios::exclude_from_backup(dir)"), "exclude_from_backup does nothing on iOS");
    let ios = read("src/platform/ios.rs");
    let mark = item(&ios, "pub(super) fn exclude_from_backup(");
    for call in [
        "NSURL::fileURLWithPath_isDirectory(",
        "NSNumber::numberWithBool(true)",
        "setResourceValue_forKey_error(Some(value), NSURLIsExcludedFromBackupKey)",
    ] {
        assert!(mark.contains(call), "exclude_from_backup on iOS no longer calls {call}");
    }

    let keystore = read("src/platform/keystore.rs");
    let keychain = item(&keystore, "mod ios {");
    let put = item(keychain, "pub(super) fn put(");
    let protected = put.find("ProtectionMode::AccessibleWhenUnlockedThisDeviceOnly").expect("the item's protection");
    let applied = put.find("options.set_access_control(access)").expect("the protection applied to the item");
    assert!(protected < applied && put.find("set_generic_password_options(").is_some_and(|kept| applied < kept));
    assert!(keystore.contains("pub const KEYSTORE_SERVICE: &str = \"app.steady.Steady\";"));
    assert!(keystore.contains("pub const KEYSTORE_ACCOUNT: &str = \"data-key\";"));
}

/// What each platform's courier needs, read as dx 0.7.10 reads it. Android: the activity
/// file Dioxus.toml names is dx's MainActivity (package dev.dioxus.main, a WryActivity)
/// with the courier's service and the boot receiver beside it; the manifest declares
/// both, the service as a connectedDevice foreground service that only Steady starts,
/// with the permissions that needs; and the service's native method is the symbol the
/// Rust side exports. iOS: the background modes for relay fetches, and the task
/// identifiers, as lists, and UIBackgroundModes once.
#[test]
fn the_courier_is_declared_for_both_phones() {
    let config: Table = toml::from_str(&read("Dioxus.toml")).unwrap();
    let activity_path = get_str(&config, &["application", "android_main_activity"]).expect("android_main_activity");
    let kotlin = read(activity_path);
    for needed in [
        "package dev.dioxus.main",
        "typealias BuildConfig = app.steady.Steady.BuildConfig",
        "class MainActivity : WryActivity()",
        "fun startCourierService()",
        "class CourierService : Service()",
        "FOREGROUND_SERVICE_TYPE_CONNECTED_DEVICE",
        "TRANSPORT_WIFI",
        "createMulticastLock",
        "class BootReceiver : BroadcastReceiver()",
        "ACTION_BOOT_COMPLETED",
        "private external fun nativeCarry(dataDir: String, carry: Boolean)",
        "System.loadLibrary(\"main\")",
        ".setContentTitle(\"Steady\")",
    ] {
        assert!(kotlin.contains(needed), "{activity_path} lacks {needed:?}");
    }
    // The notification says "Steady" and nothing else.
    assert!(!kotlin.contains("setContentText"), "the notification has no text beyond its title");
    let identifier = get_str(&config, &["bundle", "identifier"]).unwrap();
    assert!(kotlin.contains(&format!("typealias BuildConfig = {identifier}.BuildConfig")));
    let rust = read("src/platform/android.rs");
    assert!(rust.contains("pub extern \"system\" fn Java_dev_dioxus_main_CourierService_nativeCarry"));
    assert!(rust.contains("call_method(activity, \"startCourierService\", \"()V\""));

    let manifest = parse_xml(&read(ANDROID_MANIFEST)).unwrap();
    let permissions: BTreeSet<&str> =
        manifest.children("uses-permission").filter_map(|p| p.attribute("android:name")).collect();
    for needed in [
        "android.permission.FOREGROUND_SERVICE",
        "android.permission.FOREGROUND_SERVICE_CONNECTED_DEVICE",
        "android.permission.CHANGE_WIFI_MULTICAST_STATE",
        "android.permission.RECEIVE_BOOT_COMPLETED",
        "android.permission.POST_NOTIFICATIONS",
        "android.permission.ACCESS_NETWORK_STATE",
    ] {
        assert!(permissions.contains(needed), "{ANDROID_MANIFEST} lacks {needed}");
    }
    let application = manifest.children("application").next().unwrap();
    let service = application.children("service").next().expect("a <service>");
    assert_eq!(service.attribute("android:name"), Some("dev.dioxus.main.CourierService"));
    assert_eq!(service.attribute("android:foregroundServiceType"), Some("connectedDevice"));
    assert_eq!(service.attribute("android:exported"), Some("false"));
    let receiver = application.children("receiver").next().expect("a <receiver>");
    assert_eq!(receiver.attribute("android:name"), Some("dev.dioxus.main.BootReceiver"));
    let actions: Vec<&str> = receiver
        .descendants()
        .into_iter()
        .filter(|e| e.name == "action")
        .filter_map(|e| e.attribute("android:name"))
        .collect();
    assert_eq!(actions, ["android.intent.action.BOOT_COMPLETED"]);

    let plist = plist(&config);
    let list = |key: &str| -> Vec<String> {
        let found: Vec<&Value> = plist.iter().filter(|(k, _)| k == key).map(|(_, v)| v).collect();
        assert_eq!(found.len(), 1, "{key} once");
        found[0].as_array().expect("a list").iter().map(|v| v.as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(list("UIBackgroundModes"), ["fetch", "processing"]);
    let tasks = list("BGTaskSchedulerPermittedIdentifiers");
    assert!(!tasks.is_empty() && tasks.iter().all(|t| t.starts_with(&format!("{identifier}."))), "{tasks:?}");
    // The identifiers the app registers are these, each once: iOS refuses a task it
    // does not find in that list.
    let code = std::fs::read_to_string("src/platform/ios.rs").unwrap();
    let registered: Vec<&str> = code
        .lines()
        .filter(|l| l.contains(": &str = \"") && l.contains("_LETTERS"))
        .filter_map(|l| l.split('"').nth(1))
        .collect();
    assert_eq!(registered.len(), 2, "{registered:?}");
    let mut sorted = tasks.clone();
    sorted.sort();
    let mut theirs: Vec<String> = registered.iter().map(|t| t.to_string()).collect();
    theirs.sort();
    assert_eq!(sorted, theirs, "Dioxus.toml's identifiers and the app's");
    assert!(get(&config, &["ios", "background_modes"]).is_none(), "dx would write UIBackgroundModes twice");
}
