//! The API as plain functions over the committed LSTM bundle (the same checks run over real HTTP
//! against the WebAssembly component in `host-tests`).

use std::cell::Cell;
use std::path::Path;
use std::sync::LazyLock;

use moodwing_edge_api::{
    ApiError, ApiRequest, ApiResponse, MAX_BODY_BYTES, Model, Signing, SigningKey, Unsigned, handle,
};
use moodwing_edge_model::{Bundle, Classifier, ModelCard};
use moodwing_protocol::{BatchPrediction, ModelId, Prediction};
use moodwing_signature::{Claims, verify};
use serde_json::{Value, json};

static CLASSIFIER: LazyLock<Classifier> = LazyLock::new(|| {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/lstm");
    Classifier::new(Bundle::from_dir(&dir).expect("bundle")).expect("classifier")
});

fn call(method: &str, path: &str, content_type: Option<&str>, body: &[u8]) -> (ApiResponse, Value) {
    call_with(&Unsigned, method, path, content_type, body)
}

fn call_with(
    signing: &impl Signing,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> (ApiResponse, Value) {
    let response = handle(
        &*CLASSIFIER,
        signing,
        "/api",
        ApiRequest {
            method,
            path,
            content_type,
            body,
        },
    );
    let json = if response.body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&response.body).expect("JSON body")
    };
    (response, json)
}

fn header<'a>(response: &'a ApiResponse, name: &str) -> Option<&'a str> {
    response
        .headers
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn predict_returns_label_score_model_and_latency() {
    let body = json!({"text": "@united worst service ever, never again"}).to_string();
    let (response, json) = call(
        "POST",
        "/api/predict",
        Some("application/json"),
        body.as_bytes(),
    );
    assert_eq!(response.status, 200);
    assert_eq!(json["label"], "negative");
    assert_eq!(json["model"]["name"], "moodwing-lstm");
    assert!(json["latency_ms"].as_f64().unwrap() >= 0.0);
    assert!(json.get("signed").is_none(), "no key, no signature");
    assert_eq!(header(&response, "access-control-allow-origin"), Some("*"));
}

fn key() -> SigningKey {
    SigningKey::new("a test key that is long enough for HMAC-SHA256").unwrap()
}

/// Signs with [`key`] and the operating system's random source.
struct TestKey;

impl Signing for TestKey {
    fn signing_key(&self) -> Result<Option<SigningKey>, ApiError> {
        Ok(Some(key()))
    }

    fn random_bytes(&self) -> [u8; 16] {
        let mut bytes = [0; 16];
        getrandom::fill(&mut bytes).expect("random bytes");
        bytes
    }
}

fn claims_of<'a>(
    text: &'a str,
    label: moodwing_protocol::Label,
    score: f64,
    model: &'a ModelId,
    signed: &'a moodwing_protocol::Signed,
) -> Claims<'a> {
    Claims {
        prediction_id: &signed.prediction_id,
        text,
        label,
        score,
        model,
        issued_at_ms: signed.issued_at_ms,
    }
}

#[test]
fn with_a_key_each_prediction_is_signed_over_what_was_answered() {
    let text = "@airparadis the crew was lovely, thank you";
    let body = json!({ "text": text }).to_string();
    let (response, json) = call_with(
        &TestKey,
        "POST",
        "/api/predict",
        Some("application/json"),
        body.as_bytes(),
    );
    assert_eq!(response.status, 200);
    let prediction: Prediction = serde_json::from_value(json).unwrap();
    let signed = prediction.signed.as_ref().expect("signed");
    let id = uuid::Uuid::parse_str(&signed.prediction_id).expect("a uuid");
    assert_eq!(id.get_version_num(), 4);
    let claims = claims_of(
        text,
        prediction.label,
        prediction.score,
        &prediction.model,
        signed,
    );
    verify(&[key()], &claims, &signed.signature).unwrap();
    let other = SigningKey::new("another key, also long enough for HMAC-SHA256").unwrap();
    assert!(verify(&[other], &claims, &signed.signature).is_err());

    let texts = ["great crew", "lost my bag", "great crew"];
    let body = json!({ "texts": texts }).to_string();
    let (_, json) = call_with(
        &TestKey,
        "POST",
        "/api/predict/batch",
        Some("application/json"),
        body.as_bytes(),
    );
    let batch: BatchPrediction = serde_json::from_value(json).unwrap();
    let mut ids = std::collections::HashSet::new();
    for (text, scored) in texts.iter().zip(&batch.predictions) {
        let signed = scored.signed.as_ref().expect("signed");
        assert!(
            ids.insert(signed.prediction_id.clone()),
            "one id per prediction"
        );
        let claims = claims_of(text, scored.label, scored.score, &batch.model, signed);
        verify(&[key()], &claims, &signed.signature).unwrap();
    }
}

#[test]
fn every_refusal_has_its_status_and_code() {
    // method, path, content type, body, expected status and error code
    type Case = (
        &'static str,
        &'static str,
        Option<&'static str>,
        Vec<u8>,
        u16,
        &'static str,
    );
    let cases: [Case; 8] = [
        (
            "POST",
            "/api/predict",
            Some("application/json"),
            br#"{"text": ""}"#.to_vec(),
            422,
            "empty_text",
        ),
        (
            "POST",
            "/api/predict",
            Some("application/json"),
            b"{".to_vec(),
            400,
            "invalid_json",
        ),
        (
            "POST",
            "/api/predict",
            Some("application/json"),
            b"{\"text\": \"\xff\"}".to_vec(),
            400,
            "invalid_utf8",
        ),
        (
            "POST",
            "/api/predict",
            Some("text/json"),
            br#"{"text": "a"}"#.to_vec(),
            415,
            "unsupported_media_type",
        ),
        (
            "POST",
            "/api/predict",
            Some("application/json"),
            vec![b' '; MAX_BODY_BYTES + 1],
            413,
            "payload_too_large",
        ),
        (
            "PUT",
            "/api/predict",
            Some("application/json"),
            br#"{"text": "a"}"#.to_vec(),
            405,
            "method_not_allowed",
        ),
        (
            "POST",
            "/api/health",
            None,
            Vec::new(),
            405,
            "method_not_allowed",
        ),
        ("GET", "/elsewhere", None, Vec::new(), 404, "not_found"),
    ];
    for (method, path, content_type, body, status, code) in cases {
        let (response, json) = call(method, path, content_type, &body);
        assert_eq!(
            (response.status, json["error"]["code"].as_str()),
            (status, Some(code)),
            "{method} {path}"
        );
        assert!(
            json["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
}

#[test]
fn preflight_is_answered_without_a_body() {
    let (response, json) = call("OPTIONS", "/api/predict/batch", None, b"");
    assert_eq!(response.status, 204);
    assert_eq!(json, Value::Null);
    assert_eq!(
        header(&response, "access-control-allow-methods"),
        Some("GET, POST, OPTIONS")
    );
}

#[test]
fn batch_validates_every_text_before_scoring() {
    let body = json!({"texts": ["great crew", "x".repeat(1001)]}).to_string();
    let (response, json) = call(
        "POST",
        "/api/predict/batch",
        Some("application/json"),
        body.as_bytes(),
    );
    assert_eq!(response.status, 422);
    assert_eq!(json["error"]["code"], "text_too_long");

    let body = json!({"texts": ["great crew", "lost my bag"]}).to_string();
    let (response, json) = call(
        "POST",
        "/api/predict/batch",
        Some("application/json"),
        body.as_bytes(),
    );
    assert_eq!(response.status, 200);
    assert_eq!(json["predictions"].as_array().unwrap().len(), 2);
}

/// Counts how often the routes ask for the classifier and the signing key.
struct Counting {
    asked: Cell<usize>,
    keys_asked: Cell<usize>,
}

impl Signing for Counting {
    fn signing_key(&self) -> Result<Option<SigningKey>, ApiError> {
        self.keys_asked.set(self.keys_asked.get() + 1);
        Ok(Some(key()))
    }

    fn random_bytes(&self) -> [u8; 16] {
        TestKey.random_bytes()
    }
}

impl Model for Counting {
    fn card(&self) -> Result<&ModelCard, ApiError> {
        Ok(CLASSIFIER.card())
    }

    fn classifier(&self) -> Result<&Classifier, ApiError> {
        self.asked.set(self.asked.get() + 1);
        Ok(&CLASSIFIER)
    }
}

#[test]
fn only_a_valid_prediction_asks_for_the_classifier_and_the_key() {
    let model = Counting {
        asked: Cell::new(0),
        keys_asked: Cell::new(0),
    };
    let json = Some("application/json");
    let asks = |method: &str, path: &str, content_type: Option<&str>, body: &str| {
        let before = (model.asked.get(), model.keys_asked.get());
        let request = ApiRequest {
            method,
            path,
            content_type,
            body: body.as_bytes(),
        };
        let status = handle(&model, &model, "/api", request).status;
        let asked = (
            model.asked.get() - before.0,
            model.keys_asked.get() - before.1,
        );
        assert_eq!(
            asked.0, asked.1,
            "the key is asked for exactly when the model is"
        );
        (status, asked.0)
    };
    // Answered from the card, or refused before any model is needed.
    assert_eq!(asks("GET", "/api/health", None, ""), (200, 0));
    assert_eq!(asks("GET", "/api/model", None, ""), (200, 0));
    assert_eq!(asks("OPTIONS", "/api/predict", None, ""), (204, 0));
    assert_eq!(asks("GET", "/api/nowhere", None, ""), (404, 0));
    assert_eq!(asks("GET", "/api/predict", None, ""), (405, 0));
    assert_eq!(
        asks("POST", "/api/predict", Some("text/plain"), "{}"),
        (415, 0)
    );
    assert_eq!(asks("POST", "/api/predict", json, "{"), (400, 0));
    assert_eq!(
        asks("POST", "/api/predict", json, r#"{"text": " "}"#),
        (422, 0)
    );
    let too_many = serde_json::to_string(&json!({"texts": vec!["ok"; 33]})).unwrap();
    assert_eq!(
        asks("POST", "/api/predict/batch", json, &too_many),
        (422, 0)
    );
    let one_bad = r#"{"texts": ["fine", ""]}"#;
    assert_eq!(asks("POST", "/api/predict/batch", json, one_bad), (422, 0));
    // A prediction does.
    assert_eq!(
        asks("POST", "/api/predict", json, r#"{"text": "great"}"#),
        (200, 1)
    );
    let batch = r#"{"texts": ["great", "awful"]}"#;
    assert_eq!(asks("POST", "/api/predict/batch", json, batch), (200, 1));
}
