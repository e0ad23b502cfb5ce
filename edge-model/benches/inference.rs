//! Native inference figures for each committed bundle, printed as one JSON line per bundle:
//! model load (bundle check + tokenizer + tract optimisation) and per-tweet predict latency over
//! the bundle's golden tweets. `bench/edge_bench.py` runs this and sets the figures against
//! onnxruntime and the WebAssembly host. Run alone: `cargo bench -p moodwing-edge-model`.

use std::path::Path;
use std::time::Instant;

use moodwing_edge_model::{Bundle, Classifier};

const ROUNDS: usize = 5;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    for name in ["lstm", "bert"] {
        let dir = models.join(name);
        let started = Instant::now();
        let bundle = Bundle::from_dir(&dir).expect("bundle");
        let classifier = Classifier::new(&bundle).expect("classifier");
        let load_ms = started.elapsed().as_secs_f64() * 1e3;

        let texts: Vec<String> = std::fs::read_to_string(dir.join("golden.jsonl"))
            .expect("golden.jsonl")
            .lines()
            .map(|line| {
                serde_json::from_str::<serde_json::Value>(line).expect("json")["text"]
                    .as_str()
                    .expect("text")
                    .to_owned()
            })
            .collect();
        let mut timings = Vec::with_capacity(texts.len() * ROUNDS);
        for _ in 0..ROUNDS {
            for text in &texts {
                let started = Instant::now();
                std::hint::black_box(classifier.predict(text).expect("prediction"));
                timings.push(started.elapsed().as_secs_f64() * 1e3);
            }
        }
        timings.sort_by(f64::total_cmp);
        println!(
            "{}",
            serde_json::json!({
                "bundle": name, "load_ms": load_ms, "requests": timings.len(),
                "p50_ms": percentile(&timings, 0.5), "p99_ms": percentile(&timings, 0.99),
            })
        );
    }
}
