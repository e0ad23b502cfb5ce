use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ApiError;

/// Longest tweet text kept, in characters (the edge API refuses longer ones too).
pub const MAX_TEXT_CHARS: usize = 1_000;
/// Longest comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 500;
const MAX_NAME_CHARS: usize = 100;
const LABELS: [&str; 2] = ["negative", "positive"];

/// Whether the person said the prediction was right.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Validation,
    Rejection,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Validation => "validation",
            Self::Rejection => "rejection",
        }
    }

    /// The Application Insights custom event it becomes.
    pub fn event_name(self) -> &'static str {
        match self {
            Self::Validation => "prediction_validated",
            Self::Rejection => "prediction_rejected",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "validation" => Some(Self::Validation),
            "rejection" => Some(Self::Rejection),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelRef {
    pub name: String,
    pub version: String,
}

/// A feedback as posted: `POST /api/feedback`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Feedback {
    /// Chosen by the client so that a retry of the same feedback is stored once.
    #[serde(default = "Uuid::new_v4")]
    pub id: Uuid,
    pub verdict: Verdict,
    pub text: String,
    pub predicted_label: String,
    pub score: f64,
    pub model: ModelRef,
    /// When the prediction was shown (RFC 3339), if the client says.
    #[serde(default)]
    pub predicted_at: Option<String>,
    #[serde(default)]
    pub corrected_label: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
}

impl Feedback {
    /// Everything a stored feedback must satisfy; the first problem found is reported.
    pub fn validate(&self) -> Result<(), ApiError> {
        let invalid =
            |field: &'static str, reason: String| Err(ApiError::Invalid { field, reason });
        let chars = self.text.chars().count();
        if self.text.trim().is_empty() {
            return invalid("text", "is empty".into());
        }
        if chars > MAX_TEXT_CHARS {
            return invalid(
                "text",
                format!("has {chars} characters, more than {MAX_TEXT_CHARS}"),
            );
        }
        if !LABELS.contains(&self.predicted_label.as_str()) {
            return invalid("predicted_label", format!("must be one of {LABELS:?}"));
        }
        if !(0.0..=1.0).contains(&self.score) {
            return invalid("score", "must be a probability, from 0 to 1".into());
        }
        for (field, value) in [
            ("model.name", &self.model.name),
            ("model.version", &self.model.version),
        ] {
            if value.trim().is_empty() || value.chars().count() > MAX_NAME_CHARS {
                return invalid(field, format!("must have 1 to {MAX_NAME_CHARS} characters"));
            }
        }
        if let Some(at) = &self.predicted_at
            && chrono::DateTime::parse_from_rfc3339(at).is_err()
        {
            return invalid("predicted_at", "must be an RFC 3339 time".into());
        }
        if let Some(label) = &self.corrected_label {
            if !LABELS.contains(&label.as_str()) {
                return invalid("corrected_label", format!("must be one of {LABELS:?}"));
            }
            if self.verdict == Verdict::Validation {
                return invalid("corrected_label", "only a rejection has one".into());
            }
        }
        if let Some(comment) = &self.comment
            && comment.chars().count() > MAX_COMMENT_CHARS
        {
            return invalid(
                "comment",
                format!("has more than {MAX_COMMENT_CHARS} characters"),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn rejection(text: &str) -> Feedback {
        Feedback {
            id: Uuid::new_v4(),
            verdict: Verdict::Rejection,
            text: text.into(),
            predicted_label: "positive".into(),
            score: 0.71,
            model: ModelRef {
                name: "moodwing-lstm".into(),
                version: "1".into(),
            },
            predicted_at: Some("2026-11-25T09:00:00Z".into()),
            corrected_label: Some("negative".into()),
            comment: None,
        }
    }

    #[test]
    fn a_complete_rejection_is_valid() {
        rejection("@united lost my bag, great").validate().unwrap();
    }

    #[test]
    fn each_bad_field_is_named() {
        type Spoil = fn(&mut Feedback);
        let cases: [(&str, Spoil); 8] = [
            ("text", |f| f.text = "  ".into()),
            ("text", |f| f.text = "x".repeat(MAX_TEXT_CHARS + 1)),
            ("predicted_label", |f| f.predicted_label = "neutral".into()),
            ("score", |f| f.score = 1.5),
            ("model.version", |f| f.model.version = String::new()),
            ("predicted_at", |f| {
                f.predicted_at = Some("yesterday".into())
            }),
            ("corrected_label", |f| f.verdict = Verdict::Validation),
            ("comment", |f| {
                f.comment = Some("x".repeat(MAX_COMMENT_CHARS + 1))
            }),
        ];
        for (field, spoil) in cases {
            let mut feedback = rejection("late again");
            spoil(&mut feedback);
            match feedback.validate() {
                Err(ApiError::Invalid { field: named, .. }) => assert_eq!(named, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_nan_score_is_refused() {
        let mut feedback = rejection("late again");
        feedback.score = f64::NAN;
        assert!(feedback.validate().is_err());
    }
}
