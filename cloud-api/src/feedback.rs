//! A feedback as posted (the `moodwing-protocol` type) and everything it must satisfy before it is
//! stored: well-formed fields, and a signature showing the edge service made that prediction.

use std::time::Duration;

pub use moodwing_protocol::{Feedback, Label, ModelId, Verdict};
use moodwing_signature::{Claims, SignatureError, SigningKey, verify};
use uuid::Uuid;

use crate::ApiError;

/// Longest tweet text kept, in characters (the edge API refuses longer ones too).
pub const MAX_TEXT_CHARS: usize = 1_000;
/// Longest comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 500;
const MAX_NAME_CHARS: usize = 100;
/// How far ahead of this server's clock a prediction's time may be (the clocks of the edge and the
/// cloud differ a little).
const CLOCK_SKEW_MS: i64 = 60_000;

/// The Application Insights custom event a verdict becomes.
pub fn event_name(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Validation => "prediction_validated",
        Verdict::Rejection => "prediction_rejected",
    }
}

/// Everything a stored feedback must satisfy but its signature; the first problem found is
/// reported. Returns the feedback's id.
pub fn validate(feedback: &Feedback) -> Result<Uuid, ApiError> {
    let invalid = |field: &'static str, reason: String| Err(ApiError::Invalid { field, reason });
    let Ok(id) = Uuid::parse_str(&feedback.id) else {
        return invalid("id", "must be a UUID".into());
    };
    let chars = feedback.text.chars().count();
    if feedback.text.trim().is_empty() {
        return invalid("text", "is empty".into());
    }
    if chars > MAX_TEXT_CHARS {
        return invalid(
            "text",
            format!("has {chars} characters, more than {MAX_TEXT_CHARS}"),
        );
    }
    if !(0.0..=1.0).contains(&feedback.score) {
        return invalid("score", "must be a probability, from 0 to 1".into());
    }
    for (field, value) in [
        ("model.name", &feedback.model.name),
        ("model.version", &feedback.model.version),
    ] {
        if value.trim().is_empty() || value.chars().count() > MAX_NAME_CHARS {
            return invalid(field, format!("must have 1 to {MAX_NAME_CHARS} characters"));
        }
    }
    if let Some(signed) = &feedback.signed
        && Uuid::parse_str(&signed.prediction_id).is_err()
    {
        return invalid("signed.prediction_id", "must be a UUID".into());
    }
    if let Some(at) = &feedback.predicted_at
        && chrono::DateTime::parse_from_rfc3339(at).is_err()
    {
        return invalid("predicted_at", "must be an RFC 3339 time".into());
    }
    if let Some(label) = feedback.corrected_label {
        if feedback.verdict == Verdict::Validation {
            return invalid("corrected_label", "only a rejection has one".into());
        }
        if label == feedback.predicted_label {
            return invalid(
                "corrected_label",
                "must differ from the predicted label".into(),
            );
        }
    }
    if let Some(comment) = &feedback.comment
        && comment.chars().count() > MAX_COMMENT_CHARS
    {
        return invalid(
            "comment",
            format!("has more than {MAX_COMMENT_CHARS} characters"),
        );
    }
    Ok(id)
}

/// Whether a feedback is about a prediction the edge service really made, unchanged and recent.
#[derive(Debug, Clone)]
pub struct SignatureCheck {
    /// The current key first, then the previous one during a rotation; empty only when unsigned
    /// feedback is allowed.
    pub keys: Vec<SigningKey>,
    /// Oldest prediction a feedback may be about.
    pub max_age: Duration,
    /// Accept feedback without a signature (local development only).
    pub allow_unsigned: bool,
}

impl SignatureCheck {
    pub fn check(&self, feedback: &Feedback, now_ms: i64) -> Result<(), ApiError> {
        let Some(signed) = &feedback.signed else {
            return if self.allow_unsigned {
                Ok(())
            } else {
                Err(ApiError::SignatureRequired)
            };
        };
        let claims = Claims {
            prediction_id: &signed.prediction_id,
            text: &feedback.text,
            label: feedback.predicted_label,
            score: feedback.score,
            model: &feedback.model,
            issued_at_ms: signed.issued_at_ms,
        };
        verify(&self.keys, &claims, &signed.signature).map_err(|error| match error {
            SignatureError::Malformed => ApiError::Invalid {
                field: "signed.signature",
                reason: error.to_string(),
            },
            _ => ApiError::BadSignature,
        })?;
        // Only once the signature holds is the time known to be the edge service's.
        let max_age_ms = i64::try_from(self.max_age.as_millis()).unwrap_or(i64::MAX);
        let age_ms = now_ms.saturating_sub(signed.issued_at_ms);
        if age_ms > max_age_ms || age_ms < -CLOCK_SKEW_MS {
            return Err(ApiError::PredictionExpired {
                max_age_secs: self.max_age.as_secs(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use moodwing_signature::sign;

    use super::*;

    pub(crate) const KEY: &str = "cloud-api unit tests: a signing key, not a secret";

    pub(crate) fn key() -> SigningKey {
        SigningKey::new(KEY).unwrap()
    }

    /// A rejection of a prediction signed with [`key`] at `issued_at_ms`.
    pub(crate) fn signed_rejection(text: &str, issued_at_ms: i64) -> Feedback {
        let mut feedback = Feedback {
            id: Uuid::new_v4().to_string(),
            verdict: Verdict::Rejection,
            text: text.into(),
            predicted_label: Label::Positive,
            score: 0.71,
            model: ModelId {
                name: "moodwing-lstm".into(),
                version: "1".into(),
            },
            signed: None,
            predicted_at: Some("2026-11-25T09:00:00Z".into()),
            corrected_label: Some(Label::Negative),
            comment: None,
        };
        let prediction_id = Uuid::new_v4().to_string();
        let claims = Claims {
            prediction_id: &prediction_id,
            text,
            label: feedback.predicted_label,
            score: feedback.score,
            model: &feedback.model,
            issued_at_ms,
        };
        feedback.signed = Some(sign(&key(), &claims));
        feedback
    }

    pub(crate) fn rejection(text: &str) -> Feedback {
        signed_rejection(text, 1_000)
    }

    fn check() -> SignatureCheck {
        SignatureCheck {
            keys: vec![key()],
            max_age: Duration::from_secs(3600),
            allow_unsigned: false,
        }
    }

    #[test]
    fn a_complete_rejection_is_valid() {
        validate(&rejection("@united lost my bag, great")).unwrap();
    }

    #[test]
    fn each_bad_field_is_named() {
        type Spoil = fn(&mut Feedback);
        let cases: [(&str, Spoil); 10] = [
            ("id", |f| f.id = "42".into()),
            ("text", |f| f.text = "  ".into()),
            ("text", |f| f.text = "x".repeat(MAX_TEXT_CHARS + 1)),
            ("score", |f| f.score = 1.5),
            ("model.version", |f| f.model.version = String::new()),
            ("signed.prediction_id", |f| {
                f.signed.as_mut().unwrap().prediction_id = "p".into()
            }),
            ("predicted_at", |f| {
                f.predicted_at = Some("yesterday".into())
            }),
            ("corrected_label", |f| f.verdict = Verdict::Validation),
            ("corrected_label", |f| {
                f.corrected_label = Some(Label::Positive)
            }),
            ("comment", |f| {
                f.comment = Some("x".repeat(MAX_COMMENT_CHARS + 1))
            }),
        ];
        for (field, spoil) in cases {
            let mut feedback = rejection("late again");
            spoil(&mut feedback);
            match validate(&feedback) {
                Err(ApiError::Invalid { field: named, .. }) => assert_eq!(named, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_nan_score_is_refused() {
        let mut feedback = rejection("late again");
        feedback.score = f64::NAN;
        assert!(validate(&feedback).is_err());
    }

    #[test]
    fn only_an_unchanged_recent_signed_prediction_passes() {
        let now = 10_000_000;
        let fresh = signed_rejection("late again", now - 5_000);
        check().check(&fresh, now).unwrap();

        let mut tampered = fresh.clone();
        tampered.text.push('!');
        assert!(matches!(
            check().check(&tampered, now),
            Err(ApiError::BadSignature)
        ));
        let mut unsigned = fresh.clone();
        unsigned.signed = None;
        assert!(matches!(
            check().check(&unsigned, now),
            Err(ApiError::SignatureRequired)
        ));
        let old = signed_rejection("late again", now - 3_601_000);
        assert!(matches!(
            check().check(&old, now),
            Err(ApiError::PredictionExpired { .. })
        ));
        let ahead = signed_rejection("late again", now + 120_000);
        assert!(matches!(
            check().check(&ahead, now),
            Err(ApiError::PredictionExpired { .. })
        ));

        let previous = SigningKey::new("the previous signing key, still long enough").unwrap();
        let rotated = SignatureCheck {
            keys: vec![previous, key()],
            ..check()
        };
        rotated.check(&fresh, now).unwrap();
        let development = SignatureCheck {
            keys: Vec::new(),
            allow_unsigned: true,
            ..check()
        };
        development.check(&unsigned, now).unwrap();
        assert!(matches!(
            development.check(&fresh, now),
            Err(ApiError::BadSignature)
        ));
    }
}
