//! `GET /api/feedback/export` over HTTP, on both stores: operators only, NDJSON, paged by row.

mod common;

use common::{Api, Db, client, fresh_postgres, rejection, send_as_operator, temp_dir};
use moodwing_protocol::ExportedFeedback;
use serde_json::Value;

const TOKEN: &str = "an operator token for the export tests, 32+ chars";

async fn get(
    api: &Api,
    query: &str,
    token: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, String) {
    let request = client().get(format!("{}/api/feedback/export{query}", api.base));
    let response = send_as_operator(request, token).await;
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    (status, headers, response.text().await.unwrap())
}

fn lines(body: &str) -> Vec<ExportedFeedback> {
    body.lines()
        .map(|line| serde_json::from_str(line).expect("an exported feedback"))
        .collect()
}

async fn exports_what_was_stored_to_the_operator_only(db: Db) {
    let settings = [("MOODWING_OPERATOR_TOKEN", TOKEN)];
    let api = Api::start_on(db, None, "http://127.0.0.1:8080", &settings).await;
    let posted: Vec<Value> = (0..3)
        .map(|i| rejection(&format!("lost bag number {i}")))
        .collect();
    for feedback in &posted {
        assert_eq!(api.post(feedback).await.0, 201);
    }

    let (status, headers, body) = get(&api, "", None).await;
    assert_eq!(
        (status, headers["www-authenticate"].to_str().unwrap()),
        (401, "Bearer"),
        "{body}"
    );
    assert_eq!(
        get(&api, "", Some("not the token at all, but long enough"))
            .await
            .0,
        401
    );

    let (status, headers, body) = get(&api, "", Some(TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["content-type"], "application/x-ndjson");
    let exported = lines(&body);
    let ids: Vec<&str> = exported.iter().map(|e| e.feedback.id.as_str()).collect();
    let posted_ids: Vec<&str> = posted.iter().map(|f| f["id"].as_str().unwrap()).collect();
    assert_eq!(ids, posted_ids, "all of it, oldest first");
    assert_eq!(
        serde_json::to_value(&exported[0].feedback).unwrap(),
        posted[0]
    );

    // Paging: two, then what follows the last row.
    let (_, headers, body) = get(&api, "?limit=2", Some(TOKEN)).await;
    assert_eq!(lines(&body).len(), 2);
    let last = headers["x-last-row"].to_str().unwrap().to_owned();
    let (_, _, rest) = get(&api, &format!("?after_row={last}"), Some(TOKEN)).await;
    assert_eq!(lines(&rest)[0].feedback.id, posted_ids[2]);
    // A time after everything: nothing.
    let (status, _, body) = get(&api, "?since=2999-01-01T00:00:00Z", Some(TOKEN)).await;
    assert_eq!((status, body.as_str()), (200, ""));

    for (query, code) in [
        ("?limit=0", "invalid_field"),
        ("?since=yesterday", "invalid_field"),
        ("?limit=x", "bad_query"),
    ] {
        let (status, _, body) = get(&api, query, Some(TOKEN)).await;
        let error: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            (status >= 400, error["error"]["code"].as_str()),
            (true, Some(code)),
            "{query}"
        );
    }
}

#[tokio::test]
async fn sqlite_exports_to_the_operator_only() {
    let dir = temp_dir("export");
    exports_what_was_stored_to_the_operator_only(Db::Sqlite(dir.join("feedback.sqlite"))).await;
}

#[tokio::test]
async fn postgres_exports_to_the_operator_only() {
    let Some(db) = fresh_postgres() else { return };
    exports_what_was_stored_to_the_operator_only(db).await;
}

#[tokio::test]
async fn without_a_token_the_export_is_disabled() {
    let dir = temp_dir("export-off");
    let api = Api::start(&dir.join("feedback.sqlite"), None).await;
    let (status, _, body) = get(&api, "", Some(TOKEN)).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("operator_routes_disabled"));
}
