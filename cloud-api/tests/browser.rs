//! End to end, in a real headless Chromium: the built SPA, the real custom-model component under
//! `wasmtime serve`, the real cloud-api binary and a TLS ingestion receiver that checks envelopes.
//!
//! Needs what `scripts/test.sh` builds first: `web-ui/dist` (`build_web_ui`), `target/components`, wasmtime,
//! `node_modules` (playwright-core) and /usr/bin/chromium; hence behind the
//! `browser-e2e` feature, so a plain `cargo test` does not depend on them.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Api, Receiver, client, free_port, post_radar_report, radar_report, temp_dir};
use moodwing_edge_host_tests::{Served, workspace_root};
use serde_json::{Value, json};

/// `scripts/serve_spa.py` (a static server that answers `/monitor` with the page, as the hosts do)
/// over a copy of the built SPA, with a `config.json` for this run.
struct StaticSite {
    child: std::process::Child,
    url: String,
}

impl StaticSite {
    fn start(port: u16, dist: &Path, dir: &Path, config: &Value) -> Self {
        assert!(
            dist.join("index.html").is_file(),
            "{} is missing: build the SPA with `build_web_ui` of scripts/lib.sh (scripts/test.sh does)",
            dist.display()
        );
        let site = dir.join("site");
        copy_dir(dist, &site);
        std::fs::write(site.join("config.json"), config.to_string()).unwrap();
        let child = Command::new("python3")
            .arg(workspace_root().join("scripts/serve_spa.py"))
            .arg(&site)
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 starts");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the static server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, url }
    }
}

/// `node web-ui/e2e/<script> <args>` (a journey in headless Chromium, its log on stderr): the
/// JSON line it prints, once it succeeded.
async fn node_script(script: &str, args: &[&str]) -> Value {
    let path = workspace_root().join("web-ui/e2e").join(script);
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(path)
            .args(args)
            .stderr(Stdio::inherit())
            .output()
            .expect("node starts")
    })
    .await
    .unwrap();
    assert!(output.status.success(), "{script} failed (see above)");
    serde_json::from_slice(&output.stdout).expect("the script's JSON line")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, target).unwrap();
        }
    }
}

impl Drop for StaticSite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const OPERATOR_TOKEN: &str = "the operator token of the browser test, 32+ chars";

fn screenshots_dir() -> PathBuf {
    std::env::var_os("MOODWING_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/screenshots/spa"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rejection_typed_in_the_browser_reaches_the_store_and_app_insights() {
    let root = workspace_root();
    let dir = temp_dir("browser");
    let receiver = Receiver::start(&dir).await;
    let component = Served::start("sentiment-lstm", "/api/health");
    // The API allows the page's origin (CORS), so the page's port is chosen first.
    let site_port = free_port();
    let origin = format!("http://127.0.0.1:{site_port}");
    let settings = [("MOODWING_OPERATOR_TOKEN", OPERATOR_TOKEN)];
    let api = Api::start_with(
        &dir.join("feedback.sqlite"),
        Some(&receiver),
        &origin,
        &settings,
    )
    .await;
    let feedback_api = format!("{}/api", api.base);
    let config =
        json!({"predict_api": format!("{}/api", component.base_url), "feedback_api": feedback_api});
    let site = StaticSite::start(site_port, &root.join("web-ui/dist"), &dir, &config);

    let shots = screenshots_dir();
    let (journey_url, site_url, monitor_shots) =
        (site.url.clone(), site.url.clone(), shots.clone());
    let shots_arg = shots.display().to_string();
    let page = node_script("spa.mjs", &[&journey_url, &feedback_api, &shots_arg]).await;

    // What the page showed is what the component answers for the same tweet.
    let rejected_text = page["rejected"]["text"].as_str().unwrap();
    let predicted = component
        .post_json("/api/predict", &json!({"text": rejected_text}))
        .json();
    assert_eq!(page["rejected"]["label"], predicted["label"]);
    let model = &predicted["model"];
    assert_eq!(
        page["rejected"]["model"],
        format!(
            "{} v{}",
            model["name"].as_str().unwrap(),
            model["version"].as_str().unwrap()
        )
    );
    assert!(
        page["rejected"]["recorded"]
            .as_str()
            .unwrap()
            .starts_with("Recorded")
    );
    assert!(
        page["validated"]["failed"]
            .as_str()
            .unwrap()
            .contains("cannot be reached")
    );
    // The first tweet was scored on the device (no request to the edge service), and the edge
    // service was asked once, to sign it, when the person rejected it; the second in the edge mode.
    assert_eq!(page["rejected"]["where"], "computed on this device");
    assert_eq!(page["rejected"]["edge_predictions"], 0);
    assert_eq!(page["rejected"]["edge_predictions_after_feedback"], 1);
    assert_eq!(page["validated"]["where"], "computed by the edge service");
    assert_eq!(page["history"].as_array().unwrap().len(), 2);

    // Both are in SQLite, once each (the retry reused the validation's id)...
    let stored = api.stored();
    let verdicts: Vec<&str> = stored
        .iter()
        .map(|(_, verdict, _)| verdict.as_str())
        .collect();
    assert_eq!(verdicts, ["rejection", "validation"]);
    let common::Db::Sqlite(path) = &api.db else {
        panic!("the browser journey runs on SQLite")
    };
    let connection = rusqlite::Connection::open(path).unwrap();
    let (text, label, score, comment, prediction_id): (String, String, f64, String, String) =
        connection
            .query_row(
                "SELECT text, predicted_label, score, comment, prediction_id FROM feedback \
                 WHERE verdict = 'rejection'",
                [],
                |row| {
                    Ok((
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get(4)?,
                    ))
                },
            )
            .unwrap();
    // The page sent the component's signature back and the cloud-api verified it (it refuses
    // unsigned feedback): the prediction the person rejected is the one the component made.
    assert!(
        uuid::Uuid::parse_str(&prediction_id).is_ok(),
        "{prediction_id}"
    );
    assert_eq!(text, rejected_text);
    assert_eq!(label, predicted["label"].as_str().unwrap());
    assert!((score - predicted["score"].as_f64().unwrap()).abs() < 1e-9);
    assert_eq!(comment, "Lost luggage is never good news.");

    // ... and both reached the ingestion receiver as checked App Insights envelopes.
    let events = receiver.wait_for_events(2, Duration::from_secs(30)).await;
    let names: Vec<&str> = events.iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["prediction_rejected", "prediction_validated"]);
    assert_eq!(events[0]["properties"]["text"], rejected_text);
    assert_eq!(
        events[0]["properties"]["predicted_label"],
        predicted["label"]
    );
    assert_eq!(events[0]["properties"]["model_version"], model["version"]);

    // The monitor page, as the operator opens it: the token, then the charts, the rejection typed
    // above and the radar's suspicion (reported over HTTP as `moodwing radar --report-to` does).
    let report = radar_report("air-paradis-mentions", 24, true);
    assert_eq!(
        post_radar_report(&api, &report, Some(OPERATOR_TOKEN))
            .await
            .0,
        201
    );
    let monitor_page = format!("{site_url}/monitor");
    let shots_arg = monitor_shots.display().to_string();
    let monitor = node_script("monitor.mjs", &[&monitor_page, OPERATOR_TOKEN, &shots_arg]).await;
    assert_eq!(monitor["rejections"], "1", "{monitor}");
    assert_eq!(
        monitor["series"],
        json!([format!(
            "{} v{}",
            model["name"].as_str().unwrap(),
            model["version"].as_str().unwrap()
        )])
    );
    assert!(
        monitor["recent"].as_str().unwrap().contains(rejected_text),
        "{monitor}"
    );
    assert!(
        monitor["recent"]
            .as_str()
            .unwrap()
            .contains("Lost luggage is never good news."),
        "{monitor}"
    );
    assert_eq!(monitor["radar_windows"], 24, "{monitor}");
    assert_eq!(monitor["flagged_windows"], 1, "{monitor}");
    assert!(
        monitor["suspicions"]
            .as_str()
            .unwrap()
            .contains("stuck on the tarmac"),
        "{monitor}"
    );
    assert!(
        monitor["backlog"]
            .as_str()
            .unwrap()
            .starts_with("0 waiting"),
        "{monitor}"
    );
}

/// The built SPA in a fresh temp dir, its predictions going to the BiLSTM component (feedback to
/// nowhere): the temp dir, the component, the site.
fn site_with_edge_service(name: &str) -> (PathBuf, Served, StaticSite) {
    let dir = temp_dir(name);
    let component = Served::start("sentiment-lstm", "/api/health");
    let config = json!({"predict_api": format!("{}/api", component.base_url), "feedback_api": "http://127.0.0.1:9/api"});
    let site = StaticSite::start(
        free_port(),
        &workspace_root().join("web-ui/dist"),
        &dir,
        &config,
    );
    (dir, component, site)
}

/// The on-device mode's core: the page's worker loads the BiLSTM bundle into the edge core
/// compiled for the browser and scores the golden tweets; each score must be the component's
/// within 1e-4, and a second load must come from Cache Storage.
#[tokio::test(flavor = "multi_thread")]
async fn the_on_device_model_in_chromium_scores_as_the_component_does() {
    let root = workspace_root();
    let (dir, component, site) = site_with_edge_service("on-device");
    let golden: Vec<String> =
        std::fs::read_to_string(root.join("edge-model/models/lstm/golden.jsonl"))
            .unwrap()
            .lines()
            .map(|line| {
                serde_json::from_str::<Value>(line).unwrap()["text"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
    let tweets = dir.join("tweets.jsonl");
    let lines: Vec<String> = golden
        .iter()
        .map(|t| Value::from(t.as_str()).to_string())
        .collect();
    std::fs::write(&tweets, lines.join("\n")).unwrap();

    let tweets_arg = tweets.display().to_string();
    let page = node_script("ondevice.mjs", &[&site.url, &tweets_arg]).await;

    let mut served = Vec::new();
    for chunk in golden.chunks(32) {
        let answer = component
            .post_json("/api/predict/batch", &json!({"texts": chunk}))
            .json();
        served.extend(
            answer["predictions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["score"].as_f64().unwrap()),
        );
    }
    let on_device: Vec<f64> = page["scores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_f64().unwrap())
        .collect();
    assert_eq!(on_device.len(), served.len());
    let worst = on_device
        .iter()
        .zip(&served)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    eprintln!(
        "on-device: {} golden tweets, max |browser - component| = {worst:.2e}; load cold {:.0} ms, warm (restored) {:.0} ms",
        served.len(),
        page["load_ms"]["cold"].as_f64().unwrap(),
        page["load_ms"]["warm"].as_f64().unwrap()
    );
    assert!(worst <= 1e-4, "scores differ by up to {worst}");
    let model = component
        .post_json("/api/predict", &json!({"text": golden[0]}))
        .json()["model"]
        .clone();
    assert_eq!(page["model"], model, "the same bundle, name and version");
    assert_eq!(
        page["cached"],
        json!({"cold": false, "warm": true, "cut": true})
    );
    // The second load gets the runtime compiled by the page, restores the model built by the first
    // (a copy of its memory kept in the origin's private file system) and scores every tweet
    // exactly as the built one did; a kept copy cut short is not used: the third load builds the
    // model again from the cached bundle. What building freed is zeroed and left out of the copy.
    let kept = &page["kept_instance"];
    assert!(
        kept["name"]
            .as_str()
            .is_some_and(|name| name.starts_with("moodwing-on-device-instance-")),
        "{kept}"
    );
    let (kept_bytes, memory_bytes) = (
        kept["bytes"].as_f64().unwrap(),
        page["memory_bytes"].as_f64().unwrap(),
    );
    assert!(
        kept_bytes < 0.8 * memory_bytes,
        "kept {kept_bytes} bytes of a {memory_bytes}-byte memory"
    );
    assert_eq!(
        page["restored"],
        json!({"cold": false, "warm": true, "cut": false})
    );
    assert_eq!(
        page["compiled_in"],
        json!({"cold": "worker", "warm": "page", "cut": "page"})
    );
    assert_eq!(page["warm_scores"], page["scores"]);
    assert_eq!(page["cut_scores"][0], page["scores"][0]);
    // A redeployed model.json: the load answers at once with the model kept (no round trip before
    // it), then the worker sees the new model.json, loads it and keeps it for the next load. The
    // new model is built in a fresh instance: its copy holds nothing of the tweet scored before.
    let redeployed = &page["redeployed"];
    assert_eq!(redeployed["kept_holds_tweet"], json!(false), "{redeployed}");
    let (old, new) = (&model["version"], &redeployed["version"]);
    assert_eq!(
        (&redeployed["restored"], &redeployed["first"]),
        (&json!(true), old),
        "{redeployed}"
    );
    assert_eq!(&redeployed["later"], new, "{redeployed}");
    assert_eq!(
        redeployed["next_load"],
        json!({"restored": true, "version": new})
    );
    // Then a model.json whose model.onnx does not match the file: the model loaded goes on answering.
    assert_eq!(
        redeployed["after_a_broken_one"],
        json!({"version": new, "score": page["scores"][0]}),
        "{redeployed}"
    );
    for load in ["cold", "warm"] {
        let error = page["too_long"][load].as_str().unwrap_or_default();
        assert!(error.contains("1001"), "{load}: {}", page["too_long"]);
    }
}

/// A deployment without the on-device files (or a browser whose worker cannot start): the page
/// says the device is unavailable, offers the edge service and predicts with it.
#[tokio::test(flavor = "multi_thread")]
async fn without_its_on_device_files_the_page_predicts_with_the_edge_service() {
    let (dir, _component, site) = site_with_edge_service("no-device");
    std::fs::remove_dir_all(dir.join("site/ondevice")).unwrap();
    let page = node_script("fallback.mjs", &[&site.url]).await;
    assert_eq!(
        page["device_status"], " (unavailable: its worker did not start)",
        "{page}"
    );
    assert_eq!(
        (&page["edge_checked"], &page["device_disabled"]),
        (&json!(true), &json!(true))
    );
    assert_eq!(page["where"], "computed by the edge service");
    assert_eq!(page["label"], "negative");
}

/// The worker hashes the bundle itself (WebCrypto) and the core checks those digests: a model file
/// that does not match `model.json` is refused in the browser, never kept, and the page predicts
/// with the edge service.
#[tokio::test(flavor = "multi_thread")]
async fn a_model_file_that_does_not_match_model_json_is_refused_on_the_device() {
    let (dir, _component, site) = site_with_edge_service("tampered-device");
    let onnx = dir.join("site/ondevice/model/lstm/model.onnx");
    let mut bytes = std::fs::read(&onnx).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&onnx, bytes).unwrap();
    let page = node_script("fallback.mjs", &[&site.url]).await;
    let status = page["device_status"].as_str().unwrap_or_default();
    assert!(
        status.contains("bundle file model.onnx: sha256 differs from model.json"),
        "{page}"
    );
    assert_eq!(page["where"], "computed by the edge service", "{page}");
    let cached = page["cached"].as_array().unwrap();
    assert!(
        cached
            .iter()
            .all(|path| !path.as_str().unwrap().ends_with("model.onnx")),
        "{page}"
    );
    assert_eq!(page["kept_instances"], json!([]), "{page}");
}

/// After one visit the page opens and predicts with its site gone: the service worker (`sw.js`)
/// serves the shell, the on-device worker its model from Cache Storage. One Chromium profile is kept
/// across the two runs, as a person's browser keeps it.
#[tokio::test(flavor = "multi_thread")]
async fn after_one_visit_the_page_predicts_with_the_network_cut() {
    let root = workspace_root();
    let dir = temp_dir("offline");
    // No API at all: the prediction must come from the device.
    let config =
        json!({"predict_api": "http://127.0.0.1:9/api", "feedback_api": "http://127.0.0.1:9/api"});
    let site = StaticSite::start(free_port(), &root.join("web-ui/dist"), &dir, &config);
    let (url, profile) = (
        site.url.clone(),
        dir.join("chromium-profile").display().to_string(),
    );
    let visit = node_script("offline.mjs", &["visit", &url, &profile]).await;
    assert_eq!(
        visit["controlled"], true,
        "the service worker controls the page"
    );
    assert_eq!(
        (&visit["stale_before"], &visit["stale_after_reload"]),
        (&json!(true), &json!(false)),
        "an older deployment's files (the shell's, the on-device runtime's and the model it built) are pruned at the next load"
    );

    drop(site); // the site's server is gone: nothing answers at its address
    assert!(
        client().get(&url).send().await.is_err(),
        "{url} still answers"
    );
    let offline = node_script("offline.mjs", &["offline", &url, &profile]).await;
    assert_eq!(offline["where"], "computed on this device", "{offline}");
    assert_eq!(offline["label"], "positive", "{offline}");
}
