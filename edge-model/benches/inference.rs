//! Native inference figures for each committed bundle, printed as one JSON line per bundle:
//! model load (bundle check + tokenizer + tract optimisation), the heap it peaks at and keeps, and
//! per-tweet predict latency over the bundle's golden tweets. The peak matters for the components:
//! pre-initialization snapshots linear memory, and wasmtime's wizer copies out at most 128 MiB. `bench/edge_bench.py` runs this and sets the figures against
//! onnxruntime and the WebAssembly host. Run alone: `cargo bench -p moodwing-edge-model`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use moodwing_edge_model::{Bundle, Classifier};

const ROUNDS: usize = 5;

/// Counts the bytes allocated now and at most since the last reset.
struct CountingAllocator;

static HEAP_NOW: AtomicUsize = AtomicUsize::new(0);
static HEAP_PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to `System`; only counters are added.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = HEAP_NOW.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        HEAP_PEAK.fetch_max(now, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        HEAP_NOW.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn megabytes(bytes: usize) -> f64 {
    bytes as f64 / 1e6
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    for name in ["lstm", "bert"] {
        let dir = models.join(name);
        let heap_before = HEAP_NOW.load(Ordering::Relaxed);
        HEAP_PEAK.store(heap_before, Ordering::Relaxed);
        let started = Instant::now();
        let bundle = Bundle::from_dir(&dir).expect("bundle");
        let classifier = Classifier::new(bundle).expect("classifier");
        let load_ms = started.elapsed().as_secs_f64() * 1e3;
        let build_peak_mb = megabytes(HEAP_PEAK.load(Ordering::Relaxed) - heap_before);
        let built_mb = megabytes(HEAP_NOW.load(Ordering::Relaxed) - heap_before);

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
                "bundle": name, "load_ms": load_ms, "build_peak_mb": build_peak_mb,
                "built_mb": built_mb, "requests": timings.len(),
                "p50_ms": percentile(&timings, 0.5), "p99_ms": percentile(&timings, 0.99),
            })
        );
    }
}
