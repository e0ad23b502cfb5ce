//! The API over real HTTP, with a real SQLite file and a real TLS ingestion endpoint.

mod common;

use std::time::Duration;

use common::{Api, Receiver, client, rejection, temp_dir};
use serde_json::{Value, json};

#[tokio::test]
async fn a_rejection_is_stored_then_traced_once_and_counted() {
    let dir = temp_dir("happy");
    let receiver = Receiver::start(&dir).await;
    let api = Api::start(&dir.join("feedback.sqlite"), Some(&receiver)).await;

    let feedback = rejection("@united thanks for losing my bag, again");
    let (status, body) = api.post(&feedback).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["stored"], true);
    let stored = api.stored();
    assert_eq!(stored.len(), 1);
    assert_eq!(
        (stored[0].0.as_str(), stored[0].1.as_str()),
        (feedback["id"].as_str().unwrap(), "rejection")
    );

    let events = receiver.wait_for_events(1, Duration::from_secs(20)).await;
    assert_eq!(events[0]["name"], "prediction_rejected");
    let properties = &events[0]["properties"];
    assert_eq!(properties["text"], feedback["text"]);
    assert_eq!(properties["predicted_label"], "positive");
    assert_eq!(properties["score"], "0.81");
    assert_eq!(properties["model_version"], "1");
    assert_eq!(properties["corrected_label"], "negative");
    assert_eq!(properties["feedback_id"], feedback["id"]);
    assert!(
        receiver
            .envelopes()
            .iter()
            .any(|e| e["name"] == "Microsoft.ApplicationInsights.Request")
    );

    // A retry of the same feedback (the page lost the answer) is acknowledged, not stored twice.
    let (status, body) = api.post(&feedback).await;
    assert_eq!((status, &body["duplicate"]), (200, &json!(true)), "{body}");

    let mut validation = rejection("on time and a smooth flight");
    validation["verdict"] = json!("validation");
    validation["corrected_label"] = Value::Null;
    assert_eq!(api.post(&validation).await.0, 201);
    receiver.wait_for_events(2, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let events = receiver.events();
    let names: Vec<&str> = events.iter().filter_map(|e| e["name"].as_str()).collect();
    assert_eq!(names, ["prediction_rejected", "prediction_validated"]);
    assert!(api.stored().iter().all(|row| row.2), "all marked exported");

    let stats = api.get("/api/feedback/stats").await;
    let five_minutes = &stats["windows"][0];
    assert_eq!(five_minutes["window"], "5m");
    assert_eq!(
        (
            five_minutes["validations"].as_u64(),
            five_minutes["rejections"].as_u64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(five_minutes["rejection_rate"], 0.5);
    assert_eq!(stats["unexported"], 0);
}

#[tokio::test]
async fn the_third_rejection_within_five_minutes_fires_the_alert() {
    let dir = temp_dir("alert");
    let api = Api::start(&dir.join("feedback.sqlite"), None).await;
    let mut fired = Vec::new();
    for text in ["late", "lost bag", "rude staff", "cancelled"] {
        let (status, body) = api.post(&rejection(text)).await;
        assert_eq!(status, 201, "{body}");
        fired.push(body["alert_fired"].as_bool().unwrap());
    }
    assert_eq!(fired, [false, false, true, false]);
    let stats = api.get("/api/feedback/stats").await;
    let alerts = stats["alerts_last_24h"].as_array().unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["rejections"], 3);
    assert_eq!(
        stats["alert_rule"],
        json!({"threshold": 3, "window_secs": 300})
    );
    // Without App Insights the feedback waits in the outbox.
    assert_eq!(stats["unexported"], 4);
    assert_eq!(
        api.get("/api/health").await["app_insights"],
        "not configured: stored locally only"
    );
}

#[tokio::test]
async fn bad_input_gets_a_json_error_with_the_right_status() {
    let dir = temp_dir("bad-input");
    let api = Api::start(&dir.join("feedback.sqlite"), None).await;
    let client = client();
    let url = |path: &str| format!("{}{path}", api.base);
    let valid = rejection("fine").to_string();
    let mut unknown_field = rejection("fine");
    unknown_field["extra"] = json!(1);
    let mut empty = rejection("fine");
    empty["text"] = json!("   ");
    let mut score = rejection("fine");
    score["score"] = json!(2.0);
    let oversized = rejection(&"a".repeat(20_000)).to_string();

    // method, path, content type, body, expected status and error code
    type Case<'a> = (&'a str, &'a str, Option<&'a str>, Vec<u8>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            "POST",
            "/api/feedback",
            Some("text/plain"),
            valid.clone().into_bytes(),
            415,
            "unsupported_media_type",
        ),
        (
            "POST",
            "/api/feedback",
            None,
            valid.into_bytes(),
            415,
            "unsupported_media_type",
        ),
        (
            "POST",
            "/api/feedback",
            Some("application/json"),
            b"{not json".to_vec(),
            400,
            "bad_json",
        ),
        (
            "POST",
            "/api/feedback",
            Some("application/json"),
            b"{\"text\": \"\xff\xfe\"}".to_vec(),
            400,
            "bad_json",
        ),
        (
            "POST",
            "/api/feedback",
            Some("application/json"),
            unknown_field.to_string().into_bytes(),
            400,
            "bad_json",
        ),
        (
            "POST",
            "/api/feedback",
            Some("application/json"),
            empty.to_string().into_bytes(),
            422,
            "invalid_field",
        ),
        (
            "POST",
            "/api/feedback",
            Some("application/json"),
            score.to_string().into_bytes(),
            422,
            "invalid_field",
        ),
        (
            "POST",
            "/api/feedback",
            Some("application/json"),
            oversized.into_bytes(),
            413,
            "payload_too_large",
        ),
        (
            "GET",
            "/api/feedback",
            None,
            vec![],
            405,
            "method_not_allowed",
        ),
        (
            "POST",
            "/api/feedback/stats",
            None,
            vec![],
            405,
            "method_not_allowed",
        ),
        (
            "DELETE",
            "/api/health",
            None,
            vec![],
            405,
            "method_not_allowed",
        ),
        ("GET", "/api/nothing", None, vec![], 404, "not_found"),
    ];
    for (method, path, content_type, body, status, code) in cases {
        let mut request = client
            .request(method.parse().unwrap(), url(path))
            .body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.unwrap();
        let got = response.status().as_u16();
        let json: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(
            (got, json["error"]["code"].as_str()),
            (status, Some(code)),
            "{method} {path}: {json}"
        );
    }
    assert!(api.stored().is_empty(), "nothing refused was stored");
}

#[tokio::test]
async fn cors_allows_only_the_configured_origins() {
    let dir = temp_dir("cors");
    let api = Api::start(&dir.join("feedback.sqlite"), None).await;
    let preflight = |origin: &'static str| {
        client()
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/api/feedback", api.base),
            )
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let allowed = preflight("http://127.0.0.1:8080").await.unwrap();
    assert_eq!(
        allowed
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap()),
        Some("http://127.0.0.1:8080")
    );
    let other = preflight("https://evil.example").await.unwrap();
    assert_eq!(other.headers().get("access-control-allow-origin"), None);
}
