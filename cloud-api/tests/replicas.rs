//! PostgreSQL, shared by several replicas: the same API over it, and two replicas draining one
//! outbox while clients post to both and one of them is SIGKILLed.

mod common;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use common::{
    Api, Receiver, feedback_ids, fresh_postgres, post_rejections_until, rejection, temp_dir,
    wait_until_exported,
};

const ORIGIN: &str = "http://127.0.0.1:8080";

#[tokio::test]
async fn over_postgres_a_rejection_is_stored_once_and_traced_and_a_replay_refused() {
    let Some(db) = fresh_postgres() else { return };
    let dir = temp_dir("postgres-happy");
    let receiver = Receiver::start(&dir).await;
    let api = Api::start_on(db, Some(&receiver), ORIGIN, &[]).await;
    let feedback = rejection("@airparadis the seat was broken, six hours");
    assert_eq!(api.post(&feedback).await.0, 201);
    assert_eq!(api.post(&feedback).await.0, 200, "a retry");
    let mut replay = feedback.clone();
    replay["id"] = serde_json::json!(uuid::Uuid::new_v4());
    assert_eq!(api.post(&replay).await.0, 409);
    let events = receiver.wait_for_events(1, Duration::from_secs(20)).await;
    assert_eq!(feedback_ids(&events), [feedback["id"].as_str().unwrap()]);
    wait_until_exported(&api, Duration::from_secs(20)).await;
    assert_eq!(api.stored().len(), 1);
}

#[tokio::test]
async fn two_replicas_drain_one_outbox_and_lose_nothing_when_one_is_killed() {
    let Some(db) = fresh_postgres() else { return };
    let dir = temp_dir("replicas");
    let receiver = Receiver::start(&dir).await;
    // A short lease, so the survivor takes the dead replica's claimed rows within the test.
    let settings = [("MOODWING_OUTBOX_LEASE_SECS", "2")];
    let mut doomed = Api::start_on(db.clone(), Some(&receiver), ORIGIN, &settings).await;
    let survivor = Api::start_on(db.clone(), Some(&receiver), ORIGIN, &settings).await;

    // Four clients post as fast as they can, alternating replicas; one replica is killed.
    let urls = vec![
        format!("{}/api/feedback", doomed.base),
        format!("{}/api/feedback", survivor.base),
    ];
    let clients = post_rejections_until(urls, Instant::now() + Duration::from_secs(3));
    tokio::time::sleep(Duration::from_millis(800)).await;
    doomed.kill();
    let acknowledged = clients.await.unwrap();
    assert!(
        acknowledged.len() >= 20,
        "only {} acknowledged",
        acknowledged.len()
    );

    let stored: HashSet<String> = survivor.stored().into_iter().map(|row| row.0).collect();
    let lost: Vec<&String> = acknowledged.difference(&stored).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged feedback lost: {lost:?}",
        lost.len()
    );

    wait_until_exported(&survivor, Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let exported = feedback_ids(&receiver.events());
    let mut times: HashMap<&str, usize> = HashMap::new();
    for id in &exported {
        *times.entry(id.as_str()).or_default() += 1;
    }
    let twice: Vec<_> = times.iter().filter(|(_, n)| **n > 1).collect();
    let exported: HashSet<String> = exported.iter().cloned().collect();
    assert!(
        acknowledged.is_subset(&exported),
        "every acknowledged feedback reached App Insights"
    );
    // Claims keep the live replicas apart; the only way to a repeat is a replica killed after the
    // endpoint took its batch and before it marked the rows, whose lease then ran out: at most
    // one batch (50), and the receiver would show it here.
    assert!(twice.len() <= 50, "{} exported more than once", twice.len());
    println!(
        "{} feedback acknowledged by two replicas, one SIGKILLed: all stored, all exported, {} exported twice",
        acknowledged.len(),
        twice.len()
    );
}
