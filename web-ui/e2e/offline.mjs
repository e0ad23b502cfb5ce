// The page with the network cut after a first visit, in Debian's headless Chromium with one
// profile kept across two runs (its service worker and caches survive, as on a person's machine).
//
//   node offline.mjs visit <page url> <profile dir>     first visit, online: the shell and model are kept
//   node offline.mjs offline <page url> <profile dir>   the site's server is gone: open, predict
//
// Prints one JSON line with what the page showed.
import { newPage, run } from "./chromium.mjs";

const [phase, pageUrl, profile] = process.argv.slice(2);
if (!["visit", "offline"].includes(phase) || !pageUrl || !profile) {
  console.error("usage: node offline.mjs visit|offline <page url> <profile dir>");
  process.exit(2);
}
const TWEET = "@AirParadis the crew was lovely and we landed early, thank you!";
await run(async (context, failures) => {
  const page = await newPage(context, failures);
  page.setDefaultTimeout(60_000);
  await page.goto(pageUrl);
  await page.locator("#mode-device:checked").waitFor();
  if (phase === "visit") {
    // The service worker keeps the shell once it is active.
    await page.evaluate(async () => { await navigator.serviceWorker.ready; });
    const controlled = await page.evaluate(() => Boolean(navigator.serviceWorker.controller));
    // A file of an older deployment, as the shell's cache would hold it: pruned by the next page load.
    // The same for the on-device worker's: a runtime of another version, kept under its sha256,
    // and a model built by it (a file of the origin's private file system; before, in the cache).
    const STALE = [["moodwing-shell-v1", "/moodwing-web-ui-0123456789abcdef.js"],
      ["moodwing-on-device-v1", `/ondevice/pkg/moodwing_edge_browser_bg.wasm?sha256=${"0".repeat(64)}`],
      ["moodwing-on-device-v1", `/ondevice/model/lstm/instance?of=${"0".repeat(64)}.${"1".repeat(64)}`],
      [null, `moodwing-on-device-instance-${"0".repeat(64)}`]];
    const staleKept = () => page.evaluate(async (stale) => {
      const root = await navigator.storage.getDirectory();
      return Promise.all(stale.map(async ([cache, path]) => (cache
        ? Boolean(await (await caches.open(cache)).match(path))
        : Boolean(await root.getFileHandle(path).catch(() => null)))));
    }, STALE);
    await page.evaluate(async (stale) => {
      const root = await navigator.storage.getDirectory();
      for (const [cache, path] of stale) {
        if (cache) await (await caches.open(cache)).put(path, new Response("old"));
        else await root.getFileHandle(path, { create: true });
      }
    }, STALE);
    const before = (await staleKept()).every(Boolean);
    await page.reload();
    await page.locator("#mode-device:checked").waitFor();
    let after = true;
    for (let i = 0; i < 50 && after; i += 1) {
      after = (await staleKept()).some(Boolean);
      if (after) await page.waitForTimeout(100);
    }
    console.log(JSON.stringify({ controlled, stale_before: before, stale_after_reload: after }));
  } else {
    await page.locator("#tweet").fill(TWEET);
    await page.locator("#predict").click();
    await page.locator("#label").waitFor();
    console.log(JSON.stringify({
      label: await page.locator("#label").textContent(),
      where: await page.locator("#where").textContent(),
    }));
  }
}, { profile });
