#!/usr/bin/env bash
# Fuzz the inference core and the prediction API for a bounded time: scripts/fuzz.sh [seconds per target]
# Needs a nightly toolchain (cargo fuzz builds with sanitizers); installs cargo-fuzz into the tools cache.
# Seeds come from the golden tweets; findings land in edge-model/fuzz/artifacts/.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
seconds="${1:-60}"
CARGO_FUZZ_VERSION=0.13.1
if [[ ! -x "$TOOLS/bin/cargo-fuzz" ]]; then
  echo "installing cargo-fuzz $CARGO_FUZZ_VERSION into $TOOLS"
  cargo install --locked --root "$TOOLS" "cargo-fuzz@$CARGO_FUZZ_VERSION"
fi
export PATH="$TOOLS/bin:$PATH"
cd "$ROOT/edge-model/fuzz"

mkdir -p corpus/predict_text corpus/api_request
python3 - <<'PY'
import hashlib, json, pathlib
for line in pathlib.Path("../models/lstm/golden.jsonl").read_text().splitlines()[:50]:
    text = json.loads(line)["text"]
    name = hashlib.sha1(text.encode()).hexdigest()
    pathlib.Path("corpus/predict_text", name).write_text(text)
    body = json.dumps({"text": text}).encode()
    pathlib.Path("corpus/api_request", name).write_bytes(b"\x00\x00\x00" + body)
PY

for target in predict_text api_request; do
  echo "==> fuzzing $target for ${seconds}s"
  cargo +nightly fuzz run "$target" -- -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 2>&1 \
    | grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|stat::new_units_added)|Done|ERROR|panicked|SUMMARY|Test unit written" || true
  status=${PIPESTATUS[0]}
  if [[ $status -ne 0 ]]; then
    echo "!! $target found a failure; see edge-model/fuzz/artifacts/$target/"
    exit "$status"
  fi
done
