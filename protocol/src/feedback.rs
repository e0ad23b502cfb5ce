use serde::{Deserialize, Serialize};

use crate::{Label, ModelId, Signed};

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
}

/// `POST /api/feedback` on the cloud API: what a person said of one prediction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Feedback {
    /// A UUID chosen by the client, so that a retry of the same feedback is stored once.
    pub id: String,
    pub verdict: Verdict,
    /// The text exactly as it was sent for prediction.
    pub text: String,
    pub predicted_label: Label,
    pub score: f64,
    pub model: ModelId,
    /// The prediction's [`Signed`] part, as the edge service returned it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed: Option<Signed>,
    /// When the prediction was shown (RFC 3339), if the client says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicted_at: Option<String>,
    /// A rejection's right label: the other one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corrected_label: Option<Label>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// The cloud API's answer to a stored feedback (201, or 200 for a retry already stored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    pub id: String,
    pub verdict: Verdict,
    pub stored: bool,
    pub duplicate: bool,
    pub alert_fired: bool,
}

/// One line of `GET /api/feedback/export` (NDJSON): a stored feedback, where it is in the store
/// (`row`, the paging cursor) and when it arrived.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportedFeedback {
    pub row: i64,
    pub received_at_ms: i64,
    pub feedback: Feedback,
}

/// Feedback refused since the cloud API started, by reason (in `GET /api/feedback/stats`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusals {
    pub missing_signature: u64,
    pub bad_signature: u64,
    pub expired: u64,
    pub already_answered: u64,
    pub rate_limited: u64,
}
