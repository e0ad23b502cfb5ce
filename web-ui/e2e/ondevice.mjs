// The on-device model in Debian's headless Chromium: the page's origin starts the real worker
// (web-ui/ondevice/worker.js), which loads the bundle with the edge core compiled to WebAssembly
// and scores each tweet; then a second page load, which compiles the runtime for the worker as
// index.html does, and whose worker restores the built model it kept (a file of the origin's
// private file system) and scores them again; then a third, after that file was cut short; then
// two more with a redeployed model.json (another version): the first starts with the model kept
// and changes to the new one (whose kept copy must not hold the tweet scored meanwhile), the
// second restores the new one; then one whose model.onnx does not match: the model goes on.
// The page is one of the site's files, not the app: the app's own worker would fill the cache meanwhile.
//
//   node ondevice.mjs <site url> <file of tweets, one JSON string a line>
//
// Prints one JSON line: the scores (cold, warm), the load times, whether the model came from the
// cache or was restored at each load and where the runtime was compiled, the errors for a too
// long tweet.
import { readFileSync } from "node:fs";
import { newPage, run } from "./chromium.mjs";

const [siteUrl, tweetsFile] = process.argv.slice(2);
if (!siteUrl || !tweetsFile) {
  console.error("usage: node ondevice.mjs <site url> <tweets file>");
  process.exit(2);
}
const tweets = readFileSync(tweetsFile, "utf8").trim().split("\n").map((line) => JSON.parse(line));

// In the page: a worker, the bundle loaded, `texts` scored one at a time. `fromPage`: the page
// compiles the runtime the worker kept at the first load and hands it over, as index.html does.
// `awaitVersion`: then the first tweet again until the model answering is that version (10 s).
// `afterKept`: the first tweet once more once the load has kept what it built.
async function scoreInPage([texts, fromPage, awaitVersion, afterKept]) {
  const worker = new Worker("/ondevice/worker.js", { type: "module" });
  const pending = new Map();
  let loaded;
  let keptAll;
  const ready = new Promise((resolve, reject) => { loaded = { resolve, reject }; });
  const kept = new Promise((resolve) => { keptAll = resolve; });
  worker.onmessage = ({ data }) => {
    if (data.type === "ready") loaded.resolve(data);
    else if (data.type === "kept") keptAll();
    else if (data.type === "failed") loaded.reject(new Error(data.error));
    else if (data.type === "prediction") pending.get(data.id)(data);
  };
  worker.onerror = (event) => loaded.reject(new Error(`worker: ${event.message}`));
  const ask = (id, text) => new Promise((resolve) => {
    pending.set(id, resolve);
    worker.postMessage({ type: "predict", id, text });
  });
  const started = performance.now();
  if (fromPage) {
    worker.postMessage({ type: "load", from: "page" });
    const cache = await caches.open("moodwing-on-device-v1");
    const runtime = (await cache.keys()).find((request) => new URL(request.url).pathname.endsWith(".wasm"));
    const module = await WebAssembly.compileStreaming(await cache.match(runtime));
    worker.postMessage({ type: "runtime", module });
  } else {
    worker.postMessage({ type: "load" });
  }
  const load = await ready;
  const loadMs = performance.now() - started;
  const results = [];
  for (const [id, text] of texts.entries()) {
    const answer = await ask(id, text);
    results.push(answer.error ? { error: answer.error } : answer.prediction);
  }
  const tooLong = await ask(-1, "a".repeat(1001));
  let laterVersion = null;
  for (let id = -2; awaitVersion && laterVersion !== awaitVersion && id > -102; id -= 1) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const answer = await ask(id, texts[0]);
    laterVersion = answer.prediction?.model.version ?? answer.error;
  }
  await kept; // the next load finds what this one kept
  const lastAnswer = afterKept && await ask(-200, texts[0]);
  worker.terminate();
  const { cached, restored, compiled_in: compiledIn, memory_bytes: memoryBytes } = load;
  const afterKeptAnswer = lastAnswer ? (lastAnswer.prediction ?? { error: lastAnswer.error }) : null;
  return { loadMs, cached, restored, compiledIn, memoryBytes, results, tooLong: tooLong.error ?? null, laterVersion, afterKeptAnswer };
}

// The built model kept by the worker (after its "ready" answer): its file's name and size, and
// whether it holds any 16 characters of `text` (ASCII) in a row (a freed block keeps its bytes but
// the allocator's links, written over its start); with `cut`, the file is cut 4 KiB short.
async function keptInstance({ cut = false, text = "" }) {
  const root = await navigator.storage.getDirectory();
  for (let i = 0; i < 600; i += 1) {
    for await (const [name, handle] of root.entries()) {
      if (name.startsWith("moodwing-on-device-instance-")) {
        const bytes = await (await handle.getFile()).arrayBuffer();
        // windows-1252 decodes each byte to one character, and ASCII to itself.
        const kept = text && new TextDecoder("latin1").decode(bytes);
        const holds = [...text].some((_, at) => at + 16 <= text.length && kept.includes(text.slice(at, at + 16)));
        if (cut) {
          const file = await handle.createWritable();
          await file.write(bytes.slice(0, bytes.byteLength - 4096));
          await file.close();
        }
        return { name, bytes: bytes.byteLength, holds };
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return null;
}

await run(async (browser, failures) => {
  const page = await newPage(browser, failures);
  page.setDefaultTimeout(120_000);
  await page.goto(`${siteUrl}/config.json`);
  const cold = await page.evaluate(scoreInPage, [tweets, false]);
  const instance = await page.evaluate(keptInstance, {});
  await page.reload();
  const warm = await page.evaluate(scoreInPage, [tweets, true]);
  await page.evaluate(keptInstance, { cut: true });
  await page.reload();
  const cut = await page.evaluate(scoreInPage, [tweets.slice(0, 1), true]);
  // A redeployment: the same files, model.json under another version.
  const version = `${cut.results[0].model.version}+redeployed`;
  await page.route("**/ondevice/model/lstm/model.json", async (route) => {
    const card = await (await route.fetch()).json();
    await route.fulfill({ json: { ...card, version } });
  });
  await page.reload();
  // The tweets scored before the new model is built (in the instance that answered them) must
  // not be in the copy kept of it. (Built in the same instance, the copy held pieces of this tweet
  // in about half the runs: whether the build reuses the blocks it was in varies.)
  const unkept = "zq unkept tweet 41592 about my lost luggage";
  const redeployed = await page.evaluate(scoreInPage, [[unkept], true, version]);
  const keptHoldsTweet = (await page.evaluate(keptInstance, { text: unkept })).holds;
  await page.reload();
  const afterRedeploy = await page.evaluate(scoreInPage, [tweets.slice(0, 1), true]);
  // A redeployed model.json whose model.onnx is not the file served: the model that answered goes on.
  await page.unroute("**/ondevice/model/lstm/model.json");
  await page.route("**/ondevice/model/lstm/model.json", async (route) => {
    const card = await (await route.fetch()).json();
    await route.fulfill({ json: { ...card, version: `${version}+broken`, sha256: { ...card.sha256, "model.onnx": "0".repeat(64) } } });
  });
  await page.reload();
  const broken = await page.evaluate(scoreInPage, [tweets.slice(0, 1), true, null, true]);
  const errors = [cold, warm].flatMap((load) => load.results.filter((r) => r.error));
  if (errors.length) failures.push(`${errors.length} tweets not scored: ${errors[0].error}`);
  console.log(JSON.stringify({
    scores: cold.results.map((r) => r.score),
    warm_scores: warm.results.map((r) => r.score),
    cut_scores: cut.results.map((r) => r.score),
    labels: cold.results.map((r) => r.label),
    model: cold.results[0]?.model,
    latency_ms: cold.results.map((r) => r.latency_ms),
    load_ms: { cold: cold.loadMs, warm: warm.loadMs, cut: cut.loadMs },
    cached: { cold: cold.cached, warm: warm.cached, cut: cut.cached },
    restored: { cold: cold.restored, warm: warm.restored, cut: cut.restored },
    compiled_in: { cold: cold.compiledIn, warm: warm.compiledIn, cut: cut.compiledIn },
    kept_instance: instance,
    memory_bytes: cold.memoryBytes,
    too_long: { cold: cold.tooLong, warm: warm.tooLong },
    redeployed: {
      version,
      restored: redeployed.restored,
      first: redeployed.results[0].model.version,
      later: redeployed.laterVersion,
      kept_holds_tweet: keptHoldsTweet,
      next_load: { restored: afterRedeploy.restored, version: afterRedeploy.results[0].model.version },
      after_a_broken_one: { version: broken.afterKeptAnswer.model?.version ?? broken.afterKeptAnswer.error, score: broken.afterKeptAnswer.score ?? null },
    },
  }));
});
