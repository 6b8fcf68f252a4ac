//! A gentle, local nudge away from blame. It only suggests; it never blocks saving.

/// Phrases that tend to turn a reflection into an accusation.
const BLAMING: &[&str] = &[
    "you always",
    "you never",
    "your fault",
    "because you",
    "you made me",
    "thanks to you",
    "it's on you",
    "you should have",
];

/// The blaming phrases found in `text`, in the order they first appear.
pub fn blaming_phrases(text: &str) -> Vec<&'static str> {
    let lower = normalise(text);
    let mut found: Vec<(usize, &'static str)> =
        BLAMING.iter().filter_map(|p| find_phrase(&lower, p).map(|at| (at, *p))).collect();
    found.sort();
    found.into_iter().map(|(_, p)| p).collect()
}

/// What the nudge says, if `text` blames.
pub fn suggestion(text: &str) -> Option<String> {
    let found = blaming_phrases(text);
    let first = found.first()?;
    Some(format!(
        "\u{201c}{first}\u{201d} can land as blame. Try \u{201c}I felt\u{2026}\u{201d} and \u{201c}I needed\u{2026}\u{201d} instead. You can still save it as it is."
    ))
}

/// Lower case, curly apostrophes made straight, runs of whitespace made one space.
fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.chars().flat_map(char::to_lowercase) {
        let c = if c == '\u{2019}' { '\'' } else { c };
        if c.is_whitespace() {
            if !space {
                out.push(' ');
            }
            space = true;
        } else {
            out.push(c);
            space = false;
        }
    }
    out
}

/// Where `phrase` starts in `text` as whole words.
fn find_phrase(text: &str, phrase: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = text[from..].find(phrase) {
        let start = from + i;
        let end = start + phrase.len();
        let before_ok = text[..start].chars().next_back().is_none_or(|c| !c.is_alphanumeric());
        let after_ok = text[end..].chars().next().is_none_or(|c| !c.is_alphanumeric());
        if before_ok && after_ok {
            return Some(start);
        }
        from = start + phrase.chars().next().map_or(1, char::len_utf8);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blaming_phrases_are_found_whatever_their_case_and_spacing() {
        assert_eq!(blaming_phrases("You ALWAYS  do this, it's your fault"), vec!["you always", "your fault"]);
        assert_eq!(blaming_phrases("I was hurt because\nyou left"), vec!["because you"]);
        assert_eq!(blaming_phrases("It\u{2019}s on you"), vec!["it's on you"]);
    }

    #[test]
    fn words_that_merely_contain_a_phrase_do_not_count() {
        assert!(blaming_phrases("I felt alone because younger me learned to hide").is_empty());
        assert!(blaming_phrases("I felt scared and I needed to hear from you").is_empty());
    }

    #[test]
    fn the_suggestion_offers_i_statements_and_never_forbids() {
        let s = suggestion("you never listen").unwrap();
        assert!(s.contains("I felt") && s.contains("I needed") && s.contains("still save"));
        assert_eq!(suggestion("I felt unheard"), None);
    }
}
