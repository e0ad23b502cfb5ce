//! Load on the feedback route over loopback: signed feedbacks a second and their latency, beside
//! the same client on `GET /api/health` (no store, no signature) as the reference in the same run.
//!
//! Two loads: as fast as 32 concurrent clients go (saturation), and a steady 1,000 a second (the
//! goal: p99 under 50 ms), whose latencies count from when each request was due, so a stall
//! delays the requests behind it in the figures too.
//!
//! `cargo bench -p moodwing-cloud-api --bench feedback_load [-- TOTAL RATE]` (defaults 20000 and
//! 1000). Starts the release binary on a fresh SQLite store, with rate limits above the load.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use moodwing_protocol::{Feedback, Label, ModelId, Verdict};
use moodwing_signature::{Claims, SigningKey, sign};
use tokio::sync::Mutex;

const KEY: &str = "feedback_load bench: a signing key of 32 bytes and more";

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn now_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970");
    i64::try_from(since.as_millis()).expect("in range")
}

fn signed_feedback(key: &SigningKey, i: usize) -> String {
    let model = ModelId {
        name: "moodwing-lstm".into(),
        version: "1".into(),
    };
    let text = format!("@airparadis flight {i} delayed again, third time this month");
    let prediction_id = uuid::Uuid::new_v4().to_string();
    let claims = Claims {
        prediction_id: &prediction_id,
        text: &text,
        label: Label::Positive,
        score: 0.71,
        model: &model,
        issued_at_ms: now_ms(),
    };
    let feedback = Feedback {
        id: uuid::Uuid::new_v4().to_string(),
        verdict: Verdict::Rejection,
        signed: Some(sign(key, &claims)),
        text,
        predicted_label: Label::Positive,
        score: 0.71,
        model,
        predicted_at: None,
        corrected_label: Some(Label::Negative),
        comment: None,
    };
    serde_json::to_string(&feedback).expect("serializable")
}

struct Run {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    failures: usize,
}

/// Send every request (a `None` body is a GET of health) from `concurrency` workers, as fast as
/// they go or, with `rate`, each at its due time.
async fn run(
    base: &str,
    bodies: Vec<Option<String>>,
    concurrency: usize,
    rate: Option<f64>,
) -> Run {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .expect("a client");
    let total = bodies.len();
    let queue = Arc::new(Mutex::new(
        bodies.into_iter().enumerate().rev().collect::<Vec<_>>(),
    ));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (client, queue, base) = (client.clone(), queue.clone(), base.to_owned());
        workers.spawn(async move {
            let (mut latencies, mut failures) = (Vec::new(), 0);
            loop {
                let Some((index, body)) = queue.lock().await.pop() else {
                    return (latencies, failures);
                };
                let sent = match rate {
                    Some(rate) => {
                        let due = started + Duration::from_secs_f64(index as f64 / rate);
                        tokio::time::sleep_until(due.into()).await;
                        due
                    }
                    None => Instant::now(),
                };
                let request = match body {
                    Some(body) => client
                        .post(format!("{base}/api/feedback"))
                        .header("content-type", "application/json")
                        .body(body),
                    None => client.get(format!("{base}/api/health")),
                };
                match request.send().await {
                    Ok(response) if response.status().is_success() => {
                        let _ = response.bytes().await;
                        latencies.push(sent.elapsed());
                    }
                    _ => failures += 1,
                }
            }
        });
    }
    let (mut latencies, mut failures) = (Vec::with_capacity(total), 0);
    while let Some(done) = workers.join_next().await {
        let (part, failed) = done.expect("a worker");
        latencies.extend(part);
        failures += failed;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
    Run {
        per_second: latencies.len() as f64 / elapsed,
        p50_ms: at(0.5),
        p99_ms: at(0.99),
        failures,
    }
}

/// The cloud-api on a free port over the given store setting (`MOODWING_FEEDBACK_DB` or
/// `MOODWING_DATABASE_URL`), with rate limits off.
async fn start(store: (&str, String)) -> (Server, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let server = Server(
        Command::new(env!("CARGO_BIN_EXE_moodwing-cloud-api"))
            .env_clear()
            .env("MOODWING_CLOUD_API_ADDR", format!("127.0.0.1:{port}"))
            .env(store.0, store.1)
            .env("MOODWING_SIGNING_KEY", KEY)
            .env("MOODWING_RATE_PER_CLIENT_PER_MINUTE", "0")
            .env("MOODWING_RATE_OVERALL_PER_SECOND", "0")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("the cloud-api starts"),
    );
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while reqwest::get(format!("{base}/api/health")).await.is_err() {
        assert!(Instant::now() < deadline, "the cloud-api did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (server, base)
}

/// The three loads on one store, printed.
async fn bench(store_name: &str, base: &str, total: usize, rate: f64) {
    let key = SigningKey::new(KEY).expect("a valid key");
    let signing = Instant::now();
    let bodies = |count: usize| -> Vec<Option<String>> {
        (0..count).map(|i| Some(signed_feedback(&key, i))).collect()
    };
    let saturating = bodies(total);
    let signing_us = signing.elapsed().as_secs_f64() * 1e6 / total as f64;
    let steady = bodies(total);

    let health = run(base, vec![None; total], 32, None).await;
    let feedback = run(base, saturating, 32, None).await;
    let paced = run(base, steady, 256, Some(rate)).await;
    println!("\n{store_name}: {total} requests a load, loopback");
    let steady_name = format!("POST /api/feedback at {rate:.0}/s");
    for (name, run) in [
        ("GET /api/health, 32 clients", &health),
        ("POST /api/feedback, 32 clients", &feedback),
        (steady_name.as_str(), &paced),
    ] {
        println!(
            "{name:32} {:8.0} /s   p50 {:6.2} ms   p99 {:6.2} ms   failed {}",
            run.per_second, run.p50_ms, run.p99_ms, run.failures
        );
    }
    println!(
        "feedback throughput = {:.2}x the health route's; signing one feedback {signing_us:.1} us",
        feedback.per_second / health.per_second
    );
    let stats: serde_json::Value = reqwest::get(format!("{base}/api/feedback/stats"))
        .await
        .expect("stats")
        .json()
        .await
        .expect("JSON");
    println!(
        "stored: {} of {}",
        stats["windows"][3]["rejections"],
        2 * total
    );
}

/// A new database on the server `MOODWING_TEST_POSTGRES` names (as `scripts/test.sh` starts one).
fn fresh_postgres(server: &str) -> String {
    let name = format!("moodwing_bench_{}", uuid::Uuid::new_v4().simple());
    let admin = format!("{server} dbname=postgres");
    let create = format!("CREATE DATABASE {name}");
    std::thread::spawn(move || {
        postgres::Client::connect(&admin, postgres::NoTls)
            .and_then(|mut client| client.batch_execute(&create))
            .expect("a bench database")
    })
    .join()
    .expect("created");
    format!("{server} dbname={name}")
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    // reqwest is built without a TLS provider of its own (plain HTTP here, but it asks for one).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let total = args.first().copied().unwrap_or(20_000);
    let rate = args.get(1).copied().unwrap_or(1_000) as f64;

    let dir = std::env::temp_dir().join(format!("moodwing-load-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let sqlite = dir.join("feedback.sqlite").display().to_string();
    let (server, base) = start(("MOODWING_FEEDBACK_DB", sqlite)).await;
    bench("SQLite (WAL, synchronous=FULL)", &base, total, rate).await;
    drop(server);
    let _ = std::fs::remove_dir_all(dir);

    match std::env::var("MOODWING_TEST_POSTGRES") {
        Ok(server) => {
            let (_server, base) = start(("MOODWING_DATABASE_URL", fresh_postgres(&server))).await;
            bench(
                "PostgreSQL (loopback, synchronous_commit=on)",
                &base,
                total,
                rate,
            )
            .await;
        }
        Err(_) => println!("\nPostgreSQL: not measured (set MOODWING_TEST_POSTGRES to a server)"),
    }
}
