//! The two APIs the page talks to. Every failure becomes a sentence a person can act on.

use std::future::Future;

use futures::future::{Either, select};
use gloo_net::http::{Request, Response};
use moodwing_protocol::{ErrorBody, PredictRequest, Verdict};
pub use moodwing_protocol::{Feedback, MonitorSnapshot, Prediction, Receipt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::config::Config;

/// How long the page waits for an answer before saying so.
const TIMEOUT_MS: u32 = 10_000;

/// A "yes" (`rejected == false`) or a "no" about `prediction` of `text`, with the prediction's
/// signature so the feedback service can tell it is about a real prediction. The id is chosen
/// here, so a retry is stored once.
pub fn feedback_about(
    text: &str,
    prediction: &Prediction,
    predicted_at: String,
    rejected: bool,
    comment: &str,
) -> Feedback {
    let comment = comment.trim();
    Feedback {
        id: Uuid::new_v4().to_string(),
        verdict: if rejected {
            Verdict::Rejection
        } else {
            Verdict::Validation
        },
        text: text.to_owned(),
        predicted_label: prediction.label,
        score: prediction.score,
        model: prediction.model.clone(),
        signed: prediction.signed.clone(),
        predicted_at: Some(predicted_at),
        corrected_label: rejected.then(|| prediction.label.opposite()),
        comment: (rejected && !comment.is_empty()).then(|| comment.to_owned()),
    }
}

/// `feedback` (about an unsigned, on-device prediction) made about `edge`, the edge service's signed
/// prediction of the same text: the feedback API takes feedback only about signed predictions.
/// Refused when the edge service's model answers another label (another version).
pub fn countersigned(feedback: &Feedback, edge: &Prediction) -> Result<Feedback, String> {
    if edge.label != feedback.predicted_label {
        return Err(format!(
            "The edge service's model ({} v{}) answers {} for this tweet: predict it again there \
             before saying whether it is right.",
            edge.model.name,
            edge.model.version,
            edge.label.as_str()
        ));
    }
    Ok(Feedback {
        score: edge.score,
        model: edge.model.clone(),
        signed: edge.signed.clone(),
        ..feedback.clone()
    })
}

#[derive(Debug, Clone, PartialEq)]
pub enum ApiFailure {
    Unreachable {
        service: &'static str,
    },
    Timeout {
        service: &'static str,
    },
    Refused {
        service: &'static str,
        status: u16,
        message: String,
    },
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unreachable { service } => write!(
                f,
                "The {service} cannot be reached. Check your connection and try again."
            ),
            Self::Timeout { service } => write!(
                f,
                "The {service} did not answer within {} seconds.",
                TIMEOUT_MS / 1000
            ),
            Self::Refused {
                service,
                status,
                message,
            } => write!(f, "The {service} refused it ({status}): {message}"),
        }
    }
}

pub async fn predict(config: &Config, text: &str) -> Result<Prediction, ApiFailure> {
    let service = "prediction service";
    let url = format!("{}/predict", config.predict_api);
    let request = PredictRequest {
        text: text.to_owned(),
    };
    post(service, &url, &request).await
}

pub async fn send_feedback(config: &Config, feedback: &Feedback) -> Result<Receipt, ApiFailure> {
    let service = "feedback service";
    post(
        service,
        &format!("{}/feedback", config.feedback_api),
        feedback,
    )
    .await
}

/// Everything the monitor page shows, for the last `hours` in buckets of `bucket_minutes`; the
/// operator's token opens it.
pub async fn monitor(
    config: &Config,
    token: &str,
    hours: u32,
    bucket_minutes: u32,
) -> Result<MonitorSnapshot, ApiFailure> {
    let service = "feedback service";
    let url = format!(
        "{}/monitor?hours={hours}&bucket_minutes={bucket_minutes}&recent=20",
        config.feedback_api
    );
    let request = Request::get(&url)
        .header("Authorization", &format!("Bearer {token}"))
        .build()
        .map_err(|e| not_built(service, e))?;
    send(service, request).await
}

/// `/config.json`, from the site's root (the page may be `/monitor`); never from the browser's
/// cache, so a redeployment that moved an API is seen at the next load.
pub async fn load_config() -> Result<Config, String> {
    let response = Request::get("/config.json")
        .cache(web_sys::RequestCache::NoStore)
        .send()
        .await
        .map_err(|e| format!("config.json: {e}"))?;
    if !response.ok() {
        return Err(format!("config.json: HTTP {}", response.status()));
    }
    Config::parse(
        &response
            .text()
            .await
            .map_err(|e| format!("config.json: {e}"))?,
    )
}

async fn post<T: DeserializeOwned>(
    service: &'static str,
    url: &str,
    body: &impl Serialize,
) -> Result<T, ApiFailure> {
    let request = Request::post(url)
        .json(body)
        .map_err(|e| not_built(service, e))?;
    send(service, request).await
}

/// A request the browser would not even build (status 0: nothing was sent).
fn not_built(service: &'static str, error: gloo_net::Error) -> ApiFailure {
    ApiFailure::Refused {
        service,
        status: 0,
        message: error.to_string(),
    }
}

/// Send `request`, waiting [`TIMEOUT_MS`] at most, and read its answer.
async fn send<T: DeserializeOwned>(
    service: &'static str,
    request: Request,
) -> Result<T, ApiFailure> {
    let response = with_timeout(service, async {
        request
            .send()
            .await
            .map_err(|_| ApiFailure::Unreachable { service })
    })
    .await?;
    read(service, response).await
}

async fn read<T: DeserializeOwned>(
    service: &'static str,
    response: Response,
) -> Result<T, ApiFailure> {
    let status = response.status();
    if response.ok() {
        return response.json().await.map_err(|e| ApiFailure::Refused {
            service,
            status,
            message: format!("unexpected answer: {e}"),
        });
    }
    let message = match response.json::<ErrorBody>().await {
        Ok(body) => body.error.message,
        Err(_) => response.status_text(),
    };
    Err(ApiFailure::Refused {
        service,
        status,
        message,
    })
}

async fn with_timeout<T>(
    service: &'static str,
    work: impl Future<Output = Result<T, ApiFailure>>,
) -> Result<T, ApiFailure> {
    let work = std::pin::pin!(work);
    let timeout = gloo_timers::future::TimeoutFuture::new(TIMEOUT_MS);
    match select(work, timeout).await {
        Either::Left((result, _)) => result,
        Either::Right(_) => Err(ApiFailure::Timeout { service }),
    }
}

#[cfg(test)]
mod tests {
    use moodwing_protocol::{Label, ModelId, Signed};

    use super::*;

    fn prediction() -> Prediction {
        Prediction {
            label: Label::Positive,
            score: 0.8,
            threshold: 0.5,
            model: ModelId {
                name: "moodwing-lstm".into(),
                version: "1".into(),
            },
            latency_ms: 1.0,
            signed: Some(Signed {
                prediction_id: "9a1d4a52-1f0b-4a43-8c5e-2b8e9f0d6c71".into(),
                issued_at_ms: 1_764_000_000_000,
                signature: "ab".repeat(32),
            }),
        }
    }

    #[test]
    fn a_rejection_carries_the_other_label_the_comment_and_the_signature() {
        let feedback = feedback_about(
            "great, lost bag",
            &prediction(),
            "t".into(),
            true,
            " sarcasm ",
        );
        let json = serde_json::to_value(&feedback).unwrap();
        assert_eq!(json["verdict"], "rejection");
        assert_eq!(json["corrected_label"], "negative");
        assert_eq!(json["comment"], "sarcasm");
        assert_eq!(json["model"]["version"], "1");
        assert_eq!(feedback.signed, prediction().signed, "sent back unchanged");
    }

    #[test]
    fn an_on_device_prediction_is_countersigned_by_the_edge_services_answer() {
        let mut on_device = prediction();
        on_device.signed = None;
        on_device.score = 0.80001;
        let feedback = feedback_about("nice", &on_device, "t".into(), true, "x");
        let signed = countersigned(&feedback, &prediction()).unwrap();
        assert_eq!(signed.signed, prediction().signed);
        assert_eq!(
            (signed.score, &signed.id, signed.verdict),
            (0.8, &feedback.id, Verdict::Rejection)
        );
        let mut other = prediction();
        other.label = Label::Negative;
        assert!(
            countersigned(&feedback, &other)
                .unwrap_err()
                .contains("answers negative")
        );
    }

    #[test]
    fn a_validation_has_no_correction() {
        let json = serde_json::to_value(feedback_about(
            "nice",
            &prediction(),
            "t".into(),
            false,
            "x",
        ))
        .unwrap();
        assert_eq!(json["verdict"], "validation");
        assert!(json.get("corrected_label").is_none() && json.get("comment").is_none());
    }
}
