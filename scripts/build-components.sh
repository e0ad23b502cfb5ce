#!/usr/bin/env bash
# Build the Spin components (wasm32-wasip2, +simd128, release: LTO, one codegen unit, stripped).
# Usage: build-components.sh [lstm] [bert]. For each model:
#   target/components/sentiment-<model>.wasm        the component deployed to Spin (spin.toml)
#   target/components/local/sentiment-<model>.wasm  the same, runnable under `wasmtime serve`
#
# Both are pre-initialized with wizer: Spin gives every request a fresh instance, and each one
# starts with the model already built. The bundle's model.onnx and tokenizer.json are read from
# the bundle's folder at that step and freed, so the component holds the built model, not the files.
#
# The component reads its signing key through wasi:config/store at the version wasmtime 48 provides
# (wizer must link it); `wac plug` then adds edge-model/config-bridge: `to-spin` gives the deployed
# component the version Spin provides, and `from-spin` turns it back for `wasmtime serve`, so local
# runs and tests run the deployed component itself.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
models=("$@")
[[ ${#models[@]} -gt 0 ]] || models=(lstm bert)
rust_tools >/dev/null
mkdir -p target/components/local
# Both components come from one crate with different features, so cargo rebuilds it at each
# switch; a stamp of the inputs skips a component that is already built from the same sources.
inputs_hash() {
  { find edge-model protocol signature -path edge-model/fuzz -prune -o -type f -print | sort | xargs sha256sum
    sha256sum Cargo.toml Cargo.lock .cargo/config.toml scripts/build-components.sh
    echo "$WASMTIME_VERSION $WAC_VERSION $1"; } | sha256sum | cut -d' ' -f1
}
bridge() { # target/components/config-<direction>.wasm
  local direction=$1 features=()
  [[ $direction == from-spin ]] && features=(--features from-spin)
  cargo build --release --locked --target wasm32-wasip2 -p moodwing-config-bridge "${features[@]}"
  cp target/wasm32-wasip2/release/moodwing_config_bridge.wasm "target/components/config-$direction.wasm"
}
bridges_built=
for model in "${models[@]}"; do
  out="target/components/sentiment-$model.wasm"
  local_out="target/components/local/sentiment-$model.wasm"
  hash="$(inputs_hash "$model")"
  if [[ -f "$out" && -f "$local_out" && "$(cat "$out.inputs" 2>/dev/null)" == "$hash" ]]; then
    echo "sentiment-$model.wasm is up to date"
    continue
  fi
  if [[ -z $bridges_built ]]; then
    bridge to-spin && bridge from-spin && bridges_built=1
  fi
  echo "building sentiment-$model.wasm"
  # MiniLM spends its time in tract's kernels; the BiLSTM's few milliseconds matter less than size.
  profile=release
  [[ $model == bert ]] && profile=release-fast-tract
  cargo build --profile "$profile" --locked --target wasm32-wasip2 -p moodwing-edge-component \
    --no-default-features --features "$model"
  built="target/wasm32-wasip2/$profile/moodwing_edge_component.wasm"
  preinitialized="target/components/sentiment-$model.preinit.wasm"
  # --keep-init-func: wasmtime 48's wizer otherwise leaves a dangling export (wasmtime#13168).
  "$WASMTIME" wizer -S cli=y -S http -S config --keep-init-func=true \
    --dir "edge-model/models/$model::/bundle" "$built" -o "$preinitialized"
  "$WAC" plug "$preinitialized" --plug target/components/config-to-spin.wasm -o "$out"
  "$WAC" plug "$out" --plug target/components/config-from-spin.wasm -o "$local_out"
  rm "$preinitialized"
  echo "$hash" > "$out.inputs"
  ls -l "$out" "$local_out"
done
