use serde::{Deserialize, Serialize};

/// `POST /api/predict`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PredictRequest {
    pub text: String,
}

/// `POST /api/predict/batch`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    pub texts: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Label {
    Negative,
    Positive,
}

impl Label {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Negative => "negative",
            Self::Positive => "positive",
        }
    }

    pub fn opposite(self) -> Self {
        match self {
            Self::Negative => Self::Positive,
            Self::Positive => Self::Negative,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelId {
    pub name: String,
    pub version: String,
}

/// The edge service's proof that it made a prediction: an HMAC-SHA256, under a key shared with the
/// cloud API, over the prediction id, the text's SHA-256, label, score, model and `issued_at_ms`
/// (the exact message: `moodwing-signature`). A client sends it back unchanged with its feedback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signed {
    /// A random UUID, one per prediction: at most one feedback is kept per prediction.
    pub prediction_id: String,
    /// When the edge service made the prediction, in Unix milliseconds.
    pub issued_at_ms: i64,
    /// Lower-case hex of the HMAC-SHA256.
    pub signature: String,
}

/// A model's f32 score or threshold as the f64 the JSON carries: the one with the same shortest
/// decimal (0.7 stays 0.7, not 0.699999988079071), so what is signed, shown and stored is the
/// number people read.
pub fn widen_score(value: f32) -> f64 {
    value.to_string().parse().unwrap_or(f64::from(value))
}

/// The answer to `POST /api/predict`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    pub label: Label,
    /// The calibrated probability that the tweet is positive.
    pub score: f64,
    /// The label is `positive` from this score on.
    pub threshold: f64,
    pub model: ModelId,
    pub latency_ms: f64,
    /// Absent when the deployment has no signing key (feedback on it is then refused, unless the
    /// cloud API is set up for local development).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed: Option<Signed>,
}

/// One tweet's result in a batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scored {
    pub label: Label,
    pub score: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed: Option<Signed>,
}

/// The answer to `POST /api/predict/batch`, in the order of the texts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchPrediction {
    pub predictions: Vec<Scored>,
    pub threshold: f64,
    pub model: ModelId,
    pub latency_ms: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unsigned_prediction_has_no_signed_field() {
        let prediction = Prediction {
            label: Label::Negative,
            score: 0.125,
            threshold: 0.4,
            model: ModelId {
                name: "moodwing-lstm".into(),
                version: "1".into(),
            },
            latency_ms: 1.5,
            signed: None,
        };
        let json = serde_json::to_value(&prediction).unwrap();
        assert_eq!(json["label"], "negative");
        assert!(json.get("signed").is_none());
        assert_eq!(
            serde_json::from_value::<Prediction>(json).unwrap(),
            prediction
        );
    }

    #[test]
    fn requests_refuse_unknown_fields() {
        assert!(serde_json::from_str::<PredictRequest>(r#"{"text":"a","lang":"en"}"#).is_err());
        assert!(serde_json::from_str::<Label>(r#""neutral""#).is_err());
    }
}
