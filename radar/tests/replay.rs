//! The radar binary on a replay of real tweets (the served bundle's golden tweets, scored by the
//! model for real) at a steady pace, with and without a planted burst of negative tweets.

use std::path::Path;
use std::process::Command;

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
    let file = std::env::temp_dir().join(format!(
        "moodwing-radar-{name}-{}.ndjson",
        std::process::id()
    ));
    std::fs::write(&file, tweets).expect("the replay file");
    let output = Command::new(env!("CARGO_BIN_EXE_moodwing"))
        .args(["radar", file.to_str().expect("a UTF-8 path")])
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
