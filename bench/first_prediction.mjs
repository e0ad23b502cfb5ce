// How the benches time a page's first on-device prediction in headless Chromium
// (bench/ondevice_bench.mjs, bench/ondevice_turns.mjs).
import { chromium } from "playwright-core";
import { ARGS, EXECUTABLE } from "../web-ui/e2e/chromium.mjs";

// How long a browser takes to finish its own start-up (its processes and profile set up): a first
// visit is timed after it, as a person's browser is running when they first open the site
// (measured: the figure is the same after 2 s as after 5).
const SETTLED_MS = 2000;

// What `visit(page)` returns, in a browser just launched with an empty profile of its own (after
// its start-up when `settled`), closed after.
export async function inFreshBrowser(visit, { settled }) {
  const context = await chromium.launchPersistentContext("", { executablePath: EXECUTABLE, args: ARGS });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    if (settled) await page.waitForTimeout(SETTLED_MS);
    return await visit(page);
  } finally {
    await context.close();
  }
}

// From navigation start to the first on-device answer to `tweet` on screen, asked as soon as the
// page offers it: the page is watched from inside (Playwright's own waits poll, up to every 500 ms).
export async function firstPrediction(page, site, tweet) {
  await page.goto(site);
  return page.evaluate(async (tweet) => {
    const until = (check) => new Promise((resolve) => {
      const observer = new MutationObserver(() => check() && (observer.disconnect(), resolve()));
      observer.observe(document, { subtree: true, childList: true, attributes: true, characterData: true });
      if (check()) (observer.disconnect(), resolve());
    });
    await until(() => document.querySelector("#mode-device")?.checked);
    const box = document.querySelector("#tweet");
    box.value = tweet;
    box.dispatchEvent(new Event("input", { bubbles: true }));
    await new Promise((resolve) => setTimeout(resolve));
    document.querySelector("#predict").click();
    await until(() => document.querySelector("#where")?.textContent.includes("on this device"));
    return performance.now();
  }, tweet);
}

// Until what a first visit keeps (the runtime, the bundle, the built model) is written: a later
// visit is not the next instant either.
export async function untilKept(page) {
  await page.waitForFunction(async () => {
    for await (const name of (await navigator.storage.getDirectory()).keys()) {
      if (name.startsWith("moodwing-on-device-instance-")) return true;
    }
    return false;
  }, null, { polling: 100 });
  await page.waitForTimeout(2000);
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}
