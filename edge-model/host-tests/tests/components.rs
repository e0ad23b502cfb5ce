//! The built components, really served by `wasmtime serve`, over real HTTP: every route, every
//! kind of bad input, and the golden tweets of each bundle.

use std::collections::HashSet;

use moodwing_edge_host_tests::{Reply, Served, TEST_SIGNING_KEY, workspace_root};
use moodwing_protocol::Prediction;
use moodwing_signature::{Claims, SigningKey, verify};
use serde_json::{Value, json};

const JSON: Option<&str> = Some("application/json");

fn assert_error(reply: &Reply, status: u16, code: &str) {
    assert_eq!(reply.status, status, "{reply:?}");
    assert_eq!(reply.json()["error"]["code"], code, "{reply:?}");
    assert_eq!(
        reply.header("access-control-allow-origin"),
        Some("*"),
        "{reply:?}"
    );
}

fn golden(model: &str) -> Vec<Value> {
    let path = workspace_root().join(format!("edge-model/models/{model}/golden.jsonl"));
    std::fs::read_to_string(path)
        .expect("golden.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect()
}

fn check_golden(served: &Served, base: &str, model: &str) {
    let card = served
        .request("GET", &format!("{base}/model"), None, b"")
        .expect("an answer")
        .json();
    let threshold = card["threshold"]
        .as_f64()
        .expect("model.json has a threshold");
    for line in golden(model).iter().take(40) {
        let reply = served.post_json(&format!("{base}/predict"), &json!({"text": line["text"]}));
        assert_eq!(reply.status, 200, "{reply:?}");
        let body = reply.json();
        let expected = line["p_positive"].as_f64().unwrap();
        let score = body["score"].as_f64().unwrap();
        assert!(
            (score - expected).abs() < 1e-3,
            "{}: component {score}, onnxruntime {expected}",
            line["text"]
        );
        let label = if score >= threshold {
            "positive"
        } else {
            "negative"
        };
        assert_eq!(body["label"], label);
        if (expected - threshold).abs() > 1e-3 {
            assert_eq!(body["label"], line["predicted"], "{}", line["text"]);
        }
    }
}

#[test]
fn lstm_component_serves_every_route() {
    let served = Served::start("sentiment-lstm", "/api/health");

    let reply = served.post_json(
        "/api/predict",
        &json!({"text": "@united you lost my bag AGAIN. worst airline ever"}),
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
    let body = reply.json();
    assert_eq!(body["label"], "negative", "{body}");
    assert!(body["score"].as_f64().unwrap() < 0.5);
    assert_eq!(body["model"]["name"], "moodwing-lstm");
    assert!(body["latency_ms"].as_f64().unwrap() >= 0.0);

    let reply = served.post_json(
        "/api/predict",
        &json!({"text": "Thank you @JetBlue, amazing crew and a smooth flight!"}),
    );
    assert_eq!(reply.json()["label"], "positive", "{reply:?}");

    let reply = served.post_json(
        "/api/predict/batch",
        &json!({"texts": ["love it", "hate it", "flight delayed 5 hours"]}),
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    let predictions = reply.json()["predictions"].as_array().unwrap().clone();
    assert_eq!(predictions.len(), 3);

    let reply = served.request("GET", "/api/model", None, b"").unwrap();
    assert_eq!(reply.status, 200);
    let card = reply.json();
    assert_eq!(card["labels"], json!(["negative", "positive"]));
    assert!(
        card["metrics"]["int8"]["test"]["accuracy"]
            .as_f64()
            .unwrap()
            > 0.8
    );
    assert!(
        card["threshold"]
            .as_f64()
            .is_some_and(|t| t > 0.0 && t < 1.0)
    );

    let reply = served.request("GET", "/api/health", None, b"").unwrap();
    assert_eq!(reply.json()["status"], "ok");

    let reply = served
        .request("OPTIONS", "/api/predict", None, b"")
        .unwrap();
    assert_eq!(reply.status, 204);
    assert_eq!(
        reply.header("access-control-allow-methods"),
        Some("GET, POST, OPTIONS")
    );
    assert_eq!(
        reply.header("access-control-allow-headers"),
        Some("content-type")
    );

    check_golden(&served, "/api", "lstm");
}

#[test]
fn lstm_component_refuses_bad_input() {
    let served = Served::start("sentiment-lstm", "/api/health");
    let post = |body: &[u8], content_type: Option<&str>| {
        served
            .request("POST", "/api/predict", content_type, body)
            .unwrap()
    };

    assert_error(
        &served.post_json("/api/predict", &json!({"text": ""})),
        422,
        "empty_text",
    );
    assert_error(
        &served.post_json("/api/predict", &json!({"text": " \n\t "})),
        422,
        "empty_text",
    );
    assert_error(
        &served.post_json("/api/predict", &json!({"text": "x".repeat(1001)})),
        422,
        "text_too_long",
    );
    assert_eq!(
        served
            .post_json("/api/predict", &json!({"text": "é".repeat(1000)}))
            .status,
        200
    );
    assert_error(&post(b"{\"text\": ", JSON), 400, "invalid_json");
    assert_error(&post(b"[1, 2]", JSON), 400, "invalid_json");
    assert_error(&post(b"{\"text\": 42}", JSON), 400, "invalid_json");
    assert_error(&post(b"{\"txt\": \"hi\"}", JSON), 400, "invalid_json");
    assert_error(
        &post(b"{\"text\": \"hi\", \"extra\": 1}", JSON),
        400,
        "invalid_json",
    );
    assert_error(&post(b"{\"text\": \"caf\xe9\"}", JSON), 400, "invalid_utf8");
    assert_error(
        &post(b"{\"text\": \"hi\"}", Some("text/plain")),
        415,
        "unsupported_media_type",
    );
    assert_error(
        &post(b"{\"text\": \"hi\"}", None),
        415,
        "unsupported_media_type",
    );
    assert_eq!(
        post(
            b"{\"text\": \"hi\"}",
            Some("application/json; charset=utf-8")
        )
        .status,
        200
    );
    let huge = json!({"text": "a".repeat(70 * 1024)}).to_string();
    assert_error(&post(huge.as_bytes(), JSON), 413, "payload_too_large");

    let reply = served.request("GET", "/api/predict", None, b"").unwrap();
    assert_error(&reply, 405, "method_not_allowed");
    assert_eq!(reply.header("allow"), Some("POST, OPTIONS"));
    assert_error(
        &served.request("DELETE", "/api/model", None, b"").unwrap(),
        405,
        "method_not_allowed",
    );
    assert_error(
        &served.request("GET", "/api/nothing", None, b"").unwrap(),
        404,
        "not_found",
    );
    assert_error(
        &served.request("GET", "/", None, b"").unwrap(),
        404,
        "not_found",
    );

    assert_error(
        &served.post_json("/api/predict/batch", &json!({"texts": []})),
        422,
        "batch_size",
    );
    assert_error(
        &served.post_json("/api/predict/batch", &json!({"texts": vec!["ok"; 33]})),
        422,
        "batch_size",
    );
    assert_error(
        &served.post_json("/api/predict/batch", &json!({"texts": ["fine", ""]})),
        422,
        "empty_text",
    );

    // Still serving after all of that.
    assert_eq!(
        served
            .post_json("/api/predict", &json!({"text": "still alive?"}))
            .status,
        200
    );
}

#[test]
fn bert_component_serves_its_own_routes() {
    let served = Served::start("sentiment-bert", "/api/bert/health");
    let reply = served.post_json(
        "/api/bert/predict",
        &json!({"text": "@AmericanAir thanks for the upgrade, lovely crew"}),
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    let body = reply.json();
    assert_eq!(body["model"]["name"], "moodwing-bert");
    assert_eq!(body["label"], "positive", "{body}");
    assert_error(
        &served.post_json("/api/bert/predict", &json!({"text": ""})),
        422,
        "empty_text",
    );
    assert_error(
        &served.request("GET", "/api/predict", None, b"").unwrap(),
        404,
        "not_found",
    );
    check_golden(&served, "/api/bert", "bert");
}

/// Both components are pre-initialized: no request builds a model, whatever its route (every
/// request of these tests is a fresh instance, and `Served::request` checks each answer).
#[test]
fn no_request_of_a_fresh_instance_builds_the_model() {
    for (component, base) in [("sentiment-bert", "/api/bert"), ("sentiment-lstm", "/api")] {
        let served = Served::start(component, &format!("{base}/health"));
        for reply in [
            served.request("GET", &format!("{base}/health"), None, b""),
            served.request("GET", &format!("{base}/model"), None, b""),
            served.request("OPTIONS", &format!("{base}/predict"), None, b""),
            served.request("GET", &format!("{base}/predict"), None, b""),
            served.request("GET", &format!("{base}/nowhere"), None, b""),
            Some(served.post_json(&format!("{base}/predict"), &json!({"text": " "}))),
            Some(served.post_json(&format!("{base}/predict/batch"), &json!({"texts": []}))),
        ] {
            let reply = reply.expect("an answer");
            assert!(reply.status < 300 || reply.status >= 400, "{reply:?}");
        }
        for _ in 0..3 {
            let reply = served.post_json(
                &format!("{base}/predict"),
                &json!({"text": "on time, thanks"}),
            );
            assert_eq!(reply.status, 200, "{reply:?}");
            assert!(reply.json()["score"].as_f64().is_some(), "{reply:?}");
        }
    }
}

#[test]
fn predictions_are_signed_with_the_configured_key_and_unsigned_without_one() {
    let served = Served::start("sentiment-lstm", "/api/health");
    let key = SigningKey::new(TEST_SIGNING_KEY).expect("a valid key");
    let started_ms = now_ms();
    let mut ids = HashSet::new();
    for text in [
        "@airparadis lovely crew",
        "@airparadis lost my bag",
        "@airparadis lovely crew",
    ] {
        let reply = served.post_json("/api/predict", &json!({ "text": text }));
        let prediction: Prediction = serde_json::from_str(&reply.body).expect("a prediction");
        let signed = prediction.signed.expect("signed");
        assert!(
            ids.insert(signed.prediction_id.clone()),
            "each fresh instance draws its own id (randomness is not part of the snapshot)"
        );
        assert!((started_ms..=now_ms()).contains(&signed.issued_at_ms));
        let claims = Claims {
            prediction_id: &signed.prediction_id,
            text,
            label: prediction.label,
            score: prediction.score,
            model: &prediction.model,
            issued_at_ms: signed.issued_at_ms,
        };
        verify(std::slice::from_ref(&key), &claims, &signed.signature)
            .expect("the signature verifies");
    }
    drop(served);

    let unsigned = Served::start_with_key("sentiment-lstm", "/api/health", None);
    let reply = unsigned.post_json("/api/predict", &json!({"text": "lovely crew"}));
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(reply.json().get("signed").is_none(), "{reply:?}");
}

fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970");
    i64::try_from(since.as_millis()).expect("in range")
}
