//! The tweet normalisation of `training/moodwing_training/normalize.py`, rule for rule; the
//! bundles' `golden.jsonl` holds Python's output for real tweets, and the tests compare.

/// Must equal `NORMALIZATION_VERSION` in `normalize.py` and `normalization_version` in `model.json`.
pub const NORMALIZATION_VERSION: u32 = 1;

/// Unicode White_Space, listed rather than `\s` so that both languages agree on every character.
const WHITESPACE: &str = "\t\n\u{0b}\u{0c}\r \u{85}\u{a0}\u{1680}\u{2000}\u{2001}\u{2002}\u{2003}\u{2004}\u{2005}\u{2006}\u{2007}\u{2008}\u{2009}\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}";

/// The five entities Twitter escapes, in `normalize.py`'s order.
const ENTITIES: [(&str, &str); 5] = [
    ("&amp;", "&"),
    ("&lt;", "<"),
    ("&gt;", ">"),
    ("&quot;", "\""),
    ("&#39;", "'"),
];

// Python's patterns are matched by hand rather than with the `regex` crate: compiling them was
// most of a browser's first prediction (~230 KB of regex code compiled at its first call).

fn is_whitespace(c: char) -> bool {
    WHITESPACE.contains(c)
}

/// The normalised form of one tweet: HTML entities, URLs -> `http`, @mentions -> `@user`,
/// characters repeated three or more times cut to two, white space collapsed and trimmed.
pub fn normalize(text: &str) -> String {
    let text = replace_mentions(&replace_urls(&unescape_entities(text)));
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

/// Rule 1, `&(?:amp|lt|gt|quot|#39);` in one left-to-right pass (`&amp;lt;` gives `&lt;`).
fn unescape_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        match ENTITIES.iter().find(|(entity, _)| rest.starts_with(entity)) {
            Some((entity, character)) => {
                out.push_str(character);
                rest = &rest[entity.len()..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Rule 2, `(?i:https?://|www\.)` and the non-space characters after it -> `http`.
fn replace_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        match url_prefix_len(rest) {
            Some(prefix) => {
                out.push_str("http");
                let tail = &rest[prefix..];
                rest = &tail[tail.find(is_whitespace).unwrap_or(tail.len())..];
            }
            None => {
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    out
}

/// The length in bytes of a URL's start at the beginning of `text`: `http://`, `https://` or
/// `www.`, in any case.
fn url_prefix_len(text: &str) -> Option<usize> {
    let after = |pattern: &str| strip_prefix_ignoring_case(text, pattern);
    let rest = after("https://")
        .or_else(|| after("http://"))
        .or_else(|| after("www."))?;
    Some(text.len() - rest.len())
}

/// `text` after `pattern` (ASCII), compared as `(?i)` compares in both languages: by Unicode
/// simple case folding, where the long s `ſ` is an `s` too (no other character folds to one of
/// `https:/w.`, whose capitals are ASCII).
fn strip_prefix_ignoring_case<'a>(text: &'a str, pattern: &str) -> Option<&'a str> {
    let mut chars = text.chars();
    for expected in pattern.chars() {
        let c = chars.next()?;
        let same = c.to_ascii_lowercase() == expected || (expected == 's' && c == 'ſ');
        if !same {
            return None;
        }
    }
    Some(chars.as_str())
}

/// Rule 3, `@[A-Za-z0-9_]+` -> `@user`.
fn replace_mentions(text: &str) -> String {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('@') {
        out.push_str(&rest[..at]);
        let name = &rest[at + 1..];
        let length = name.find(|c: char| !is_name(c)).unwrap_or(name.len());
        if length == 0 {
            out.push('@');
        } else {
            out.push_str("@user");
        }
        rest = &name[length..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::normalize;

    /// The rules as regular expressions (as `normalize.py` writes them, and as this file ran
    /// them before): both give the same text on tweets built to hit every edge of every rule.
    #[test]
    fn hand_matching_equals_the_regular_expressions() {
        use regex::Regex;
        let class: String = super::WHITESPACE
            .chars()
            .map(|c| format!("\\x{{{:x}}}", c as u32))
            .collect();
        let entity = Regex::new("&(?:amp|lt|gt|quot|#39);").unwrap();
        let url = Regex::new(&format!("(?i:https?://|www\\.)[^{class}]*")).unwrap();
        let mention = Regex::new("@[A-Za-z0-9_]+").unwrap();
        let by_regex = |text: &str| {
            let text = entity.replace_all(text, |caps: &regex::Captures| {
                let found = &caps[0];
                super::ENTITIES
                    .iter()
                    .find(|(entity, _)| *entity == found)
                    .map_or("", |(_, character)| *character)
                    .to_owned()
            });
            let text = url.replace_all(&text, "http");
            mention.replace_all(&text, "@user").into_owned()
        };
        let by_hand = |text: &str| {
            super::replace_mentions(&super::replace_urls(&super::unescape_entities(text)))
        };
        // Pieces that start, end or almost make a match, glued in every order of three.
        let pieces = [
            "&",
            "&amp;",
            "&amp",
            "&lt;",
            "&#39;",
            "&#3",
            "amp;",
            "&&gt;",
            "http",
            "HTTP://",
            "https://",
            "hTtPs://x.y/z",
            "httpſ://",
            "HTTPſ://a",
            "ſ",
            "www.",
            "WwW.",
            "www",
            "ww.",
            "http:/",
            "https:",
            "httpx://",
            "://",
            "@",
            "@_",
            "@a1",
            "@é",
            "@@b",
            "a@b",
            " ",
            "\u{a0}",
            "\u{3000}",
            "\t",
            "\u{1c}",
            "x",
            "é",
            "😡",
            ".",
            "/",
        ];
        let mut compared = 0;
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    let text = format!("{a}{b}{c}");
                    assert_eq!(by_hand(&text), by_regex(&text), "on {text:?}");
                    compared += 1;
                }
            }
        }
        assert_eq!(compared, pieces.len().pow(3));
    }

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
            ("HTTPſ://T.CO/X and @a1@b", "http and @user@user"),
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
