// The on-device model, off the page's thread: the edge core compiled to WebAssembly
// (edge-model/browser) scores tweets here, so typing never waits for it and no tweet leaves the
// device. Messages: {type: "load"} -> {type: "ready", ms, cached (the model came from the cache),
// restored (the built model was restored, not built), phases (wasm_ms: runtime compiled, files_ms:
// bundle or kept instance read and hashed, build_ms or restore_ms), memory_bytes (the WebAssembly
// memory now)} | {type: "failed", error};
// {type: "predict", id, text} -> {type: "prediction", id, prediction} | {type: "prediction", id, error}.
//
// The bundle's model.json is asked of the network first (a redeployed model is seen at once) and
// kept for offline use; model.onnx and tokenizer.json are kept under their sha256, so a cached
// file is never stale. The core checks both against model.json's hashes (computed here with
// WebCrypto over the bytes it is given) before anything is cached.
// The runtime's wasm is kept the same way, under the sha256 the build writes into this file
// (scripts/lib.sh, build_on_device), once it compiled and matched it: a page load then reads it
// from Cache Storage instead of asking the network. Files of other versions are dropped.
// The built model is kept too: a copy of the runtime's memory taken as soon as `load` and one
// prediction of its own returned (before any tweet, so it holds none), under the runtime's and
// model.json's sha256. The next page load writes it into the fresh instance instead of building
// (~180 ms, most of a warm load), once its own sha256 matched.
import init, { load as build, predict } from "./pkg/moodwing_edge_browser.js";

const CACHE = "moodwing-on-device-v1";
const BUNDLE = new URL("./model/lstm/", import.meta.url);
const RUNTIME = new URL("./pkg/moodwing_edge_browser_bg.wasm", import.meta.url);
RUNTIME.searchParams.set("sha256", "@RUNTIME_SHA256@");
let ready = null;

async function networkFirst(cache, url) {
  try {
    const response = await fetch(url, { cache: "no-store" });
    if (response.ok) return { url, response, cached: false };
  } catch {
    // offline: the copy kept at the last visit, below
  }
  const response = await cache.match(url);
  if (!response) throw new Error(`${url.pathname}: unreachable and not cached`);
  return { url, response, cached: true };
}

async function cacheFirst(cache, url) {
  const kept = await cache.match(url);
  if (kept) return { url, response: kept, cached: true };
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url.pathname}: HTTP ${response.status}`);
  return { url, response, cached: false };
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

// The bundle's files are kept under the sha256 model.json gives them.
function fileUrl(name, hashes) {
  const url = new URL(name, BUNDLE);
  url.searchParams.set("sha256", hashes[name]);
  return url;
}

// The bundle's files, from the cache or the network, with the sha256 of their bytes.
function bundle(cache, names, hashes) {
  return Promise.all(names.map(async (name) => {
    const file = await cacheFirst(cache, fileUrl(name, hashes));
    const data = await bytes(file);
    return { ...file, name, bytes: data, sha256: await sha256(data) };
  }));
}

// The built model of this runtime and this model.json.
function instanceUrl(cardSha256) {
  const url = new URL("instance", BUNDLE);
  url.searchParams.set("of", `${RUNTIME.searchParams.get("sha256")}.${cardSha256}`);
  return url;
}

// A kept instance whose bytes still have the sha256 taken when it was kept; otherwise none.
async function keptInstance(cache, url) {
  const response = await cache.match(url);
  if (!response) return null;
  const memory = new Uint8Array(await response.arrayBuffer());
  const tableLength = Number(response.headers.get("x-table-length"));
  if ((await sha256(memory)) === response.headers.get("x-sha256") && Number.isInteger(tableLength)) {
    return { url: url.href, memory, tableLength };
  }
  console.warn(`${url.pathname}: sha256 differs from the one kept with it; building the model again`);
  await cache.delete(url);
  return null;
}

// The runtime's state after `build`: its memory (the model, the allocator, the Rust statics) and
// the length of its table of JavaScript values (its slots are handed out from a list in the
// memory). The stack pointer, its only other mutable state, is back at its start between calls.
function instanceOf(wasm) {
  return { memory: new Uint8Array(wasm.memory.buffer).slice(), tableLength: wasm.__wbindgen_externrefs.length };
}

// A fresh instance of the same runtime becomes the one that was built; false if it cannot.
function restore(wasm, { memory, tableLength }) {
  const pages = (memory.byteLength - wasm.memory.buffer.byteLength) / 65536;
  const table = wasm.__wbindgen_externrefs;
  if (!Number.isInteger(pages) || pages < 0 || !table || table.length > tableLength) return false;
  wasm.memory.grow(pages);
  new Uint8Array(wasm.memory.buffer).set(memory);
  table.grow(tableLength - table.length);
  return true;
}

// What this load downloaded or built, kept once the model is answering: the runtime only if it
// matches the sha256 the build wrote in, the bundle's files (already checked by the core) as they
// are, the built instance with its own sha256.
async function keep(cache, { runtimeFile, card, files, instance }) {
  if (!runtimeFile.cached) {
    const want = RUNTIME.searchParams.get("sha256");
    const got = await sha256(await bytes(runtimeFile));
    if (got !== want) throw new Error(`${RUNTIME.pathname}: sha256 ${got}, expected ${want}`);
    await cache.put(RUNTIME, runtimeFile.response);
  }
  for (const file of [card, ...files]) if (!file.cached) await cache.put(file.url, file.response);
  if (instance.built) {
    const headers = { "x-sha256": await sha256(instance.built.memory), "x-table-length": String(instance.built.tableLength) };
    await cache.put(instance.url, new Response(instance.built.memory, { headers }));
  }
  await prune(cache, new Set([RUNTIME.href, instance.url.href, ...files.map((file) => file.url.href)]));
}

// Drop what an older version kept: every file kept under a sha256 that is no longer current.
async function prune(cache, current) {
  for (const request of await cache.keys()) {
    const url = new URL(request.url);
    const versioned = url.searchParams.has("sha256") || url.searchParams.has("of");
    if (versioned && !current.has(url.href)) await cache.delete(request);
  }
}

// The runtime compiles while model.json, then the kept instance or the bundle, are read; the
// phases are reported for the benchmark.
async function load() {
  const started = performance.now();
  const since = () => Math.round(performance.now() - started);
  const cache = await caches.open(CACHE);
  const compiled = runtime(cache).then((loaded) => ({ ...loaded, ms: since() }));
  const cardUrl = new URL("model.json", BUNDLE);
  // The instance built from the last visit's model.json is read while the network is asked for
  // the current one (a round trip on a real network): it is used only if they are the same.
  const lastCard = await cache.match(cardUrl);
  const lastKept = lastCard?.arrayBuffer().then(sha256).then((sha) => keptInstance(cache, instanceUrl(sha)));
  const card = await networkFirst(cache, cardUrl);
  const cardBytes = await bytes(card);
  const hashes = JSON.parse(new TextDecoder().decode(cardBytes)).sha256;
  const instance = { url: instanceUrl(await sha256(cardBytes)), built: null };
  let kept = await lastKept?.catch(() => null);
  if (kept?.url !== instance.url.href) kept = await keptInstance(cache, instance.url).catch(() => null);
  const names = ["model.onnx", "tokenizer.json"];
  let files = kept ? names.map((name) => ({ url: fileUrl(name, hashes), name, cached: true })) : await bundle(cache, names, hashes);
  const filesMs = since();
  const { wasm, file: runtimeFile, ms: wasmMs } = await compiled;
  const building = performance.now();
  let phases;
  if (kept && restore(wasm, kept)) {
    phases = { wasm_ms: wasmMs, files_ms: filesMs, restore_ms: Math.round(performance.now() - building) };
  } else {
    if (kept) files = await bundle(cache, names, hashes);
    const digests = JSON.stringify(Object.fromEntries(files.map((file) => [file.name, file.sha256])));
    build(cardBytes, files[0].bytes, files[1].bytes, digests);
    // A first prediction before the copy: the normalisation's regexes are compiled on first use,
    // and a restored instance then has them too (~50 ms of every first prediction otherwise).
    predict("warming up");
    instance.built = instanceOf(wasm);
    phases = { wasm_ms: wasmMs, files_ms: filesMs, build_ms: Math.round(performance.now() - building) };
  }
  // After the "ready" answer (a task later): one prediction on a restored instance, so that the
  // person's first one does not pay for the code's first run (~30 ms: V8 compiles a function at its
  // first call), then the cache (writing up to 25 MB would only delay "ready").
  if (!instance.built) setTimeout(() => predict("warming up"));
  setTimeout(() => keep(cache, { runtimeFile, card, files, instance })
    .catch((error) => console.warn(`not kept for offline use: ${error}`)));
  return { wasm, phases, ms: performance.now() - started, cached: files.every((file) => file.cached), restored: !instance.built };
}

self.onmessage = async ({ data }) => {
  if (data.type === "load") {
    ready ??= load();
    try {
      const { ms, cached, restored, wasm, phases } = await ready;
      self.postMessage({ type: "ready", ms, cached, restored, phases, memory_bytes: wasm.memory.buffer.byteLength });
    } catch (error) {
      ready = null;
      self.postMessage({ type: "failed", error: String(error) });
    }
  } else if (data.type === "predict") {
    try {
      await (ready ??= load());
      const started = performance.now();
      const prediction = JSON.parse(predict(data.text));
      prediction.latency_ms = performance.now() - started;
      self.postMessage({ type: "prediction", id: data.id, prediction });
    } catch (error) {
      self.postMessage({ type: "prediction", id: data.id, error: String(error.message ?? error) });
    }
  }
};
