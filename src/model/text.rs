//! Text that came from someone else: a partner's name, and anything printed to a
//! terminal. A name is shown in sentences ("Paired with Blair"), so it must not be able
//! to reverse the words around it, hide part of itself, or run on for a page. A terminal
//! obeys control characters, so printed text must not carry any.

use std::borrow::Cow;

use super::validate::Limit;

/// Characters that change how the text around them is laid out or shown, without being
/// seen themselves: bidirectional overrides, embeddings, isolates and marks, the
/// zero-width space, and the byte-order mark. The zero-width joiner and non-joiner stay:
/// Persian and Indic names, and emoji, need them.
fn is_invisible_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}'                  // Arabic letter mark
            | '\u{180E}'            // Mongolian vowel separator
            | '\u{200B}'                 // zero-width space
            | '\u{200E}'..='\u{200F}' // LTR/RTL marks
            | '\u{202A}'..='\u{202E}' // embeddings and overrides
            | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
            | '\u{2066}'..='\u{2069}' // isolates
            | '\u{206A}'..='\u{206F}' // deprecated format characters
            | '\u{FEFF}'            // byte-order mark
            | '\u{FFF9}'..='\u{FFFB}' // interlinear annotation
    )
}

/// A name as it may be shown: no control or invisible formatting characters, runs of
/// white space made one space, trimmed, and at most [`Limit::NAME`] characters. What is
/// left may be empty; the caller then says "your partner".
pub fn clean_name(raw: &str) -> String {
    let visible: String = raw
        .chars()
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .filter(|&c| !c.is_control() && !is_invisible_control(c))
        .collect();
    let words: Vec<&str> = visible.split_whitespace().collect();
    let name: String = words.join(" ").chars().take(Limit::NAME.0).collect();
    name.trim_end().to_owned()
}

/// The partner's name as the other phone sent it, made safe to show with
/// [`clean_name`]; "your partner" when nothing is left of it.
pub fn partner_name(raw: &str) -> String {
    match clean_name(raw) {
        name if name.is_empty() => "your partner".to_owned(),
        name => name,
    }
}

/// `text` as it may be written to a terminal: every control character (but a newline
/// and a tab) and every invisible formatting character is written as its escape, such
/// as `\u{1b}`, so text from a partner's phone can't move the cursor, change colours,
/// set the window's title or reverse what is printed after it.
pub fn terminal_safe(text: &str) -> Cow<'_, str> {
    escape(
        text,
        |c| (c.is_control() && c != '\n' && c != '\t') || is_invisible_control(c),
        |c| format!("\\u{{{:x}}}", u32::from(c)),
    )
}

/// JSON as it may be written to a terminal: the same characters as [`terminal_safe`]
/// escapes, written as JSON's own `\uXXXX`, so the line still parses to the same value.
/// (serde_json already escapes C0 controls; this covers DEL, C1 and the invisible ones,
/// all of which lie in the Basic Multilingual Plane.)
pub fn terminal_safe_json(json: &str) -> Cow<'_, str> {
    escape(json, |c| c.is_control() || is_invisible_control(c), |c| format!("\\u{:04x}", u32::from(c)))
}

/// `text` with every character `unsafe_char` picks written as `escaped` says; borrowed
/// when there is none.
fn escape(text: &str, unsafe_char: impl Fn(char) -> bool, escaped: impl Fn(char) -> String) -> Cow<'_, str> {
    if !text.chars().any(&unsafe_char) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.chars().map(|c| if unsafe_char(c) { escaped(c) } else { c.to_string() }).collect())
}

/// `text` as a sentence of its own: its first letter capitalized, and a full stop.
pub fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    let capitalized: String = chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default();
    format!("{capitalized}.")
}

/// The one line the partner's phone shows after a move: who moved Steady to a new phone,
/// and on which day. Nothing about where or when it is used.
pub fn moved_line(name: &str, on: chrono::NaiveDate) -> String {
    format!("{name} moved Steady to a new phone on {}.", on.format("%-d %B"))
}

/// The line after the partner restored Steady from a backup and the pairing continued.
pub fn restored_line(name: &str, on: chrono::NaiveDate) -> String {
    format!("{name} restored Steady from a backup on {}.", on.format("%-d %B"))
}

/// The line for a move (`restored` false) or a restore.
pub fn partner_moved_line(name: &str, on: chrono::NaiveDate, restored: bool) -> String {
    if restored { restored_line(name, on) } else { moved_line(name, on) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_loses_overrides_invisible_characters_and_controls() {
        assert_eq!(clean_name("Blair"), "Blair");
        assert_eq!(clean_name("  Jo \u{202E}rekcah\u{202C} "), "Jo rekcah");
        assert_eq!(clean_name("A\u{200B}l\u{2066}e\u{FEFF}x"), "Alex");
        assert_eq!(clean_name("Sam\u{1b}[2J\u{7}"), "Sam[2J");
        assert_eq!(clean_name("Ana\nMaría\t Luz"), "Ana María Luz");
        assert_eq!(clean_name("\u{202E}\u{200B}\n"), "");
        // Scripts written right to left are names like any other, and the joiners some
        // names need are kept.
        assert_eq!(clean_name("نور"), "نور");
        assert_eq!(clean_name("می\u{200C}خواهم"), "می\u{200C}خواهم");
    }

    #[test]
    fn a_name_is_cut_at_the_limit() {
        let long = "ab ".repeat(100);
        let name = clean_name(&long);
        assert!(name.chars().count() <= Limit::NAME.0, "{}", name.chars().count());
        assert!(!name.ends_with(' '));
        assert_eq!(clean_name(&"é".repeat(500)).chars().count(), Limit::NAME.0);
    }

    #[test]
    fn printed_text_carries_no_control_characters() {
        assert_eq!(terminal_safe("plain text\nand a second line"), "plain text\nand a second line");
        let printed = terminal_safe("\u{1b}]0;owned\u{7}\u{1b}[31mred\u{202E}txet");
        assert_eq!(printed, "\\u{1b}]0;owned\\u{7}\\u{1b}[31mred\\u{202e}txet");
        assert!(!printed.chars().any(|c| c.is_control()));
        assert_eq!(terminal_safe("\u{9b}2J"), "\\u{9b}2J", "C1 controls too");
    }

    #[test]
    fn printed_json_parses_to_the_same_text() {
        let text = "Sam\u{1b}[2J\u{9b}\u{202E}x\u{7f}";
        let json = serde_json::to_string(&serde_json::json!({ "name": text })).unwrap();
        let printed = terminal_safe_json(&json);
        assert!(!printed.chars().any(|c| c.is_control() || is_invisible_control(c)), "{printed}");
        let back: serde_json::Value = serde_json::from_str(&printed).unwrap();
        assert_eq!(back["name"], text);
    }

    #[test]
    fn the_line_after_a_move_names_the_person_and_the_day_only() {
        let on = chrono::NaiveDate::from_ymd_opt(2026, 3, 3).unwrap();
        assert_eq!(moved_line("Sam", on), "Sam moved Steady to a new phone on 3 March.");
        assert_eq!(partner_moved_line("Sam", on, true), "Sam restored Steady from a backup on 3 March.");
    }
}
