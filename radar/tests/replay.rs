//! The radar binary on a replay of real tweets (the served bundle's golden tweets, scored by the
//! model for real) at a steady pace, with and without a planted burst of negative tweets.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

use moodwing_protocol::RadarReport;

use serde_json::{Value, json};

const START_MS: i64 = 1_795_672_800_000; // 2026-11-26T06:00:00Z
const WINDOW_MS: i64 = 15 * 60_000;
const BURST_WINDOW: i64 = 9;

fn golden() -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../edge-model/models/lstm/golden.jsonl");
    std::fs::read_to_string(path)
        .expect("golden.jsonl")
        .lines()
        .map(|line| serde_json::from_str(line).expect("a golden line"))
        .collect()
}

/// Three hours of tweets, 24 a window in the golden file's own mix; with `burst`, 60 of its
/// negative tweets more in window 9.
fn replay(burst: bool) -> String {
    let golden = golden();
    let negatives: Vec<&Value> = golden
        .iter()
        .filter(|g| g["predicted"] == "negative")
        .collect();
    let mut lines = Vec::new();
    let mut next = golden.iter().cycle();
    for window in 0..12 {
        let planted = if burst && window == BURST_WINDOW {
            60
        } else {
            0
        };
        let ordinary = (0..24).map(|_| next.next().expect("cycles"));
        let burst_tweets = negatives.iter().copied().cycle().take(planted);
        let tweets: Vec<&Value> = ordinary.chain(burst_tweets).collect();
        let spacing = WINDOW_MS / tweets.len() as i64;
        for (i, tweet) in tweets.iter().enumerate() {
            let line = json!({
                "id": format!("w{window}-{i}"),
                "time": START_MS + window * WINDOW_MS + i as i64 * spacing,
                "text": tweet["text"],
            });
            lines.push(line.to_string());
        }
    }
    lines.join("\n") + "\n"
}

/// The radar's report on `tweets`: the window lines, each followed by its flag if any.
fn radar(tweets: &str, name: &str) -> String {
    radar_with(tweets, name, &[], &[])
}

fn radar_with(tweets: &str, name: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let file = std::env::temp_dir().join(format!(
        "moodwing-radar-{name}-{}.ndjson",
        std::process::id()
    ));
    std::fs::write(&file, tweets).expect("the replay file");
    let output = Command::new(env!("CARGO_BIN_EXE_moodwing"))
        .args(["radar", file.to_str().expect("a UTF-8 path")])
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("the radar runs");
    let _ = std::fs::remove_file(&file);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("UTF-8")
}

/// The start times of the flagged windows.
fn flagged(report: &str) -> Vec<String> {
    let lines: Vec<&str> = report.lines().collect();
    lines
        .windows(2)
        .filter(|pair| pair[1].trim_start().starts_with("BAD BUZZ SUSPECTED"))
        .map(|pair| pair[0][..16].to_owned())
        .collect()
}

#[test]
fn the_planted_burst_is_flagged_and_no_window_before_it() {
    let report = radar(&replay(true), "burst");
    println!("{report}");
    assert_eq!(flagged(&report), ["2026-11-26 08:15"], "{report}");
    let burst_at = report.find("BAD BUZZ SUSPECTED").expect("a flag");
    assert!(
        report[burst_at..]
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("    0.")),
        "its most negative tweets follow"
    );
}

#[test]
fn the_same_stream_without_the_burst_flags_nothing() {
    let report = radar(&replay(false), "calm");
    assert_eq!(flagged(&report), Vec::<String>::new(), "{report}");
    assert_eq!(report.lines().count(), 12, "one line a window: {report}");
}

/// One HTTP request, answered 201 with `answer`: what the radar sent, as (request head, body).
fn receive_one(
    listener: TcpListener,
    answer: &'static str,
) -> std::thread::JoinHandle<(String, String)> {
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().expect("the radar connects");
        let mut reader = BufReader::new(stream.try_clone().expect("the stream"));
        let mut head = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("a header line");
            if line == "\r\n" || line.is_empty() {
                break;
            }
            head.push_str(&line);
        }
        let length: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse().expect("a length"))
            })
            .expect("a content-length");
        let mut body = vec![0; length];
        reader.read_exact(&mut body).expect("the body");
        let mut stream = stream;
        write!(
            stream,
            "HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
            answer.len()
        )
        .expect("the answer");
        (head, String::from_utf8(body).expect("UTF-8"))
    })
}

#[test]
fn the_windows_and_the_suspicion_are_reported_with_the_operator_token() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
    let api = format!("http://{}/api", listener.local_addr().expect("its address"));
    let received = receive_one(listener, r#"{"windows": 12, "new_suspicions": 1}"#);
    radar_with(
        &replay(true),
        "report",
        &["--report-to", &api, "--source", "replay"],
        &[(
            "MOODWING_OPERATOR_TOKEN",
            "the operator token of this test, 32+ chars",
        )],
    );
    let (head, body) = received.join().expect("the receiver");
    assert!(
        head.starts_with("POST /api/radar/reports HTTP/1.1"),
        "{head}"
    );
    assert!(
        head.lines().any(|l| l.eq_ignore_ascii_case(
            "authorization: Bearer the operator token of this test, 32+ chars"
        )),
        "{head}"
    );
    let report: RadarReport = serde_json::from_str(&body).expect("a radar report");
    assert_eq!(
        (
            report.source.as_str(),
            report.window_secs,
            report.windows.len()
        ),
        ("replay", 900, 12)
    );
    let flagged: Vec<usize> = report
        .windows
        .iter()
        .enumerate()
        .filter(|(_, w)| w.suspicion.is_some())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(flagged, [BURST_WINDOW as usize]);
    let suspicion = report.windows[BURST_WINDOW as usize]
        .suspicion
        .as_ref()
        .expect("flagged");
    assert_eq!(suspicion.most_negative.len(), 3);
    assert!(suspicion.most_negative.iter().all(|t| t.score < 0.5));
    assert!(suspicion.rule.starts_with("z >= 4"), "{}", suspicion.rule);
}

#[test]
fn reporting_without_the_operator_token_fails_before_scoring() {
    let output = Command::new(env!("CARGO_BIN_EXE_moodwing"))
        .args(["radar", "--report-to", "http://127.0.0.1:9/api", "-"])
        .env_remove("MOODWING_OPERATOR_TOKEN")
        .output()
        .expect("the radar runs");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("MOODWING_OPERATOR_TOKEN"));
}
