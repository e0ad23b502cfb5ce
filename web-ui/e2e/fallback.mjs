// A site whose on-device model cannot be used (its files missing, as in a deployment without them
// or a browser that cannot start the worker; or a file that does not match model.json): the page
// says why, picks the edge service, and still predicts.
//
//   node fallback.mjs <site url>
//
// Prints one JSON line with what the page showed and what the worker kept in Cache Storage.
import { newPage, run } from "./chromium.mjs";

const [siteUrl] = process.argv.slice(2);
if (!siteUrl) {
  console.error("usage: node fallback.mjs <site url>");
  process.exit(2);
}

await run(async (browser, failures) => {
  const page = await newPage(browser, failures);
  page.setDefaultTimeout(60_000);
  await page.goto(siteUrl);
  await page.locator("#device-status").filter({ hasText: "unavailable" }).waitFor();
  await page.locator("#tweet").fill("@AirParadis two hours on the tarmac and nobody tells us anything");
  await page.locator("#predict").click();
  await page.locator("#label").waitFor();
  console.log(JSON.stringify({
    device_status: await page.locator("#device-status").textContent(),
    edge_checked: await page.locator("#mode-edge").isChecked(),
    device_disabled: await page.locator("#mode-device").isDisabled(),
    label: await page.locator("#label").textContent(),
    where: await page.locator("#where").textContent(),
    cached: await page.evaluate(async () =>
      (await (await caches.open("moodwing-on-device-v1")).keys()).map((r) => new URL(r.url).pathname)),
    kept_instances: await page.evaluate(async () => {
      const names = [];
      for await (const name of (await navigator.storage.getDirectory()).keys()) names.push(name);
      return names;
    }),
  }));
});
