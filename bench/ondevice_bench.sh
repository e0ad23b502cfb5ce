#!/usr/bin/env bash
# The on-device mode against the edge service and native onnxruntime, in one run (issue 15):
# download size (gzip -9 and brotli 11 of what the page and its model fetch), first prediction after
# page load (cold 3 times in a running browser and 3 times at its launch, warm 5 times, each run
# listed), p50/p99 per tweet on the device, from the edge service (the component under `wasmtime
# serve`, a fresh instance per request as Spin runs it) and natively (onnxruntime, one thread), and
# the on-device model's WebAssembly memory. Usage: bench/ondevice_bench.sh [TWEETS]
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
cd "$ROOT"
count="${1:-200}"
stage "tools" rust_tools
stage "web tools" web_tools
stage "build components" ./scripts/build-components.sh lstm
stage "build web-ui" build_web_ui
work="$(mktemp -d)"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
head -n "$count" edge-model/models/lstm/golden.jsonl | python3 -c \
  'import json, sys; [print(json.dumps(json.loads(line)["text"])) for line in sys.stdin]' > "$work/tweets.jsonl"
edge_port="$(free_port)"
site_port="$(free_port)"
"$WASMTIME" serve --addr "127.0.0.1:$edge_port" --max-instance-reuse-count 1 -S cli=y -S config \
  target/components/local/sentiment-lstm.wasm >/dev/null 2>&1 & pids+=($!)
cp -r web-ui/dist "$work/site"
printf '{"predict_api": "http://127.0.0.1:%s/api", "feedback_api": "http://127.0.0.1:9/api"}\n' "$edge_port" \
  > "$work/site/config.json"
python3 scripts/serve_spa.py "$work/site" "$site_port" & pids+=($!)
wait_for_urls "http://127.0.0.1:$edge_port/api/health" "http://127.0.0.1:$site_port/"

node bench/ondevice_bench.mjs "http://127.0.0.1:$site_port" "http://127.0.0.1:$edge_port/api" "$work/tweets.jsonl" \
  > "$work/browser.json"
"$VENV/bin/python" - "$work/tweets.jsonl" "$work/browser.json" "$work/site" <<'PY'
import gzip, json, subprocess, sys, time
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from moodwing_training.onnx_export import OnnxClassifier

tweets = [json.loads(line) for line in open(sys.argv[1])]
browser = json.loads(Path(sys.argv[2]).read_text())
site = Path(sys.argv[3])
bundle = Path("edge-model/models/lstm")
native = OnnxClassifier(bundle / "model.onnx", Tokenizer.from_file(str(bundle / "tokenizer.json")), exact=False)
native.predict(tweets[:20])  # warm up
timings = []
for text in tweets:
    started = time.perf_counter()
    native.predict([text])
    timings.append((time.perf_counter() - started) * 1000)
native_p50, native_p99 = np.percentile(timings, 50), np.percentile(timings, 99)

def gz(paths):
    return sum(len(gzip.compress(p.read_bytes(), 9)) for p in paths) / 1e6

BROTLI = ("const zlib = require('zlib'), fs = require('fs'); let n = 0; for (const p of process.argv.slice(1)) "
          "n += zlib.brotliCompressSync(fs.readFileSync(p), {params: {[zlib.constants.BROTLI_PARAM_QUALITY]: 11}})"
          ".length; console.log(n)")

def br(paths):  # what a host that compresses with brotli sends
    return int(subprocess.check_output(["node", "-e", BROTLI, *map(str, paths)])) / 1e6

page = [p for p in site.iterdir() if p.is_file() and p.name not in ("sw.js", "staticwebapp.config.json")]
runtime = list((site / "ondevice" / "pkg").glob("*.js")) + list((site / "ondevice" / "pkg").glob("*.wasm"))
runtime.append(site / "ondevice" / "worker.js")
model = [site / "ondevice/model/lstm" / name for name in ("model.json", "model.onnx", "tokenizer.json")]
device, edge = browser["on_device_ms"], browser["edge_service_ms"]
print(f"{browser['tweets']} golden tweets, headless Chromium, 2-core machine")
print(f"download (gzip -9): page {gz(page):.2f} MB, on-device runtime {gz(runtime):.2f} MB, "
      f"model {gz(model):.2f} MB; total {gz(page + runtime + model):.2f} MB (goal <= 4 MB)")
print(f"download (brotli 11): page {br(page):.2f} MB, on-device runtime {br(runtime):.2f} MB, "
      f"model {br(model):.2f} MB; total {br(page + runtime + model):.2f} MB")
print(f"worker load, warm cache: {browser['worker_load_warm_ms']}")
first = browser["first_prediction_ms"]
def runs(values):
    return f"median {np.median(values):.0f} ms (runs: {', '.join(f'{v:.0f}' for v in values)})"

print(f"first prediction after page load, cold: {runs(first['cold'])} (goal <= 500)")
print(f"  the same, the browser just launched: {runs(first['cold_at_launch'])}")
print(f"first prediction after page load, warm: {runs(first['warm'])} (goal <= 150)")
print("per tweet          p50 ms   p99 ms   p50 / native")
for name, p50, p99 in (("native onnxruntime", native_p50, native_p99), ("on this device", device["p50"], device["p99"]),
                       ("edge service", edge["p50"], edge["p99"])):
    print(f"{name:18} {p50:7.2f}  {p99:7.2f}   {p50 / native_p50:6.2f}x")
print(f"on-device WebAssembly memory: {browser['wasm_memory_mb']:.1f} MB")
PY
