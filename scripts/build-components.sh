#!/usr/bin/env bash
# Build the Spin components (wasm32-wasip2, +simd128, release: LTO, one codegen unit, stripped)
# into target/components/sentiment-<model>.wasm. Usage: build-components.sh [lstm] [bert]
#
# Both are pre-initialized with wizer: Spin gives every request a fresh instance, and each one
# starts with the model already built. The bundle's model.onnx and tokenizer.json are read from
# the bundle's folder at that step and freed, so the component holds the built model, not the files.
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
  # MiniLM spends its time in tract's kernels; the BiLSTM's few milliseconds matter less than size.
  profile=release
  [[ $model == bert ]] && profile=release-fast-tract
  cargo build --profile "$profile" --locked --target wasm32-wasip2 -p moodwing-edge-component \
    --no-default-features --features "$model"
  built="target/wasm32-wasip2/$profile/moodwing_edge_component.wasm"
  # --keep-init-func: wasmtime 48's wizer otherwise leaves a dangling export (wasmtime#13168).
  "$WASMTIME" wizer -S cli=y -S http --keep-init-func=true --dir "edge-model/models/$model::/bundle" \
    "$built" -o "$out"
  echo "$hash" > "$out.inputs"
  ls -l "$out"
done
