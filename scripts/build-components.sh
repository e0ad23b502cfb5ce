#!/usr/bin/env bash
# Build the Spin components (wasm32-wasip2, +simd128, release: LTO, one codegen unit, stripped)
# into target/components/sentiment-<model>.wasm. Usage: build-components.sh [lstm] [bert]
#
# The custom model is pre-initialized with wizer, so every fresh instance starts with it already
# built. MiniLM is not: its built model (fp32 weights beside the int8 embeddings) would make the
# component 95 MB, and both would overflow Fermyon Cloud's 100 MB per-app quota; its instances
# build it on their first request instead (see README's benchmark).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
models=("$@")
[[ ${#models[@]} -gt 0 ]] || models=(lstm bert)
rust_tools >/dev/null
mkdir -p target/components
# Both components come from one crate with different features, so cargo rebuilds it at each
# switch; a stamp of the inputs skips a component that is already built from the same sources.
inputs_hash() {
  { find edge-model -path edge-model/fuzz -prune -o -type f -print | sort | xargs sha256sum
    sha256sum Cargo.toml Cargo.lock .cargo/config.toml scripts/build-components.sh
    echo "$WASMTIME_VERSION $1"; } | sha256sum | cut -d' ' -f1
}
for model in "${models[@]}"; do
  out="target/components/sentiment-$model.wasm"
  hash="$(inputs_hash "$model")"
  if [[ -f "$out" && "$(cat "$out.inputs" 2>/dev/null)" == "$hash" ]]; then
    echo "sentiment-$model.wasm is up to date"
    continue
  fi
  echo "building sentiment-$model.wasm"
  cargo build --release --locked --target wasm32-wasip2 -p moodwing-edge-component \
    --no-default-features --features "$model"
  built=target/wasm32-wasip2/release/moodwing_edge_component.wasm
  if [[ $model == lstm ]]; then
    # --keep-init-func: wasmtime 48's wizer otherwise leaves a dangling export (wasmtime#13168).
    "$WASMTIME" wizer -S cli=y -S http --keep-init-func=true "$built" -o "target/components/sentiment-$model.wasm"
  else
    cp "$built" "target/components/sentiment-$model.wasm"
  fi
  echo "$hash" > "$out.inputs"
  ls -l "$out"
done
