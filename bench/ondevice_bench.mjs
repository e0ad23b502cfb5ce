// The on-device mode in headless Chromium against the edge service, from the same page:
// first prediction after page load (cold: an empty profile, 3 times in a browser already running,
// as a person's is when they first open the site, and 3 times right after the browser's launch,
// whose own start-up then competes for the 2 cores; warm: the same profile again, 5 times; this
// machine is noisy, so each is reported with its runs in order), and per tweet p50/p99 on the
// device (through the worker) and from the edge service (HTTP from the page).
//
//   node bench/ondevice_bench.mjs <site url> <edge api base> <tweets file (JSON strings)>
//
// Prints one JSON line; bench/ondevice_bench.sh adds native onnxruntime and the download sizes.
import { readFileSync } from "node:fs";
import { firstPrediction as timeFirstPrediction, inFreshBrowser, untilKept } from "./first_prediction.mjs";

const [site, edgeApi, tweetsFile] = process.argv.slice(2);
const tweets = readFileSync(tweetsFile, "utf8").trim().split("\n").map((line) => JSON.parse(line));
const firstPrediction = (page) => timeFirstPrediction(page, site, tweets[0]);

function percentiles(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { p50: at(0.5), p99: at(0.99) };
}

// In the page: every tweet through a fresh worker, then through the edge service.
async function perTweet([texts, edge]) {
  const worker = new Worker("/ondevice/worker.js", { type: "module" });
  const replies = [];
  worker.onmessage = ({ data }) => data.type !== "kept" && replies.shift()?.(data);
  const ask = (message) => new Promise((resolve) => { replies.push(resolve); worker.postMessage(message); });
  const { phases } = await ask({ type: "load" });
  const device = [];
  for (const [id, text] of texts.entries()) {
    const started = performance.now();
    await ask({ type: "predict", id, text });
    device.push(performance.now() - started);
  }
  const { memory_bytes } = await ask({ type: "load" });
  worker.terminate();
  const service = [];
  for (const text of texts) {
    const started = performance.now();
    const response = await fetch(`${edge}/predict`, {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ text }),
    });
    await response.json();
    service.push(performance.now() - started);
  }
  return { device, service, memory_bytes, phases };
}

const coldAtLaunch = [];
for (let run = 0; run < 3; run += 1) coldAtLaunch.push(await inFreshBrowser(firstPrediction, { settled: false }));
const cold = [];
for (let run = 0; run < 2; run += 1) cold.push(await inFreshBrowser(firstPrediction, { settled: true }));
// The third cold visit, whose profile the warm visits then find.
await inFreshBrowser(async (page) => {
  cold.push(await firstPrediction(page));
  await untilKept(page);
  const warm = [];
  for (let run = 0; run < 5; run += 1) warm.push(await firstPrediction(page));
  const measured = await page.evaluate(perTweet, [tweets, edgeApi]);
  console.log(JSON.stringify({
    first_prediction_ms: { cold, cold_at_launch: coldAtLaunch, warm },
    worker_load_warm_ms: measured.phases,
    on_device_ms: percentiles(measured.device),
    edge_service_ms: percentiles(measured.service),
    wasm_memory_mb: measured.memory_bytes / 1e6,
    tweets: tweets.length,
  }));
}, { settled: true });
