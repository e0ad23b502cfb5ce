//! The tweet normalisation of `training/moodwing_training/normalize.py`, rule for rule; the
//! bundles' `golden.jsonl` holds Python's output for real tweets, and the tests compare.

use std::sync::LazyLock;

use regex::Regex;

/// Must equal `NORMALIZATION_VERSION` in `normalize.py` and `normalization_version` in `model.json`.
pub const NORMALIZATION_VERSION: u32 = 1;

/// Unicode White_Space, listed rather than `\s` so that both languages agree on every character.
const WHITESPACE: &str = "\t\n\u{0b}\u{0c}\r \u{85}\u{a0}\u{1680}\u{2000}\u{2001}\u{2002}\u{2003}\u{2004}\u{2005}\u{2006}\u{2007}\u{2008}\u{2009}\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}";

static ENTITY: LazyLock<Regex> = LazyLock::new(|| compile("&(?:amp|lt|gt|quot|#39);"));
static URL: LazyLock<Regex> =
    LazyLock::new(|| compile(&format!("(?i:https?://|www\\.)[^{}]*", class_body())));
static MENTION: LazyLock<Regex> = LazyLock::new(|| compile("@[A-Za-z0-9_]+"));

fn compile(pattern: &str) -> Regex {
    Regex::new(pattern).expect("the normalisation patterns are constants")
}

fn class_body() -> String {
    WHITESPACE
        .chars()
        .map(|c| format!("\\x{{{:x}}}", c as u32))
        .collect()
}

fn is_whitespace(c: char) -> bool {
    WHITESPACE.contains(c)
}

/// The normalised form of one tweet: HTML entities, URLs -> `http`, @mentions -> `@user`,
/// characters repeated three or more times cut to two, white space collapsed and trimmed.
pub fn normalize(text: &str) -> String {
    let text = ENTITY.replace_all(text, |caps: &regex::Captures| match &caps[0] {
        "&amp;" => "&",
        "&lt;" => "<",
        "&gt;" => ">",
        "&quot;" => "\"",
        _ => "'",
    });
    let text = URL.replace_all(&text, "http");
    let text = MENTION.replace_all(&text, "@user");

    let mut out = String::with_capacity(text.len());
    let mut previous: Option<char> = None;
    let mut run = 0;
    let mut pending_space = false;
    for c in text.chars() {
        run = if Some(c) == previous { run + 1 } else { 1 };
        previous = Some(c);
        if run > 2 {
            continue;
        }
        if is_whitespace(c) {
            pending_space = true;
            continue;
        }
        if pending_space && !out.is_empty() {
            out.push(' ');
        }
        pending_space = false;
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn rules_match_the_python_cases() {
        let cases = [
            ("@united thanks!", "@user thanks!"),
            ("@AmericanAir @JetBlue_2 both late", "@user @user both late"),
            (
                "see https://t.co/AbC123 and http://x.io/a?b=1 now",
                "see http and http now",
            ),
            ("www.example.com/page is down", "http is down"),
            ("HTTPS://T.CO/X", "http"),
            (
                "delays &amp; lost bags &lt;3 &quot;great&quot; &#39;ok&#39;",
                "delays & lost bags <3 \"great\" 'ok'",
            ),
            ("&amp;amp; once", "&amp; once"),
            ("soooooo goooood!!!!!", "soo good!!"),
            ("aa bb stays", "aa bb stays"),
            ("  many\t\nspaces\u{a0}\u{3000}here  ", "many spaces here"),
            ("emoji 😡😡😡😡 kept", "emoji 😡😡 kept"),
            ("", ""),
            ("\u{1c}", "\u{1c}"),
        ];
        for (raw, expected) in cases {
            assert_eq!(normalize(raw), expected, "normalising {raw:?}");
        }
    }
}
