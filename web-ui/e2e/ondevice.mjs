// The on-device model in Debian's headless Chromium: the page's origin starts the real worker
// (web-ui/ondevice/worker.js), which loads the bundle with the edge core compiled to WebAssembly
// and scores each tweet; then a second page load, whose worker restores the built model kept in
// Cache Storage and scores them again; then a third, after one byte of that kept model was flipped.
// The page is one of the site's files, not the app: the app's own worker would fill the cache meanwhile.
//
//   node ondevice.mjs <site url> <file of tweets, one JSON string a line>
//
// Prints one JSON line: the scores (cold, warm), the load times, whether the model came from the
// cache or was restored at each load, the errors for a too long tweet.
import { readFileSync } from "node:fs";
import { newPage, run } from "./chromium.mjs";

const [siteUrl, tweetsFile] = process.argv.slice(2);
if (!siteUrl || !tweetsFile) {
  console.error("usage: node ondevice.mjs <site url> <tweets file>");
  process.exit(2);
}
const tweets = readFileSync(tweetsFile, "utf8").trim().split("\n").map((line) => JSON.parse(line));

// In the page: a worker, the bundle loaded, `texts` scored one at a time.
async function scoreInPage(texts) {
  const worker = new Worker("/ondevice/worker.js", { type: "module" });
  const pending = new Map();
  let loaded;
  const ready = new Promise((resolve, reject) => { loaded = { resolve, reject }; });
  worker.onmessage = ({ data }) => {
    if (data.type === "ready") loaded.resolve(data);
    else if (data.type === "failed") loaded.reject(new Error(data.error));
    else if (data.type === "prediction") pending.get(data.id)(data);
  };
  worker.onerror = (event) => loaded.reject(new Error(`worker: ${event.message}`));
  const started = performance.now();
  worker.postMessage({ type: "load" });
  const load = await ready;
  const loadMs = performance.now() - started;
  const results = [];
  for (const [id, text] of texts.entries()) {
    const answer = await new Promise((resolve) => {
      pending.set(id, resolve);
      worker.postMessage({ type: "predict", id, text });
    });
    results.push(answer.error ? { error: answer.error } : answer.prediction);
  }
  const tooLong = await new Promise((resolve) => {
    pending.set(-1, resolve);
    worker.postMessage({ type: "predict", id: -1, text: "a".repeat(1001) });
  });
  worker.terminate();
  return { loadMs, cached: load.cached, restored: load.restored, results, tooLong: tooLong.error ?? null };
}

// The built model kept by the worker (after its "ready" answer): its path, or with `flip`, one of
// its bytes flipped (its kept sha256 left as it was).
async function keptInstance(flip) {
  const cache = await caches.open("moodwing-on-device-v1");
  for (let i = 0; i < 600; i += 1) {
    for (const request of await cache.keys()) {
      if (new URL(request.url).pathname.endsWith("/instance")) {
        if (flip) {
          const response = await cache.match(request);
          const memory = new Uint8Array(await response.arrayBuffer());
          memory[memory.length >> 1] ^= 1;
          await cache.put(request, new Response(memory, { headers: response.headers }));
        }
        return new URL(request.url).pathname;
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
  const cold = await page.evaluate(scoreInPage, tweets);
  const instance = await page.evaluate(keptInstance, false);
  await page.reload();
  const warm = await page.evaluate(scoreInPage, tweets);
  await page.evaluate(keptInstance, true);
  await page.reload();
  const flipped = await page.evaluate(scoreInPage, tweets.slice(0, 1));
  const errors = [cold, warm].flatMap((load) => load.results.filter((r) => r.error));
  if (errors.length) failures.push(`${errors.length} tweets not scored: ${errors[0].error}`);
  console.log(JSON.stringify({
    scores: cold.results.map((r) => r.score),
    warm_scores: warm.results.map((r) => r.score),
    flipped_scores: flipped.results.map((r) => r.score),
    labels: cold.results.map((r) => r.label),
    model: cold.results[0]?.model,
    latency_ms: cold.results.map((r) => r.latency_ms),
    load_ms: { cold: cold.loadMs, warm: warm.loadMs, flipped: flipped.loadMs },
    cached: { cold: cold.cached, warm: warm.cached, flipped: flipped.cached },
    restored: { cold: cold.restored, warm: warm.restored, flipped: flipped.restored },
    kept_instance: instance,
    too_long: { cold: cold.tooLong, warm: warm.tooLong },
  }));
});
