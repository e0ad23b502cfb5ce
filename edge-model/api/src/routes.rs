use std::time::Instant;

use moodwing_edge_model::{Prediction, check_text};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{ApiError, ApiRequest, ApiResponse, Model};

/// Largest request body accepted; a batch of [`MAX_BATCH`] maximal tweets fits.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Most texts in one batch request.
pub const MAX_BATCH: usize = 32;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PredictBody {
    text: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchBody {
    texts: Vec<String>,
}

/// Answer one request for the model served under `base` (e.g. `/api` or `/api/bert`).
pub fn handle(model: &impl Model, base: &str, request: ApiRequest<'_>) -> ApiResponse {
    let started = Instant::now();
    let result = match request.path.strip_prefix(base) {
        _ if request.method == "OPTIONS" => return respond(204, None),
        Some("/predict") => post_json(&request, |body: PredictBody| {
            predict(model, &body.text, started)
        }),
        Some("/predict/batch") => post_json(&request, |body: BatchBody| {
            predict_batch(model, &body.texts, started)
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

fn predict(model: &impl Model, text: &str, started: Instant) -> Result<Value, ApiError> {
    check_text(text)?;
    let prediction = model.classifier()?.predict(text)?;
    with_model(model, prediction_json(prediction), started)
}

fn predict_batch(
    model: &impl Model,
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
    let classifier = model.classifier()?;
    let predictions = texts
        .iter()
        .map(|text| classifier.predict(text).map(prediction_json))
        .collect::<Result<Vec<_>, _>>()?;
    with_model(model, json!({"predictions": predictions}), started)
}

fn prediction_json(prediction: Prediction) -> Value {
    json!({"label": prediction.label, "score": prediction.score})
}

fn with_model(model: &impl Model, mut body: Value, started: Instant) -> Result<Value, ApiError> {
    body["model"] = model_id(model)?;
    // The label is `positive` from this score on (chosen on validation), so a client can say why.
    body["threshold"] = json!(model.card()?.threshold);
    body["latency_ms"] = json!(started.elapsed().as_secs_f64() * 1000.0);
    Ok(body)
}

fn model_id(model: &impl Model) -> Result<Value, ApiError> {
    let card = model.card()?;
    Ok(json!({"name": card.name, "version": card.version}))
}

fn card_json(model: &impl Model) -> Result<Value, ApiError> {
    serde_json::to_value(model.card()?).map_err(|e| ApiError::Internal(e.to_string()))
}
