// The on-device model, off the page's thread: the edge core compiled to WebAssembly
// (edge-model/browser) scores tweets here, so typing never waits for it and no tweet leaves the
// device. Messages: {type: "load"} -> {type: "ready", ms, cached (the model files came from the
// cache), memory_bytes (the WebAssembly memory now)} | {type: "failed", error};
// {type: "predict", id, text} -> {type: "prediction", id, prediction} | {type: "prediction", id, error}.
//
// The bundle's model.json is asked of the network first (a redeployed model is seen at once) and
// kept for offline use; model.onnx and tokenizer.json are kept under their sha256, so a cached
// file is never stale. The core checks both against model.json's hashes before anything is cached.
import init, { OnDevice } from "./pkg/moodwing_edge_browser.js";

const CACHE = "moodwing-on-device-v1";
const BUNDLE = new URL("./model/lstm/", import.meta.url);
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

async function load() {
  const started = performance.now();
  const cache = await caches.open(CACHE);
  const wasm = await init();
  const card = await networkFirst(cache, new URL("model.json", BUNDLE));
  const cardBytes = await bytes(card);
  const hashes = JSON.parse(new TextDecoder().decode(cardBytes)).sha256;
  const files = await Promise.all(
    ["model.onnx", "tokenizer.json"].map((name) => {
      const url = new URL(name, BUNDLE);
      url.searchParams.set("sha256", hashes[name]);
      return cacheFirst(cache, url).then((file) => ({ ...file, url }));
    }),
  );
  const model = new OnDevice(cardBytes, await bytes(files[0]), await bytes(files[1]));
  for (const file of files) if (!file.cached) await cache.put(file.url, file.response);
  return { model, wasm, ms: performance.now() - started, cached: files.every((f) => f.cached) };
}

self.onmessage = async ({ data }) => {
  if (data.type === "load") {
    ready ??= load();
    try {
      const { ms, cached, wasm } = await ready;
      self.postMessage({ type: "ready", ms, cached, memory_bytes: wasm.memory.buffer.byteLength });
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
