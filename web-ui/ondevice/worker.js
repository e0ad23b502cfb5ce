// The on-device model, off the page's thread: the edge core compiled to WebAssembly
// (edge-model/browser) scores tweets here, so typing never waits for it and no tweet leaves the
// device.
//
// Messages in and out:
// - {type: "load", fresh, from} -> {type: "ready", ms, cached (the bundle came from the cache),
//   restored (the built model was restored, not built), compiled_in ("page" or "worker"), phases
//   (wasm_ms: runtime compiled, files_ms: bundle or kept model read, build_ms or restore_ms),
//   memory_bytes} | {type: "failed", error}; then, once what the load downloaded or built is kept
//   and the network's model.json was seen, {type: "kept"}.
//   `fresh`: a first visit, nothing is looked up in the cache. `from: "page"`: the page compiles
//   the runtime while this worker starts and sends it, {type: "runtime", module, bytes (when
//   fetched, to be checked and kept)} or {type: "runtime", error}; otherwise the worker compiles
//   it. (Chromium keeps a module's optimised code for the next visit only when a page compiled it:
//   a later visit's first prediction then runs optimised code, ~3 ms instead of ~35.) A worker the
//   page names "from=page" (and "&fresh") starts that load as soon as it runs (index.html).
// - {type: "predict", id, text} -> {type: "prediction", id, prediction} | {type: "prediction", id, error}.
//
// What is kept for the next visit and offline use (Cache Storage, but for the built model):
// - model.json: the kept one is loaded at once and the network's asked for once the model answers
//   (a redeployed model is loaded then, and replaces it); model.onnx and tokenizer.json under their
//   sha256, so a cached file is never stale. The core checks both against model.json's hashes
//   (computed here with WebCrypto) before anything is cached.
// - the runtime's wasm, under the sha256 the build writes into this file (scripts/lib.sh,
//   build_on_device), once it compiled and matched it.
// - the built model: a copy of the runtime's memory taken as soon as `load` and one prediction of
//   its own returned (before any tweet, so it holds none), one file per runtime in the origin's
//   private file system, with the sha256 of the model.json it was built from. The next page load
//   reads it (synchronously, straight from the file: Cache Storage's copying between processes
//   made its read the slowest part of a warm load) and writes it into a fresh instance instead of
//   building (~180 ms of a load). The file is replaced whole when written (a crash leaves the old
//   one), so it is not hashed again: it is used if it was built from the current model.json and its
//   layout fits the fresh memory, and the model is built again otherwise.
// Files of other versions are dropped.
//
// The build (scripts/lib.sh, build_on_device) puts the wasm-bindgen glue in front of this file
// and replaces this import: one file for the page to start the worker with. `freshInstance` and
// `callInto` below use the glue's own functions and variables, which the build checks are there.
import init, { initSync, load as build, predict } from "./pkg/moodwing_edge_browser.js";

const CACHE = "moodwing-on-device-v1";
const BUNDLE = new URL("./model/lstm/", import.meta.url);
const RUNTIME = new URL("./pkg/moodwing_edge_browser_bg.wasm", import.meta.url);
RUNTIME.searchParams.set("sha256", "@RUNTIME_SHA256@");
// The model this runtime built at the last visit (one per runtime: a copy is only ever restored
// into the runtime that made it), a file of the origin's private file system.
const INSTANCE_PREFIX = "moodwing-on-device-instance-";
const INSTANCE_FILE = `${INSTANCE_PREFIX}${RUNTIME.searchParams.get("sha256")}`;
const CHUNK = 4096; // the kept copy leaves out the all-zero chunks of this size
const CARD = new URL("model.json", BUNDLE);
const NAMES = ["model.onnx", "tokenizer.json"];
let ready = null;
// The runtime the page sends when it said it would ({type: "load", from: "page"}).
let fromPage = null;
// A promise and the function that resolves it.
function deferred() {
  let resolve;
  const promise = new Promise((r) => (resolve = r));
  return { promise, resolve };
}
// Resolved once a prediction the page asked for was answered.
const firstAnswer = deferred();

// Cache Storage, opened once; `match` finds nothing on a first visit (the page says so: no
// service worker controls it yet), where the first opening in a new profile takes 35-100 ms.
function storage(fresh) {
  const opened = caches.open(CACHE);
  return { opened, match: async (url) => (fresh ? undefined : (await opened).match(url)) };
}

async function cacheFirst(store, url, init = {}) {
  const kept = await store.match(url);
  if (kept) return { url, response: kept, cached: true };
  const response = await fetch(url, init);
  if (!response.ok) throw new Error(`${url.pathname}: HTTP ${response.status}`);
  return { url, response, cached: false };
}

const bytes = async ({ response }) => new Uint8Array(await response.clone().arrayBuffer());

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

// WebCrypto, native code: the same hash in the core's WebAssembly took ~60 ms of a load.
async function sha256(data) {
  return hex(new Uint8Array(await crypto.subtle.digest("SHA-256", data)));
}

// The runtime: compiled by the page, or here as it streams in. `file.bytes()`: its bytes, when
// they came from the network (to be checked and kept).
async function runtime(store) {
  const sent = await fromPage?.promise;
  if (sent?.module) {
    const file = { cached: !sent.bytes, bytes: async () => new Uint8Array(sent.bytes) };
    return { wasm: initSync({ module: sent.module }), file, compiledIn: "page" };
  }
  if (sent) console.warn(`the page did not compile the runtime (${sent.error}); compiling it here`);
  const found = await cacheFirst(store, RUNTIME);
  const file = { cached: found.cached, bytes: () => bytes(found) };
  return { wasm: await init({ module_or_path: found.response.clone() }), file, compiledIn: "worker" };
}

// The bundle's files are kept under the sha256 model.json gives them.
function fileUrl(name, hashes) {
  const url = new URL(name, BUNDLE);
  url.searchParams.set("sha256", hashes[name]);
  return url;
}

// The bundle's files, from the cache or the network, with the sha256 of their bytes.
function bundle(store, names, hashes) {
  return Promise.all(names.map(async (name) => {
    const file = await cacheFirst(store, fileUrl(name, hashes));
    const data = await bytes(file);
    return { ...file, name, bytes: data, sha256: await sha256(data) };
  }));
}

// The kept model, or null: {copy (the file's bytes), modelJson (the sha256 of the model.json it
// was built from)}. Read-only, so that another tab may read it at the same time.
async function readInstance() {
  const root = await navigator.storage.getDirectory();
  const handle = await root.getFileHandle(INSTANCE_FILE).catch(() => null);
  if (!handle) return null;
  const file = await handle.createSyncAccessHandle({ mode: "read-only" });
  try {
    const copy = new ArrayBuffer(file.getSize());
    file.read(new Uint8Array(copy), { at: 0 });
    return { copy, modelJson: hex(new Uint8Array(copy, 4 * HEADER.modelJson, 32)) };
  } finally {
    file.close();
  }
}

// The kept file: u32 words (format, table length, memory length, run count, then model.json's
// sha256 in 8 words), then each run's offset and length, then the runs' bytes.
const HEADER = { format: 0, tableLength: 1, memoryLength: 2, runs: 3, modelJson: 4, words: 12 };
const FORMAT = 1;

// The runtime's state after `build`: its memory (the model, the allocator, the Rust statics) and
// the length of its table of JavaScript values (its slots are handed out from a list in the
// memory). The stack pointer, its only other mutable state, is back at its start between calls.
// The memory the runtime started with is kept whole (its statics may have changed either way);
// of the rest, only the chunks that are not all zero (what building freed is zeroed,
// edge-model/src/snapshot_alloc.rs: about a third of a 12.5 MB memory), as runs.
function instanceOf(wasm, initialLength, modelJson) {
  const memory = new Uint8Array(wasm.memory.buffer);
  const words = new Uint32Array(wasm.memory.buffer);
  const runs = [[0, initialLength]];
  for (let start = initialLength; start < memory.byteLength; start += CHUNK) {
    const end = (start + CHUNK) / 4;
    let i = start / 4;
    while (i < end && words[i] === 0) i += 1;
    if (i === end) continue;
    const last = runs[runs.length - 1];
    if (last[0] + last[1] === start) last[1] += CHUNK;
    else runs.push([start, CHUNK]);
  }
  const header = new Uint32Array(HEADER.words + 2 * runs.length);
  header.set([FORMAT, wasm.__wbindgen_externrefs.length, memory.byteLength, runs.length]);
  new Uint8Array(header.buffer, 4 * HEADER.modelJson, 32).set(modelJson.match(/../g).map((pair) => parseInt(pair, 16)));
  header.set(runs.flat(), HEADER.words);
  const copy = new Uint8Array(runs.reduce((size, [, length]) => size + length, header.byteLength));
  copy.set(new Uint8Array(header.buffer));
  let at = header.byteLength;
  for (const [offset, length] of runs) {
    copy.set(memory.subarray(offset, offset + length), at);
    at += length;
  }
  return copy;
}

// A fresh instance of the same runtime becomes the one that was built; false if it cannot (then
// nothing was changed).
function restore(wasm, { copy }) {
  const bytes = new Uint8Array(copy);
  const words = new Uint32Array(copy, 0, Math.floor(bytes.byteLength / 4));
  if (words.length < HEADER.words || words[HEADER.format] !== FORMAT) return false;
  const [tableLength, length, count] = [words[HEADER.tableLength], words[HEADER.memoryLength], words[HEADER.runs]];
  const table = wasm.__wbindgen_externrefs;
  const pages = (length - wasm.memory.buffer.byteLength) / 65536;
  if (!Number.isInteger(pages) || pages < 0 || !table || table.length > tableLength) return false;
  if (words.length < HEADER.words + 2 * count) return false;
  const run = (i) => [words[HEADER.words + 2 * i], words[HEADER.words + 2 * i + 1]];
  // The runs must cover the fresh memory's start (its statics) and fit in the memory and the file.
  let at = 4 * (HEADER.words + 2 * count);
  for (let i = 0; i < count; i += 1) {
    const [offset, size] = run(i);
    if (offset + size > length || at + size > bytes.byteLength) return false;
    at += size;
  }
  if (count === 0 || run(0)[0] !== 0 || run(0)[1] < wasm.memory.buffer.byteLength || at !== bytes.byteLength) return false;
  wasm.memory.grow(pages);
  const memory = new Uint8Array(wasm.memory.buffer);
  at = 4 * (HEADER.words + 2 * count);
  for (let i = 0; i < count; i += 1) {
    const [offset, size] = run(i);
    memory.set(bytes.subarray(at, at + size), offset);
    at += size;
  }
  table.grow(tableLength - table.length);
  return true;
}

// The built model (if this load built it), written aside and swapped in whole when closed; the
// files of other runtimes go.
async function keepInstance(copy) {
  const root = await navigator.storage.getDirectory();
  if (copy) {
    const file = await (await root.getFileHandle(INSTANCE_FILE, { create: true })).createWritable();
    await file.write(copy);
    await file.close();
  }
  for await (const name of root.keys()) {
    if (name.startsWith(INSTANCE_PREFIX) && name !== INSTANCE_FILE) await root.removeEntry(name);
  }
}

// What this load downloaded or built, kept once the model is answering: the runtime only if it
// matches the sha256 the build wrote in, the bundle's files (already checked by the core) as they
// are, the built model's copy.
async function keep(store, { runtimeFile, card, files, built }) {
  const cache = await store.opened;
  if (!runtimeFile.cached) {
    const want = RUNTIME.searchParams.get("sha256");
    const data = await runtimeFile.bytes();
    const got = await sha256(data);
    if (got !== want) throw new Error(`${RUNTIME.pathname}: sha256 ${got}, expected ${want}`);
    await cache.put(RUNTIME, new Response(data, { headers: { "content-type": "application/wasm" } }));
  }
  for (const file of [card, ...files]) if (!file.cached) await cache.put(file.url, file.response);
  await prune(cache, new Set([RUNTIME.href, ...files.map((file) => file.url.href)]));
  await keepInstance(built);
}

// Drop what an older version kept: every file kept under a sha256 that is no longer current.
async function prune(cache, current) {
  for (const request of await cache.keys()) {
    const url = new URL(request.url);
    const versioned = url.searchParams.has("sha256") || url.searchParams.has("of"); // "of": built models kept here before
    if (versioned && !current.has(url.href)) await cache.delete(request);
  }
}

// The model of `cardBytes` built from the bundle's `files` in this instance (replacing any model
// it held), and one prediction of its own: the copy of the memory to keep.
function buildModel(wasm, { cardBytes, cardSha, files, initialLength }) {
  const digests = JSON.stringify(Object.fromEntries(files.map((file) => [file.name, file.sha256])));
  build(cardBytes, files[0].bytes, files[1].bytes, digests);
  // A first prediction before the copy and before "ready": what the core builds on first use is in
  // the copy too, and V8 compiles the prediction's code at its first call (~30 ms), not during the
  // person's first prediction.
  predict("warming up");
  return instanceOf(wasm, initialLength, cardSha);
}

// model.json and what it says (its sha256, the sha256 of the bundle's files).
async function cardOf(file) {
  const cardBytes = await bytes(file);
  return { card: file, cardBytes, cardSha: await sha256(cardBytes), hashes: JSON.parse(new TextDecoder().decode(cardBytes)).sha256 };
}

// The runtime compiles while model.json, then the kept instance or the bundle, are read; the
// phases are reported for the benchmark. model.json is the one kept at the last visit when there
// is one (no round trip to the network before the first prediction); the network's is asked for
// once the model answers, and a redeployed one is then loaded (`revalidate`).
async function loadModel(fresh = false) {
  const started = performance.now();
  const since = () => Math.round(performance.now() - started);
  const store = storage(fresh);
  const compiled = runtime(store).then((loaded) => ({ ...loaded, ms: since() }));
  const lastKept = (fresh ? Promise.resolve(null) : readInstance()).catch(() => null);
  const current = await cardOf(await cacheFirst(store, CARD, { cache: "no-store" }));
  let kept = await lastKept;
  if (kept?.modelJson !== current.cardSha) kept = null;
  let files = kept
    ? NAMES.map((name) => ({ url: fileUrl(name, current.hashes), name, cached: true }))
    : await bundle(store, NAMES, current.hashes);
  const filesMs = since();
  const { wasm, file: runtimeFile, ms: wasmMs, compiledIn } = await compiled;
  const initialLength = wasm.memory.buffer.byteLength;
  const building = performance.now();
  let phases;
  let built = null;
  if (kept && restore(wasm, kept)) {
    phases = { wasm_ms: wasmMs, files_ms: filesMs, restore_ms: Math.round(performance.now() - building) };
  } else {
    if (kept) files = await bundle(store, NAMES, current.hashes);
    built = buildModel(wasm, { ...current, files, initialLength });
    phases = { wasm_ms: wasmMs, files_ms: filesMs, build_ms: Math.round(performance.now() - building) };
  }
  // After the "ready" answer (a task later): one prediction on a restored instance, so that the
  // person's first one does not pay for the code's first run (V8 compiles a function at its first
  // call: ~30 ms, ~3 with the code kept from the last visit). Then, once the person's first
  // prediction is answered (or after a quiet second), the cache and the network's model.json:
  // keeping hashes the runtime and writes up to 20 MB, ~100 ms of this thread on a first visit,
  // which a prediction asked meanwhile would wait for.
  if (!built) setTimeout(() => predict("warming up"));
  setTimeout(async () => {
    await Promise.race([firstAnswer.promise, new Promise((resolve) => setTimeout(resolve, 1000))]);
    await keep(store, { runtimeFile, card: current.card, files, built })
      .catch((error) => console.warn(`not kept for offline use: ${error}`));
    if (current.card.cached) {
      await revalidate(store, wasm, current.cardSha).catch((error) => console.warn(`model.json: ${error}`));
    }
    self.postMessage({ type: "kept" });
  });
  const cached = files.every((file) => file.cached);
  // Not the instance itself: one replaced after a redeployment (`revalidate`) is then freed.
  const memoryBytes = wasm.memory.buffer.byteLength;
  return { phases, ms: performance.now() - started, cached, restored: !built, compiled_in: compiledIn, memory_bytes: memoryBytes };
}

// The network's model.json, if it differs from the one the model was loaded from: its bundle is
// loaded, built in a fresh instance of the runtime, which then answers (the predictions until
// then come from the model loaded first, and say which version they are), and kept. Not in the
// instance that answered so far: its memory holds what is left of the tweets it scored (freed,
// not cleared), which the kept copy would then hold too. Offline, nothing changes.
async function revalidate(store, answering, loadedSha) {
  const response = await fetch(CARD, { cache: "no-store" }).catch(() => null);
  if (!response?.ok) return; // offline, or the site is down: the model loaded stays
  const redeployed = await cardOf({ url: CARD, response, cached: false });
  if (redeployed.cardSha === loadedSha) return;
  const files = await bundle(store, NAMES, redeployed.hashes);
  let built;
  try {
    const fresh = freshInstance();
    built = buildModel(fresh, { ...redeployed, files, initialLength: fresh.memory.buffer.byteLength });
  } catch (error) {
    callInto(answering); // the model loaded first goes on answering
    throw error;
  }
  await keep(store, { runtimeFile: { cached: true }, card: redeployed.card, files, built });
}

// The glue calls one instance (its `wasm`), and its initSync makes only the first: a new one of the
// same module (wasm-bindgen's own steps: its imports, then its start function), which the glue's
// functions call from now on.
function freshInstance() {
  return __wbg_finalize_init(new WebAssembly.Instance(wasmModule, __wbg_get_imports()), wasmModule);
}

// The glue's functions call `exports`' instance again (an instance already started).
function callInto(exports) {
  wasm = exports;
  cachedDataViewMemory0 = null;
  cachedUint8ArrayMemory0 = null;
}

// Started by the page (index.html) with its options in its name: the load starts now, not when
// the page's thread, busy with the app's start, gets to pass a message on.
function loadFromPage(fresh) {
  fromPage = deferred();
  ready = loadModel(fresh);
}
const startedBy = new URLSearchParams(self.name);
if (startedBy.get("from") === "page") loadFromPage(startedBy.has("fresh"));

self.onmessage = async ({ data }) => {
  if (data.type === "runtime") {
    fromPage?.resolve(data);
  } else if (data.type === "load") {
    if (data.from === "page" && !ready) loadFromPage(data.fresh === true);
    ready ??= loadModel(data.fresh === true);
    try {
      self.postMessage({ type: "ready", ...(await ready) });
    } catch (error) {
      ready = null;
      self.postMessage({ type: "failed", error: String(error) });
    }
  } else if (data.type === "predict") {
    try {
      await (ready ??= loadModel());
      const started = performance.now();
      const prediction = JSON.parse(predict(data.text));
      prediction.latency_ms = performance.now() - started;
      self.postMessage({ type: "prediction", id: data.id, prediction });
    } catch (error) {
      self.postMessage({ type: "prediction", id: data.id, error: String(error.message ?? error) });
    }
    firstAnswer.resolve();
  }
};
