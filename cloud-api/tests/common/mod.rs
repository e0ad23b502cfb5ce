//! What the integration tests run against: the real `moodwing-cloud-api` binary, and a local
//! Application Insights ingestion endpoint over TLS that checks every envelope it receives.

#![allow(dead_code)] // each test file uses its own part

use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::{Value, json};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

pub const IKEY: &str = "00000000-0000-4000-8000-000000000001";

/// The key the edge components sign with in tests, so the browser journey verifies end to end.
pub use moodwing_edge_host_tests::TEST_SIGNING_KEY;

pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("moodwing-{name}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An HTTP client for the tests (plain HTTP to the API).
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[derive(Default)]
struct Received {
    envelopes: Vec<Value>,
    problems: Vec<String>,
    /// Answer 502, as a gateway in front of an unavailable ingestion service would.
    failing: AtomicBool,
    /// Refuse (400) any request with an envelope containing this text, as the ingestion service
    /// refuses an item it will never accept.
    refused_text: Option<String>,
}

/// The ingestion endpoint: `POST /v2/track`, gzip'd JSON envelopes, over TLS with a self-signed
/// certificate the API is told to trust. It can go down and come back on the same port.
pub struct Receiver {
    pub addr: SocketAddr,
    pub ca_pem: PathBuf,
    acceptor: TlsAcceptor,
    received: Arc<Mutex<Received>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl Receiver {
    pub async fn start(dir: &Path) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let certified =
            rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
                .unwrap();
        let ca_pem = dir.join("ingestion-ca.pem");
        std::fs::write(&ca_pem, certified.cert.pem()).unwrap();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            certified.signing_key.serialize_der(),
        ));
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(certified.cert.der().to_vec())],
                key,
            )
            .unwrap();
        // Bound at once: a port found free and bound later can be taken in between (by the
        // ephemeral port of any client connection on the machine).
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut receiver = Self {
            addr: listener.local_addr().unwrap(),
            ca_pem,
            acceptor: TlsAcceptor::from(Arc::new(config)),
            received: Arc::default(),
            server: None,
        };
        receiver.serve(listener);
        receiver
    }

    pub fn connection_string(&self) -> String {
        format!(
            "InstrumentationKey={IKEY};IngestionEndpoint=https://{}/",
            self.addr
        )
    }

    /// Accept connections again, on the same port.
    pub async fn up(&mut self) {
        let listener = tokio::net::TcpListener::bind(self.addr).await.unwrap();
        self.serve(listener);
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let (acceptor, received) = (self.acceptor.clone(), self.received.clone());
        self.server = Some(tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (acceptor, received) = (acceptor.clone(), received.clone());
                connections.spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(move |request| {
                        let received = received.clone();
                        async move { Ok::<_, hyper::Error>(track(request, &received).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        }));
    }

    /// Refuse connections, and drop the open ones (their tasks die with the server's).
    pub async fn down(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
            let _ = server.await;
        }
    }

    /// Answer every request with a 502 (the exporter gives up at once) until told otherwise.
    pub fn set_failing(&self, failing: bool) {
        self.received
            .lock()
            .unwrap()
            .failing
            .store(failing, Ordering::SeqCst);
    }

    /// Refuse every request carrying `text` from now on.
    pub fn refuse_envelopes_containing(&self, text: &str) {
        self.received.lock().unwrap().refused_text = Some(text.to_owned());
    }

    /// The `customEvents` received, as their `baseData`.
    pub fn events(&self) -> Vec<Value> {
        let received = self.received.lock().unwrap();
        assert!(
            received.problems.is_empty(),
            "bad envelopes: {:?}",
            received.problems
        );
        received
            .envelopes
            .iter()
            .filter(|e| e["name"] == "Microsoft.ApplicationInsights.Event")
            .map(|e| e["data"]["baseData"].clone())
            .collect()
    }

    pub fn envelopes(&self) -> Vec<Value> {
        self.received.lock().unwrap().envelopes.clone()
    }

    /// Wait until at least `count` events arrived.
    pub async fn wait_for_events(&self, count: usize, within: Duration) -> Vec<Value> {
        let deadline = Instant::now() + within;
        loop {
            let events = self.events();
            if events.len() >= count {
                return events;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {count} events after {within:?}",
                events.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

async fn track(request: Request<Incoming>, received: &Mutex<Received>) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_owned();
    let gzip = request
        .headers()
        .get("content-encoding")
        .is_some_and(|v| v == "gzip");
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    if received.lock().unwrap().failing.load(Ordering::SeqCst) {
        return Response::builder()
            .status(502)
            .body(Full::new(Bytes::new()))
            .unwrap();
    }
    let mut problems = Vec::new();
    if path != "/v2/track" {
        problems.push(format!("posted to {path}"));
    }
    let mut text = String::new();
    let decoded = if gzip {
        flate2::read::GzDecoder::new(&body[..])
            .read_to_string(&mut text)
            .map(|_| ())
    } else {
        problems.push("not gzip'd".into());
        Ok(())
    };
    let refused = received.lock().unwrap().refused_text.clone();
    if refused.is_some_and(|refused| text.contains(&refused)) {
        let body = json!({"itemsReceived": 1, "itemsAccepted": 0,
            "errors": [{"index": 0, "statusCode": 400, "message": "refused by the test"}]});
        return Response::builder()
            .status(400)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .unwrap();
    }
    let envelopes: Vec<Value> = match decoded
        .map_err(|e| e.to_string())
        .and_then(|()| serde_json::from_str::<Vec<Value>>(&text).map_err(|e| e.to_string()))
    {
        Ok(envelopes) => envelopes,
        Err(error) => {
            problems.push(format!("body: {error}"));
            Vec::new()
        }
    };
    for envelope in &envelopes {
        problems.extend(check_envelope(envelope));
    }
    let count = envelopes.len();
    let status = if problems.is_empty() { 200 } else { 400 };
    let mut received = received.lock().unwrap();
    received.problems.extend(problems);
    if status == 200 {
        received.envelopes.extend(envelopes);
    }
    let body = json!({"itemsReceived": count, "itemsAccepted": if status == 200 { count } else { 0 }, "errors": []});
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

/// What the ingestion service requires of an envelope (the Breeze schema, v2).
fn check_envelope(envelope: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let mut require = |ok: bool, what: &str| {
        if !ok {
            problems.push(format!("{what}: {envelope}"));
        }
    };
    require(envelope["iKey"] == IKEY, "iKey");
    require(
        envelope["time"]
            .as_str()
            .is_some_and(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok()),
        "time",
    );
    require(
        envelope["tags"]["ai.cloud.role"] == "moodwing-cloud-api",
        "tags.ai.cloud.role",
    );
    let data = &envelope["data"];
    let expected = match envelope["name"].as_str() {
        Some("Microsoft.ApplicationInsights.Event") => "EventData",
        Some("Microsoft.ApplicationInsights.Request") => "RequestData",
        _ => "a known envelope name",
    };
    require(data["baseType"] == expected, "data.baseType");
    require(data["baseData"]["ver"] == 2, "data.baseData.ver");
    require(data["baseData"]["name"].is_string(), "data.baseData.name");
    problems
}

/// The cloud API binary, started on a free port over the given store.
pub struct Api {
    child: Child,
    pub base: String,
    pub db: Db,
}

/// Where an [`Api`] keeps its feedback.
#[derive(Debug, Clone)]
pub enum Db {
    Sqlite(PathBuf),
    /// A connection string (`MOODWING_DATABASE_URL`).
    Postgres(String),
}

/// A new, empty database on the test server `MOODWING_TEST_POSTGRES` (scripts/test.sh starts one),
/// or `None` without one, unless `MOODWING_TEST_POSTGRES_REQUIRED` says it must be there.
pub fn fresh_postgres() -> Option<Db> {
    let Ok(server) = std::env::var("MOODWING_TEST_POSTGRES") else {
        assert!(
            std::env::var_os("MOODWING_TEST_POSTGRES_REQUIRED").is_none(),
            "MOODWING_TEST_POSTGRES is not set: the PostgreSQL store cannot be tested"
        );
        eprintln!("MOODWING_TEST_POSTGRES not set: this PostgreSQL test does nothing here");
        return None;
    };
    let name = format!("moodwing_test_{}", uuid::Uuid::new_v4().simple());
    let admin_url = format!("{server} dbname=postgres");
    let create = format!("CREATE DATABASE {name}");
    // The blocking client runs its own runtime: off the test's.
    std::thread::spawn(move || {
        let mut admin = postgres::Client::connect(&admin_url, postgres::NoTls)
            .expect("the test PostgreSQL server answers");
        admin.batch_execute(&create).expect("a test database");
    })
    .join()
    .unwrap();
    Some(Db::Postgres(format!("{server} dbname={name}")))
}

/// Rate limits no test but the rate-limit tests comes near.
const GENEROUS_LIMITS: [(&str, &str); 4] = [
    ("MOODWING_RATE_PER_CLIENT_PER_MINUTE", "600000"),
    ("MOODWING_RATE_CLIENT_BURST", "10000"),
    ("MOODWING_RATE_OVERALL_PER_SECOND", "10000"),
    ("MOODWING_RATE_OVERALL_BURST", "10000"),
];

impl Api {
    pub async fn start(db: &Path, receiver: Option<&Receiver>) -> Self {
        Self::start_for_origin(db, receiver, "http://127.0.0.1:8080").await
    }

    /// Started with CORS allowing the page served from `origin`.
    pub async fn start_for_origin(db: &Path, receiver: Option<&Receiver>, origin: &str) -> Self {
        Self::start_with(db, receiver, origin, &[]).await
    }

    /// Started with these settings (`MOODWING_*`) on top of the tests' defaults: the signing key
    /// [`TEST_SIGNING_KEY`] and generous rate limits.
    pub async fn start_with(
        db: &Path,
        receiver: Option<&Receiver>,
        origin: &str,
        settings: &[(&str, &str)],
    ) -> Self {
        Self::start_on(Db::Sqlite(db.to_owned()), receiver, origin, settings).await
    }

    /// Started over either backend.
    pub async fn start_on(
        db: Db,
        receiver: Option<&Receiver>,
        origin: &str,
        settings: &[(&str, &str)],
    ) -> Self {
        // The binary binds the port it is given; another process may take it between our check
        // and its bind (any client connection's ephemeral port): it then exits, and we try another.
        for _ in 0..5 {
            let port = free_port();
            let mut command = Command::new(env!("CARGO_BIN_EXE_moodwing-cloud-api"));
            command
                .env_clear()
                .env("MOODWING_CLOUD_API_ADDR", format!("127.0.0.1:{port}"))
                .env("MOODWING_EXPORT_INTERVAL_MS", "100")
                .env("MOODWING_ALLOWED_ORIGINS", origin)
                .env("RUST_LOG", "warn")
                .env("MOODWING_SIGNING_KEY", TEST_SIGNING_KEY)
                .envs(GENEROUS_LIMITS)
                .envs(settings.iter().copied())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit());
            match &db {
                Db::Sqlite(path) => command.env("MOODWING_FEEDBACK_DB", path),
                Db::Postgres(url) => command.env("MOODWING_DATABASE_URL", url),
            };
            if let Some(receiver) = receiver {
                command
                    .env(
                        "APPLICATIONINSIGHTS_CONNECTION_STRING",
                        receiver.connection_string(),
                    )
                    .env("MOODWING_INGESTION_CA", &receiver.ca_pem);
            }
            let mut api = Self {
                child: command.spawn().unwrap(),
                base: format!("http://127.0.0.1:{port}"),
                db: db.clone(),
            };
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if api.child.try_wait().unwrap().is_some() {
                    break; // it could not start (its error is above): another port
                }
                let healthy = client()
                    .get(format!("{}/api/health", api.base))
                    .send()
                    .await
                    .is_ok();
                // Answered, and by our process: it is still running.
                if healthy && api.child.try_wait().unwrap().is_none() {
                    return api;
                }
                assert!(Instant::now() < deadline, "the API did not start");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        panic!("the API did not start on any of 5 ports")
    }

    pub async fn post(&self, body: &Value) -> (u16, Value) {
        let response = client()
            .post(format!("{}/api/feedback", self.base))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> Value {
        client()
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// The stored rows, read straight from the database: `(id, verdict, exported)`.
    pub fn stored(&self) -> Vec<(String, String, bool)> {
        stored(&self.db)
    }
}

/// The rows of a store, read straight from the database: `(id, verdict, exported)`.
pub fn stored(db: &Db) -> Vec<(String, String, bool)> {
    const SQL: &str = "SELECT id, verdict, exported_at_ms IS NOT NULL FROM feedback ORDER BY row";
    match db {
        Db::Sqlite(path) => {
            let connection = rusqlite::Connection::open(path).unwrap();
            let mut statement = connection.prepare(SQL).unwrap();
            statement
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        }
        Db::Postgres(url) => {
            // The blocking client runs its own runtime: off the test's.
            let url = url.clone();
            std::thread::spawn(move || {
                let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
                client
                    .query(SQL, &[])
                    .unwrap()
                    .iter()
                    .map(|row| (row.get(0), row.get(1), row.get(2)))
                    .collect()
            })
            .join()
            .unwrap()
        }
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `feedback_id` of each event, in arrival order.
pub fn feedback_ids(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|event| {
            event["properties"]["feedback_id"]
                .as_str()
                .expect("every event names its feedback")
                .to_owned()
        })
        .collect()
}

pub fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since.as_millis()).unwrap()
}

/// A rejection of a prediction the edge service signed just now with [`TEST_SIGNING_KEY`].
pub fn rejection(text: &str) -> Value {
    let mut feedback = json!({
        "id": uuid::Uuid::new_v4(),
        "verdict": "rejection",
        "text": text,
        "predicted_label": "positive",
        "score": 0.81,
        "model": {"name": "moodwing-lstm", "version": "1"},
        "predicted_at": "2026-11-25T09:00:00Z",
        "corrected_label": "negative",
        "comment": "sarcasm"
    });
    sign(&mut feedback, TEST_SIGNING_KEY, now_ms());
    feedback
}

/// (Re-)sign `feedback` as the edge service would have signed its prediction at `issued_at_ms`,
/// with a new prediction id.
pub fn sign(feedback: &mut Value, key: &str, issued_at_ms: i64) {
    let parsed: moodwing_protocol::Feedback =
        serde_json::from_value(feedback.clone()).expect("a feedback");
    let prediction_id = uuid::Uuid::new_v4().to_string();
    let claims = moodwing_signature::Claims {
        prediction_id: &prediction_id,
        text: &parsed.text,
        label: parsed.predicted_label,
        score: parsed.score,
        model: &parsed.model,
        issued_at_ms,
    };
    let key = moodwing_signature::SigningKey::new(key).expect("a valid key");
    feedback["signed"] = json!(moodwing_signature::sign(&key, &claims));
}

/// Four clients post rejections as fast as they can until `stop_at`, each to the `urls` in turn;
/// the ids acknowledged with a 2xx.
pub fn post_rejections_until(
    urls: Vec<String>,
    stop_at: Instant,
) -> tokio::task::JoinHandle<std::collections::HashSet<String>> {
    tokio::spawn(async move {
        let mut clients = JoinSet::new();
        for worker in 0..4 {
            let urls = urls.clone();
            clients.spawn(async move {
                let (client, mut acknowledged) = (client(), Vec::new());
                for i in 0.. {
                    if Instant::now() > stop_at {
                        break;
                    }
                    let feedback = rejection(&format!("worker {worker} complaint {i}"));
                    let sent = client
                        .post(&urls[i % urls.len()])
                        .header("content-type", "application/json")
                        .body(feedback.to_string())
                        .send()
                        .await;
                    if sent.is_ok_and(|r| r.status().is_success()) {
                        acknowledged.push(feedback["id"].as_str().unwrap().to_owned());
                    }
                }
                acknowledged
            });
        }
        let mut acknowledged = std::collections::HashSet::new();
        while let Some(ids) = clients.join_next().await {
            acknowledged.extend(ids.unwrap());
        }
        acknowledged
    })
}

/// Wait until every stored row is marked exported.
pub async fn wait_until_exported(api: &Api, within: Duration) {
    let deadline = Instant::now() + within;
    while !api.stored().iter().all(|row| row.2) {
        assert!(Instant::now() < deadline, "the outbox did not drain");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A radar report on `source`: `windows` 15-minute windows ending with the last complete one, steady
/// counts (100-odd tweets, 20-odd negatives), and the last one flagged with 80 negatives when
/// `flag_last`.
pub fn radar_report(source: &str, windows: i64, flag_last: bool) -> Value {
    let quarter = 15 * 60_000;
    let first = (now_ms() / quarter - windows) * quarter;
    let windows: Vec<Value> = (0..windows)
        .map(|i| {
            let (tweets, negatives) = (100 + i * 37 % 23, 20 + i * 13 % 7);
            let mut window = json!({"start_ms": first + i * quarter, "tweets": tweets, "negatives": negatives});
            if flag_last && i == windows - 1 {
                window["negatives"] = json!(80);
                window["suspicion"] = json!({
                    "z_volume": 12.4, "z_share": 9.1,
                    "rule": "z >= 4 over the 8 windows before (at least 3), >= 10 negatives",
                    "most_negative": [
                        {"id": "t1", "text": "@AirParadis stuck on the tarmac for 3 hours, no water, no news", "score": 0.01},
                        {"id": "t2", "text": "@AirParadis flight cancelled and the app still says on time", "score": 0.02},
                    ],
                });
            }
            window
        })
        .collect();
    json!({"source": source, "window_secs": 900, "windows": windows})
}

/// `request` sent with `Authorization: Bearer <token>` when there is a token: the operator routes.
pub async fn send_as_operator(
    request: reqwest::RequestBuilder,
    token: Option<&str>,
) -> reqwest::Response {
    let request = match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    };
    request.send().await.unwrap()
}

/// `POST /api/radar/reports` with `token` (if any): the status and the JSON answer.
pub async fn post_radar_report(api: &Api, report: &Value, token: Option<&str>) -> (u16, Value) {
    let request = client()
        .post(format!("{}/api/radar/reports", api.base))
        .header("content-type", "application/json")
        .body(report.to_string());
    let response = send_as_operator(request, token).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}
