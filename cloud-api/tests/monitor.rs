//! The operator's view over HTTP, on both stores: `GET /api/monitor` and the radar's reports
//! (`POST /api/radar/reports`), whose new suspicions reach App Insights as `bad_buzz_suspected`.

mod common;

use std::time::Duration;

use common::{
    Api, Db, Receiver, client, fresh_postgres, post_radar_report, radar_report, rejection,
    send_as_operator, temp_dir,
};
use moodwing_protocol::{MonitorSnapshot, RadarReceipt};
use serde_json::{Value, json};

const TOKEN: &str = "an operator token for the monitor tests, 32+ chars";

async fn monitor(api: &Api, query: &str, token: Option<&str>) -> (u16, Value) {
    let request = client().get(format!("{}/api/monitor{query}", api.base));
    let response = send_as_operator(request, token).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn report(flag_last: bool) -> Value {
    radar_report("air-paradis-mentions", 5, flag_last)
}

async fn the_operator_sees_feedback_alerts_and_the_radar(db: Db) {
    let dir = temp_dir("monitor");
    let receiver = Receiver::start(&dir).await;
    let settings = [("MOODWING_OPERATOR_TOKEN", TOKEN)];
    let api = Api::start_on(db, Some(&receiver), "http://127.0.0.1:8080", &settings).await;

    // Operators only.
    assert_eq!(monitor(&api, "", None).await.0, 401);
    assert_eq!(post_radar_report(&api, &report(true), None).await.0, 401);
    assert_eq!(
        post_radar_report(
            &api,
            &report(true),
            Some("a wrong token, though long enough")
        )
        .await
        .0,
        401
    );

    // Three rejections fire the alert; the newest comes first on the page.
    for i in 0..3 {
        assert_eq!(
            api.post(&rejection(&format!("delayed again {i}"))).await.0,
            201
        );
    }

    // The radar reports twice (a rerun over the same stream): one suspicion, one event.
    let (status, receipt) = post_radar_report(&api, &report(true), Some(TOKEN)).await;
    assert_eq!(status, 201, "{receipt}");
    let receipt: RadarReceipt = serde_json::from_value(receipt).unwrap();
    assert_eq!((receipt.windows, receipt.new_suspicions), (5, 1));
    let (_, again) = post_radar_report(&api, &report(true), Some(TOKEN)).await;
    assert_eq!(again["new_suspicions"], 0, "a kept suspicion is not new");

    let events = receiver.wait_for_events(4, Duration::from_secs(30)).await;
    let buzz: Vec<&Value> = events
        .iter()
        .filter(|e| e["name"] == "bad_buzz_suspected")
        .collect();
    assert_eq!(buzz.len(), 1, "{events:?}");
    let properties = &buzz[0]["properties"];
    assert_eq!(properties["source"], "air-paradis-mentions");
    assert_eq!(properties["negatives"], "80");
    assert_eq!(
        properties["most_negative_1"],
        "@AirParadis stuck on the tarmac for 3 hours, no water, no news"
    );

    let (status, body) = monitor(&api, "?hours=2&bucket_minutes=5&recent=2", Some(TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    let snapshot: MonitorSnapshot = serde_json::from_value(body).unwrap();
    let rejections: u64 = snapshot.feedback.iter().map(|b| b.rejections).sum();
    assert_eq!(rejections, 3);
    assert!(snapshot.feedback.iter().all(|b| b.start_ms % 300_000 == 0));
    let recent: Vec<&str> = snapshot
        .recent_rejections
        .iter()
        .map(|r| r.feedback.text.as_str())
        .collect();
    assert_eq!(recent, ["delayed again 2", "delayed again 1"]);
    assert_eq!(snapshot.alerts.len(), 1);
    assert_eq!(snapshot.alerts[0].rejections, 3);
    assert_eq!(snapshot.radar.len(), 5);
    let flagged: Vec<bool> = snapshot
        .radar
        .iter()
        .map(|w| w.window.suspicion.is_some())
        .collect();
    assert_eq!(flagged, [false, false, false, false, true]);
    assert_eq!(snapshot.unexported, 0, "everything was exported");

    // Bad input: the right status and code, nothing kept.
    let mut bad = report(false);
    bad["windows"][0]["negatives"] = json!(1_000);
    for (body, code) in [
        (bad, "invalid_field"),
        (
            json!({"source": "x y", "window_secs": 900, "windows": []}),
            "invalid_field",
        ),
        (json!({"source": "x"}), "bad_json"),
    ] {
        let (status, answer) = post_radar_report(&api, &body, Some(TOKEN)).await;
        assert!(status >= 400, "{body}");
        assert_eq!(answer["error"]["code"], code, "{body}");
    }
    for query in ["?hours=0", "?bucket_minutes=5000", "?recent=x"] {
        assert!(monitor(&api, query, Some(TOKEN)).await.0 >= 400, "{query}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_monitor_and_radar() {
    let dir = temp_dir("monitor-db");
    the_operator_sees_feedback_alerts_and_the_radar(Db::Sqlite(dir.join("feedback.sqlite"))).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_monitor_and_radar() {
    let Some(db) = fresh_postgres() else { return };
    the_operator_sees_feedback_alerts_and_the_radar(db).await;
}
