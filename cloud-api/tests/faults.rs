//! Nothing acknowledged is lost: not when the ingestion endpoint is down, not when the API is killed.

mod common;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use common::{
    Api, Receiver, feedback_ids, post_rejections_until, rejection, temp_dir, wait_until_exported,
};

/// Down (connections refused, which the exporter retries itself), then failing (502s, which it
/// gives up on at once: only the outbox keeps the rows), then up.
#[tokio::test]
async fn rejections_sent_while_ingestion_is_down_arrive_exactly_once() {
    let dir = temp_dir("ingestion-down");
    let mut receiver = Receiver::start(&dir).await;
    let api = Api::start(&dir.join("feedback.sqlite"), Some(&receiver)).await;
    receiver.down().await;

    let mut ids = Vec::new();
    for i in 0..5 {
        let feedback = rejection(&format!("delayed {i} hours"));
        assert_eq!(api.post(&feedback).await.0, 201);
        ids.push(feedback["id"].as_str().unwrap().to_owned());
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        api.stored().iter().all(|row| !row.2),
        "nothing is marked sent while ingestion is down"
    );
    assert_eq!(api.get("/api/feedback/stats").await["unexported"], 5);

    receiver.set_failing(true);
    receiver.up().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        api.stored().iter().all(|row| !row.2),
        "nothing is marked sent after a 502"
    );

    receiver.set_failing(false);
    receiver.wait_for_events(5, Duration::from_secs(90)).await;
    tokio::time::sleep(Duration::from_secs(1)).await; // time for a duplicate to show up
    let mut arrived: HashMap<String, usize> = HashMap::new();
    for id in feedback_ids(&receiver.events()) {
        *arrived.entry(id).or_default() += 1;
    }
    assert_eq!(arrived.len(), 5);
    assert!(
        ids.iter().all(|id| arrived.get(id) == Some(&1)),
        "{arrived:?}"
    );
    assert!(api.stored().iter().all(|row| row.2), "all marked sent");
}

#[tokio::test]
async fn every_acknowledged_feedback_survives_sigkill_and_is_exported() {
    let dir = temp_dir("sigkill");
    let db = dir.join("feedback.sqlite");
    let receiver = Receiver::start(&dir).await;
    let mut api = Api::start(&db, Some(&receiver)).await;

    // Four clients post as fast as they can; the API is killed in the middle of it.
    let url = format!("{}/api/feedback", api.base);
    let clients = post_rejections_until(vec![url], Instant::now() + Duration::from_secs(3));
    tokio::time::sleep(Duration::from_millis(800)).await;
    api.kill();
    let acknowledged = clients.await.unwrap();
    assert!(
        acknowledged.len() >= 10,
        "only {} acknowledged before the kill",
        acknowledged.len()
    );

    let api = Api::start(&db, Some(&receiver)).await;
    let stored: HashSet<String> = api.stored().into_iter().map(|row| row.0).collect();
    let lost: Vec<&String> = acknowledged.difference(&stored).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged feedback lost: {lost:?}",
        lost.len()
    );

    wait_until_exported(&api, Duration::from_secs(60)).await;
    let exported: HashSet<String> = feedback_ids(&receiver.events()).into_iter().collect();
    assert!(
        acknowledged.is_subset(&exported),
        "every acknowledged feedback reached App Insights"
    );
    println!(
        "{} feedback acknowledged before SIGKILL, all stored and exported",
        acknowledged.len()
    );
}

/// One feedback the endpoint will never accept must not hold back the others (the alert depends
/// on them), and is itself kept, never dropped.
#[tokio::test]
async fn a_feedback_the_endpoint_refuses_does_not_hold_back_the_others() {
    let dir = temp_dir("refused-row");
    let receiver = Receiver::start(&dir).await;
    receiver.refuse_envelopes_containing("UNACCEPTABLE");
    let api = Api::start(&dir.join("feedback.sqlite"), Some(&receiver)).await;

    assert_eq!(api.post(&rejection("UNACCEPTABLE tweet")).await.0, 201);
    let mut ids = HashSet::new();
    for i in 0..7 {
        let feedback = rejection(&format!("rebooked {i} times"));
        assert_eq!(api.post(&feedback).await.0, 201);
        ids.insert(feedback["id"].as_str().unwrap().to_owned());
    }
    receiver.wait_for_events(7, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(1)).await; // time for a duplicate to show up
    let arrived = feedback_ids(&receiver.events());
    assert_eq!(arrived.len(), 7, "{arrived:?}");
    assert_eq!(
        arrived.into_iter().collect::<HashSet<_>>(),
        ids,
        "every other feedback arrived, once"
    );
    let stored = api.stored();
    assert_eq!(stored.len(), 8, "the refused one is kept");
    assert_eq!(
        stored.iter().filter(|row| !row.2).count(),
        1,
        "and still waits to be sent"
    );
    assert_eq!(api.get("/api/health").await["unexported"], 1);
}
