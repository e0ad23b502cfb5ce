#!/usr/bin/env bash
# The radar's scoring throughput from a file: 50,000 real tweets (the served bundle's golden tweets,
# repeated over a day) through `moodwing radar` (tract at full speed: profile release-fast-tract), on every core and on one (the reference
# in the same run). Usage: bench/radar_bench.sh [TWEETS]
set -euo pipefail
cd "$(dirname "$0")/.."
count="${1:-50000}"
cargo build --profile release-fast-tract --locked -p moodwing-radar
file="$(mktemp --suffix=.ndjson)"
trap 'rm -f "$file"' EXIT
python3 - "$count" "$file" <<'PY'
import json, sys
count, path = int(sys.argv[1]), sys.argv[2]
golden = [json.loads(line)["text"] for line in open("edge-model/models/lstm/golden.jsonl")]
start, day = 1_795_651_200_000, 86_400_000
with open(path, "w") as out:
    for i in range(count):
        out.write(json.dumps({"id": i, "time": start + i * day // count, "text": golden[i % len(golden)]}) + "\n")
PY
echo "$count tweets, $(nproc) cores"
for threads in "$(nproc)" 1; do
  target/release-fast-tract/moodwing radar --threads "$threads" "$file" >/dev/null
done
