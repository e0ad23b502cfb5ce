// The on-device model, off the page's thread: the edge core compiled to WebAssembly
// (edge-model/browser) scores tweets here, so typing never waits for it and no tweet leaves the
// device. Messages: {type: "load"} -> {type: "ready", ms, cached (the model files came from the
// cache), phases (wasm_ms: runtime compiled, files_ms: bundle read and hashed, build_ms: model built), memory_bytes
// (the WebAssembly memory now)} | {type: "failed", error};
// {type: "predict", id, text} -> {type: "prediction", id, prediction} | {type: "prediction", id, error}.
//
// The bundle's model.json is asked of the network first (a redeployed model is seen at once) and
// kept for offline use; model.onnx and tokenizer.json are kept under their sha256, so a cached
// file is never stale. The core checks both against model.json's hashes (computed here with
// WebCrypto over the bytes it is given) before anything is cached.
// The runtime's wasm is kept the same way, under the sha256 the build writes into this file
// (scripts/lib.sh, build_on_device), once it compiled and matched it: a page load then reads it
// from Cache Storage instead of asking the network. Files of other versions are dropped.
import init, { OnDevice } from "./pkg/moodwing_edge_browser.js";

const CACHE = "moodwing-on-device-v1";
const BUNDLE = new URL("./model/lstm/", import.meta.url);
const RUNTIME = new URL("./pkg/moodwing_edge_browser_bg.wasm", import.meta.url);
RUNTIME.searchParams.set("sha256", "@RUNTIME_SHA256@");
let ready = null;

async function networkFirst(cache, url) {
  try {
    const response = await fetch(url, { cache: "no-store" });
    if (response.ok) {
      await cache.put(url, response.clone());
      return { response, cached: false };
    }
  } catch {
    // offline: the copy kept at the last visit, below
  }
  const response = await cache.match(url);
  if (!response) throw new Error(`${url.pathname}: unreachable and not cached`);
  return { response, cached: true };
}

async function cacheFirst(cache, url) {
  const kept = await cache.match(url);
  if (kept) return { response: kept, cached: true };
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url.pathname}: HTTP ${response.status}`);
  return { response, cached: false };
}

const bytes = async ({ response }) => new Uint8Array(await response.clone().arrayBuffer());

// WebCrypto, native code: the same hash in the core's WebAssembly took ~60 ms of a load.
async function sha256(data) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

// The runtime, compiled as it streams in.
async function runtime(cache) {
  const file = await cacheFirst(cache, RUNTIME);
  return { wasm: await init({ module_or_path: file.response.clone() }), file };
}

// What this load downloaded, kept once the model is answering: the runtime only if it matches the
// sha256 the build wrote in, the model files (already checked by the core) as they are.
async function keep(cache, runtimeFile, files) {
  if (!runtimeFile.cached) {
    const want = RUNTIME.searchParams.get("sha256");
    const got = await sha256(await bytes(runtimeFile));
    if (got !== want) throw new Error(`${RUNTIME.pathname}: sha256 ${got}, expected ${want}`);
    await cache.put(RUNTIME, runtimeFile.response);
  }
  for (const file of files) if (!file.cached) await cache.put(file.url, file.response);
  await prune(cache, new Set([RUNTIME.href, ...files.map((file) => file.url.href)]));
}

// Drop what an older version kept: every file kept under a sha256 that is no longer current.
async function prune(cache, current) {
  for (const request of await cache.keys()) {
    const url = new URL(request.url);
    if (url.searchParams.has("sha256") && !current.has(url.href)) await cache.delete(request);
  }
}

// The runtime's compilation and the bundle's reads overlap; the phases are reported for the benchmark.
async function load() {
  const started = performance.now();
  const since = () => Math.round(performance.now() - started);
  const cache = await caches.open(CACHE);
  const compiled = runtime(cache).then((loaded) => ({ ...loaded, ms: since() }));
  const card = await networkFirst(cache, new URL("model.json", BUNDLE));
  const cardBytes = await bytes(card);
  const hashes = JSON.parse(new TextDecoder().decode(cardBytes)).sha256;
  const files = await Promise.all(
    ["model.onnx", "tokenizer.json"].map(async (name) => {
      const url = new URL(name, BUNDLE);
      url.searchParams.set("sha256", hashes[name]);
      const file = await cacheFirst(cache, url);
      const data = await bytes(file);
      return { ...file, url, name, bytes: data, sha256: await sha256(data) };
    }),
  );
  const filesMs = since();
  const { wasm, file: runtimeFile, ms: wasmMs } = await compiled;
  const building = performance.now();
  const digests = JSON.stringify(Object.fromEntries(files.map((file) => [file.name, file.sha256])));
  const model = new OnDevice(cardBytes, files[0].bytes, files[1].bytes, digests);
  const phases = { wasm_ms: wasmMs, files_ms: filesMs, build_ms: Math.round(performance.now() - building) };
  // After the "ready" answer (a task later): one prediction, so that the person's first one does not
  // pay for the code's first run (~40 ms), then the cache (writing 15 MB would only delay "ready").
  setTimeout(() => model.predict("warming up"));
  setTimeout(() => keep(cache, runtimeFile, files).catch((error) => console.warn(`not kept for offline use: ${error}`)));
  return { model, wasm, phases, ms: performance.now() - started, cached: files.every((f) => f.cached) };
}

self.onmessage = async ({ data }) => {
  if (data.type === "load") {
    ready ??= load();
    try {
      const { ms, cached, wasm, phases } = await ready;
      self.postMessage({ type: "ready", ms, cached, phases, memory_bytes: wasm.memory.buffer.byteLength });
    } catch (error) {
      ready = null;
      self.postMessage({ type: "failed", error: String(error) });
    }
  } else if (data.type === "predict") {
    try {
      const { model } = await (ready ??= load());
      const started = performance.now();
      const prediction = JSON.parse(model.predict(data.text));
      prediction.latency_ms = performance.now() - started;
      self.postMessage({ type: "prediction", id: data.id, prediction });
    } catch (error) {
      self.postMessage({ type: "prediction", id: data.id, error: String(error.message ?? error) });
    }
  }
};
