#!/usr/bin/env bash
# Build the Spin components (wasm32-wasip2, +simd128, release: LTO, one codegen unit, stripped)
# into target/components/sentiment-<model>.wasm. Usage: build-components.sh [lstm] [bert]
set -euo pipefail
cd "$(dirname "$0")/.."
models=("$@")
[[ ${#models[@]} -gt 0 ]] || models=(lstm bert)
rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
mkdir -p target/components
for model in "${models[@]}"; do
  echo "building sentiment-$model.wasm"
  cargo build --release --locked --target wasm32-wasip2 -p moodwing-edge-component \
    --no-default-features --features "$model"
  cp target/wasm32-wasip2/release/moodwing_edge_component.wasm "target/components/sentiment-$model.wasm"
  ls -l "target/components/sentiment-$model.wasm"
done
