//! The tweet box's rules and how a result is shown.

use moodwing_protocol::Label;

/// A tweet's length limit, shown beside the box.
pub const TWEET_LIMIT: usize = 280;

/// Characters as people count them (Unicode scalar values, not bytes).
pub fn char_count(text: &str) -> usize {
    text.chars().count()
}

/// Why the text cannot be sent yet, if it cannot.
pub fn problem(text: &str) -> Option<String> {
    let count = char_count(text);
    if text.trim().is_empty() {
        Some("Type a tweet first.".into())
    } else if count > TWEET_LIMIT {
        let over = count - TWEET_LIMIT;
        let unit = if over == 1 { "character" } else { "characters" };
        Some(format!("{over} {unit} over the {TWEET_LIMIT} limit."))
    } else {
        None
    }
}

/// How sure the model is of the label it gave, in percent: the score is the probability of
/// `positive`, so a negative at 0.1 is 90% sure.
pub fn confidence_percent(label: Label, score: f64) -> u8 {
    let sure = if label == Label::Positive {
        score
    } else {
        1.0 - score
    };
    (sure.clamp(0.0, 1.0) * 100.0).round() as u8
}

/// What the page says of the score: the calibrated probability of the label it gave, and, when that
/// is under one half, why the label is still this one (the model's threshold is not 50 %).
pub fn confidence_text(label: Label, score: f64, threshold: f64) -> String {
    let percent = confidence_percent(label, score);
    if percent >= 50 {
        return format!("{percent}% probability");
    }
    let side = match label {
        Label::Positive => "from",
        Label::Negative => "below",
    };
    let threshold = (threshold * 100.0).round();
    format!(
        "{percent}% probability · {} {side} a score of {threshold}%",
        label.as_str()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_characters_not_bytes() {
        assert_eq!(char_count("✈️ late"), 7);
        assert_eq!(problem(&"é".repeat(TWEET_LIMIT)), None);
        assert_eq!(
            problem(&"é".repeat(TWEET_LIMIT + 2)).unwrap(),
            "2 characters over the 280 limit."
        );
        assert_eq!(
            problem(&"a".repeat(TWEET_LIMIT + 1)).unwrap(),
            "1 character over the 280 limit."
        );
        assert!(problem("  \n").is_some());
    }

    #[test]
    fn confidence_text_explains_a_label_under_one_half() {
        assert_eq!(
            confidence_text(Label::Negative, 0.1, 0.3),
            "90% probability"
        );
        assert_eq!(
            confidence_text(Label::Positive, 0.25, 0.227),
            "25% probability · positive from a score of 23%"
        );
        assert_eq!(
            confidence_text(Label::Negative, 0.6, 0.7),
            "40% probability · negative below a score of 70%"
        );
    }

    #[test]
    fn confidence_is_of_the_given_label() {
        assert_eq!(confidence_percent(Label::Negative, 0.1), 90);
        assert_eq!(confidence_percent(Label::Positive, 0.93), 93);
    }
}
