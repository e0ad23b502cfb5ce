// The on-device model in Debian's headless Chromium: the page's origin starts the real worker
// (web-ui/ondevice/worker.js), which loads the bundle with the edge core compiled to WebAssembly
// and scores each tweet; then a second page load, with the bundle now in Cache Storage. The page is
// one of the site's files, not the app: the app's own worker would fill the cache meanwhile.
//
//   node ondevice.mjs <site url> <file of tweets, one JSON string a line>
//
// Prints one JSON line: the scores, the load times (cold, warm), the per-tweet times.
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
  return { loadMs, cached: load.cached, results, tooLong: tooLong.error ?? null };
}

await run(async (browser, failures) => {
  const page = await newPage(browser, failures);
  page.setDefaultTimeout(120_000);
  await page.goto(`${siteUrl}/config.json`);
  const cold = await page.evaluate(scoreInPage, tweets);
  await page.reload();
  const warm = await page.evaluate(scoreInPage, tweets.slice(0, 1));
  const errors = cold.results.filter((r) => r.error);
  if (errors.length) failures.push(`${errors.length} tweets not scored: ${errors[0].error}`);
  console.log(JSON.stringify({
    scores: cold.results.map((r) => r.score),
    labels: cold.results.map((r) => r.label),
    model: cold.results[0]?.model,
    latency_ms: cold.results.map((r) => r.latency_ms),
    load_ms: { cold: cold.loadMs, warm: warm.loadMs },
    cached: { cold: cold.cached, warm: warm.cached },
    too_long: cold.tooLong,
  }));
});
