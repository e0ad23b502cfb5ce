use std::time::{Instant, SystemTime, UNIX_EPOCH};

use moodwing_edge_model::check_text;
use moodwing_protocol::{
    BatchPrediction, BatchRequest, ModelId, PredictRequest, Prediction, Scored, widen_score,
};
use moodwing_signature::{Claims, sign};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{ApiError, ApiRequest, ApiResponse, Model, Signing};

/// Largest request body accepted; a batch of [`MAX_BATCH`] maximal tweets fits.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Most texts in one batch request.
pub const MAX_BATCH: usize = 32;

/// Answer one request for the model served under `base` (e.g. `/api` or `/api/bert`); each
/// prediction is signed when `signing` gives a key.
pub fn handle(
    model: &impl Model,
    signing: &impl Signing,
    base: &str,
    request: ApiRequest<'_>,
) -> ApiResponse {
    let started = Instant::now();
    let result = match request.path.strip_prefix(base) {
        _ if request.method == "OPTIONS" => return respond(204, None),
        Some("/predict") => post_json(&request, |body: PredictRequest| {
            predict(model, signing, &body.text, started)
        }),
        Some("/predict/batch") => post_json(&request, |body: BatchRequest| {
            predict_batch(model, signing, &body.texts, started)
        }),
        Some("/model") => get(&request, || card_json(model)),
        Some("/health") => get(&request, || {
            Ok(json!({"status": "ok", "model": model_id(model)?}))
        }),
        _ => Err(ApiError::NotFound),
    };
    match result {
        Ok(body) => respond(200, Some(body)),
        Err(error) => error_response(&error),
    }
}

/// The JSON error body, with the same CORS headers as every other response.
pub fn error_response(error: &ApiError) -> ApiResponse {
    let mut response = respond(error.status(), Some(error.to_json()));
    if let ApiError::MethodNotAllowed { allow } = error {
        response
            .headers
            .push(("allow", format!("{allow}, OPTIONS")));
    }
    response
}

fn respond(status: u16, body: Option<Value>) -> ApiResponse {
    let mut headers = vec![
        ("access-control-allow-origin", "*".to_owned()),
        (
            "access-control-allow-methods",
            "GET, POST, OPTIONS".to_owned(),
        ),
        ("access-control-allow-headers", "content-type".to_owned()),
        ("access-control-max-age", "86400".to_owned()),
    ];
    let body = match body {
        Some(value) => {
            headers.push(("content-type", "application/json".to_owned()));
            value.to_string().into_bytes()
        }
        None => Vec::new(),
    };
    ApiResponse {
        status,
        headers,
        body,
    }
}

fn get(
    request: &ApiRequest<'_>,
    answer: impl FnOnce() -> Result<Value, ApiError>,
) -> Result<Value, ApiError> {
    if request.method != "GET" && request.method != "HEAD" {
        return Err(ApiError::MethodNotAllowed { allow: "GET" });
    }
    answer()
}

fn post_json<T: for<'de> Deserialize<'de>>(
    request: &ApiRequest<'_>,
    answer: impl FnOnce(T) -> Result<Value, ApiError>,
) -> Result<Value, ApiError> {
    if request.method != "POST" {
        return Err(ApiError::MethodNotAllowed { allow: "POST" });
    }
    let is_json = request
        .content_type
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(ApiError::UnsupportedMediaType);
    }
    if request.body.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge {
            limit: MAX_BODY_BYTES,
        });
    }
    let text = std::str::from_utf8(request.body).map_err(|_| ApiError::InvalidUtf8)?;
    let body = serde_json::from_str(text).map_err(|e| ApiError::InvalidJson(e.to_string()))?;
    answer(body)
}

fn predict(
    model: &impl Model,
    signing: &impl Signing,
    text: &str,
    started: Instant,
) -> Result<Value, ApiError> {
    check_text(text)?;
    let scored = score(model, signing, &[text])?.remove(0);
    to_json(&Prediction {
        label: scored.label,
        score: scored.score,
        threshold: widen_score(model.card()?.threshold),
        model: model_id(model)?,
        latency_ms: elapsed_ms(started),
        signed: scored.signed,
    })
}

fn predict_batch(
    model: &impl Model,
    signing: &impl Signing,
    texts: &[String],
    started: Instant,
) -> Result<Value, ApiError> {
    if texts.is_empty() || texts.len() > MAX_BATCH {
        return Err(ApiError::BatchSize {
            count: texts.len(),
            limit: MAX_BATCH,
        });
    }
    // Validate every text before scoring any, so a bad one costs nothing.
    for text in texts {
        check_text(text)?;
    }
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let predictions = score(model, signing, &texts)?;
    to_json(&BatchPrediction {
        predictions,
        // The label is `positive` from this score on (chosen on validation), so a client can say why.
        threshold: widen_score(model.card()?.threshold),
        model: model_id(model)?,
        latency_ms: elapsed_ms(started),
    })
}

/// Each text's label and score, signed when the host has a key (looked up once per request).
fn score(
    model: &impl Model,
    signing: &impl Signing,
    texts: &[&str],
) -> Result<Vec<Scored>, ApiError> {
    let classifier = model.classifier()?;
    let key = signing.signing_key()?;
    let id = model_id(model)?;
    let issued_at_ms = now_ms();
    texts
        .iter()
        .map(|text| {
            let prediction = classifier.predict(text)?;
            let score = widen_score(prediction.score);
            let signed = key.as_ref().map(|key| {
                let prediction_id = uuid_v4(signing.random_bytes());
                let claims = Claims {
                    prediction_id: &prediction_id,
                    text,
                    label: prediction.label,
                    score,
                    model: &id,
                    issued_at_ms,
                };
                sign(key, &claims)
            });
            Ok(Scored {
                label: prediction.label,
                score,
                signed,
            })
        })
        .collect()
}

/// A random (version 4) UUID, in its usual text form.
fn uuid_v4(mut bytes: [u8; 16]) -> String {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
        })
}

fn elapsed_ms(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1000.0
}

fn to_json(answer: &impl Serialize) -> Result<Value, ApiError> {
    serde_json::to_value(answer).map_err(|e| ApiError::Internal(e.to_string()))
}

fn model_id(model: &impl Model) -> Result<ModelId, ApiError> {
    let card = model.card()?;
    Ok(ModelId {
        name: card.name.clone(),
        version: card.version.clone(),
    })
}

fn card_json(model: &impl Model) -> Result<Value, ApiError> {
    to_json(model.card()?)
}
