//! Load on the feedback route over loopback: signed feedbacks a second and their latency, beside
//! the same client on `GET /api/health` (no store, no signature) as the reference in the same run.
//!
//! Two loads: as fast as 32 concurrent clients go (saturation), and a steady 1,000 a second (the
//! goal: p99 under 50 ms), whose latencies count from when each request was due, so a stall
//! delays the requests behind it in the figures too.
//!
//! `cargo bench -p moodwing-cloud-api --bench feedback_load [-- TOTAL RATE]` (defaults 20000 and
//! 1000). Starts the release binary on a fresh SQLite store, then on a fresh PostgreSQL database
//! when `MOODWING_TEST_POSTGRES` names a server, with rate limits off.

// The integration tests' harness: the binary started on a free port, signed feedback, fresh
// PostgreSQL databases.
#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Api, Db, fresh_postgres, rejection, temp_dir};
use tokio::sync::Mutex;

/// Rate limits off: the load is the point.
const NO_LIMITS: [(&str, &str); 2] = [
    ("MOODWING_RATE_PER_CLIENT_PER_MINUTE", "0"),
    ("MOODWING_RATE_OVERALL_PER_SECOND", "0"),
];

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

/// The three loads on one store, printed.
async fn bench(store_name: &str, db: Db, total: usize, rate: f64) {
    let api = Api::start_on(db, None, "http://127.0.0.1:8080", &NO_LIMITS).await;
    let base = api.base.as_str();
    let signing = Instant::now();
    let bodies = |count: usize| -> Vec<Option<String>> {
        (0..count)
            .map(|i| Some(rejection(&format!("@airparadis flight {i} delayed again")).to_string()))
            .collect()
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
        "feedback throughput = {:.2}x the health route's; building and signing one feedback {signing_us:.1} us",
        feedback.per_second / health.per_second
    );
    let stats = api.get("/api/feedback/stats").await;
    println!(
        "stored: {} of {}",
        stats["windows"][3]["rejections"],
        2 * total
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let total = args.first().copied().unwrap_or(20_000);
    let rate = args.get(1).copied().unwrap_or(1_000) as f64;

    let dir = temp_dir("load");
    let sqlite = Db::Sqlite(dir.join("feedback.sqlite"));
    bench("SQLite (WAL, synchronous=FULL)", sqlite, total, rate).await;
    let _ = std::fs::remove_dir_all(dir);
    // A PostgreSQL server when `MOODWING_TEST_POSTGRES` names one (as `scripts/test.sh` starts it).
    if let Some(postgres) = fresh_postgres() {
        bench(
            "PostgreSQL (loopback, synchronous_commit=on)",
            postgres,
            total,
            rate,
        )
        .await;
    }
}
