//! Only feedback about a real, unchanged, recent prediction is kept, once; floods are refused.
//! Every kind of forgery the edge service's signature must stop is tried over real HTTP.

mod common;

use common::{Api, TEST_SIGNING_KEY, client, now_ms, rejection, sign, temp_dir};
use serde_json::{Value, json};

const DAY_MS: i64 = 86_400_000;

async fn assert_refused(api: &Api, feedback: &Value, status: u16, code: &str, what: &str) {
    let (got, body) = api.post(feedback).await;
    assert_eq!(
        (got, body["error"]["code"].as_str()),
        (status, Some(code)),
        "{what}: {body}"
    );
}

#[tokio::test]
async fn forged_tampered_replayed_and_expired_feedback_is_refused_counted_and_never_stored() {
    let dir = temp_dir("trust");
    let api = Api::start_with(
        &dir.join("feedback.sqlite"),
        None,
        "http://127.0.0.1:8080",
        &[("MOODWING_ALERT_THRESHOLD", "2")],
    )
    .await;
    let genuine = rejection("@airparadis four hours late and no news");

    let mut unsigned = genuine.clone();
    unsigned.as_object_mut().unwrap().remove("signed");
    assert_refused(&api, &unsigned, 403, "signature_required", "no signature").await;

    let mut invented = genuine.clone();
    invented["signed"]["signature"] = json!("ab".repeat(32));
    assert_refused(
        &api,
        &invented,
        403,
        "bad_signature",
        "an invented signature",
    )
    .await;

    let mut other_key = genuine.clone();
    sign(
        &mut other_key,
        "a key the edge service never had, long enough",
        now_ms(),
    );
    assert_refused(&api, &other_key, 403, "bad_signature", "another key").await;

    let tamperings: [(&str, Value); 6] = [
        ("text", json!("@airparadis four hours late and no news!")),
        ("predicted_label", json!("negative")),
        ("score", json!(0.82)),
        ("model", json!({"name": "moodwing-bert", "version": "1"})),
        ("model", json!({"name": "moodwing-lstm", "version": "2"})),
        ("signed", {
            let mut signed = genuine["signed"].clone();
            signed["issued_at_ms"] = json!(signed["issued_at_ms"].as_i64().unwrap() + 1);
            signed
        }),
    ];
    for (field, value) in tamperings {
        let mut tampered = genuine.clone();
        tampered[field] = value;
        if field == "predicted_label" {
            tampered["corrected_label"] = json!("positive");
        }
        assert_refused(&api, &tampered, 403, "bad_signature", field).await;
    }

    let mut expired = genuine.clone();
    sign(&mut expired, TEST_SIGNING_KEY, now_ms() - DAY_MS - 60_000);
    assert_refused(
        &api,
        &expired,
        403,
        "prediction_expired",
        "a day-old prediction",
    )
    .await;
    let mut ahead = genuine.clone();
    sign(&mut ahead, TEST_SIGNING_KEY, now_ms() + 600_000);
    assert_refused(&api, &ahead, 403, "prediction_expired", "from the future").await;

    // None of the above reached the store or the alert.
    assert!(api.stored().is_empty());
    let (status, body) = api.post(&genuine).await;
    assert_eq!(
        (status, &body["alert_fired"]),
        (201, &json!(false)),
        "{body}"
    );

    // A retry is acknowledged; another verdict on the same prediction is a replay.
    assert_eq!(api.post(&genuine).await.0, 200);
    let mut replay = genuine.clone();
    replay["id"] = json!(uuid::Uuid::new_v4());
    assert_refused(&api, &replay, 409, "already_answered", "a second feedback").await;
    replay["verdict"] = json!("validation");
    replay["corrected_label"] = Value::Null;
    assert_refused(&api, &replay, 409, "already_answered", "a second verdict").await;

    assert_eq!(api.stored().len(), 1, "only the genuine feedback");
    let stats = api.get("/api/feedback/stats").await;
    assert_eq!(
        stats["refused"],
        json!({"missing_signature": 1, "bad_signature": 8, "expired": 2,
               "already_answered": 2, "rate_limited": 0}),
        "{stats}"
    );
    assert!(
        stats["alerts_last_24h"].as_array().unwrap().is_empty(),
        "forgeries fire no alert"
    );
}

#[tokio::test]
async fn during_a_key_rotation_both_keys_verify() {
    let dir = temp_dir("rotation");
    let next_key = "the next signing key, at least thirty-two bytes";
    let api = Api::start_with(
        &dir.join("feedback.sqlite"),
        None,
        "http://127.0.0.1:8080",
        &[
            ("MOODWING_SIGNING_KEY", next_key),
            ("MOODWING_SIGNING_KEY_PREVIOUS", TEST_SIGNING_KEY),
        ],
    )
    .await;
    assert_eq!(
        api.post(&rejection("signed before the rotation")).await.0,
        201
    );
    let mut after = rejection("signed after it");
    sign(&mut after, next_key, now_ms());
    assert_eq!(api.post(&after).await.0, 201);
}

#[tokio::test]
async fn a_flood_from_one_client_gets_429_with_retry_after_and_others_still_get_through() {
    let dir = temp_dir("flood");
    let api = Api::start_with(
        &dir.join("feedback.sqlite"),
        None,
        "http://127.0.0.1:8080",
        &[
            ("MOODWING_RATE_PER_CLIENT_PER_MINUTE", "6"),
            ("MOODWING_RATE_CLIENT_BURST", "3"),
            ("MOODWING_CLIENT_IP_HEADER", "x-forwarded-for"),
        ],
    )
    .await;
    let post_from = |ip: &'static str, body: Value| {
        let url = format!("{}/api/feedback", api.base);
        async move {
            client()
                .post(url)
                .header("content-type", "application/json")
                .header("x-forwarded-for", format!("198.51.100.9, {ip}"))
                .body(body.to_string())
                .send()
                .await
                .unwrap()
        }
    };
    for i in 0..3 {
        let response = post_from("203.0.113.1", rejection(&format!("flood {i}"))).await;
        assert_eq!(response.status(), 201);
    }
    let refused = post_from("203.0.113.1", rejection("flood 3")).await;
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=10).contains(&retry_after), "{retry_after}");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");

    let other = post_from("203.0.113.2", rejection("another client")).await;
    assert_eq!(other.status(), 201, "a limit is per client");
    let health = client()
        .get(format!("{}/api/health", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "health is not limited");
    assert_eq!(api.stored().len(), 4);
    let stats = api.get("/api/feedback/stats").await;
    assert_eq!(stats["refused"]["rate_limited"], 1);
}

#[tokio::test]
async fn local_development_may_accept_unsigned_feedback_but_never_a_bad_signature() {
    let dir = temp_dir("unsigned");
    let api = Api::start_with(
        &dir.join("feedback.sqlite"),
        None,
        "http://127.0.0.1:8080",
        &[
            ("MOODWING_SIGNING_KEY", ""),
            ("MOODWING_ALLOW_UNSIGNED", "true"),
        ],
    )
    .await;
    let mut unsigned = rejection("typed on a laptop");
    unsigned.as_object_mut().unwrap().remove("signed");
    assert_eq!(api.post(&unsigned).await.0, 201);
    assert_refused(
        &api,
        &rejection("signed"),
        403,
        "bad_signature",
        "no key to check it",
    )
    .await;
}
