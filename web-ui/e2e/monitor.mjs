// Opens the monitor page in Debian's headless Chromium as the operator would, with screenshots.
//
//   node monitor.mjs <monitor page url> <operator token> <screenshot dir>
//
// A wrong token first (refused, asked again), then the right one; the page must show the charts,
// the newest rejections and the radar's suspicion, and keep the token across a reload.
// Prints one JSON line with what the page showed; the caller compares it with what it stored.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { newPage, run } from "./chromium.mjs";

const [pageUrl, token, shots] = process.argv.slice(2);
if (!pageUrl || !token || !shots) {
  console.error("usage: node monitor.mjs <monitor page url> <operator token> <screenshot dir>");
  process.exit(2);
}
mkdirSync(shots, { recursive: true });

await run(async (browser, failures) => {
  const page = await newPage(browser, failures, { viewport: { width: 1100, height: 900 } });
  page.setDefaultTimeout(30_000);
  const shot = async (name) => {
    const path = join(shots, name);
    await page.screenshot({ path, fullPage: true });
    console.error(`screenshot ${path}`);
  };

  await page.goto(pageUrl);
  await page.locator("#token").fill("not the operator token, but long enough");
  await page.locator("#open-monitor").click();
  await page.locator("#monitor-error").waitFor();
  const refused = await page.locator("#monitor-error").textContent();
  if (!refused.includes("refused")) failures.push(`a wrong token shows: ${refused}`);

  await page.locator("#token").fill(token);
  await shot("09-monitor-token.png");
  await page.locator("#open-monitor").click();
  await page.locator("#rejection-chart").waitFor();
  await page.locator("#radar-chart").waitFor();
  await shot("10-monitor.png");

  const seen = {
    rejections: await page.locator("#rejections-24h").textContent(),
    series: await page.locator("#rejection-chart .series")
      .evaluateAll((nodes) => nodes.map((node) => node.getAttribute("data-model"))),
    recent: await page.locator("#recent").textContent(),
    radar_windows: await page.locator("#radar-chart .window").count(),
    flagged_windows: await page.locator("#radar-chart .window.flagged").count(),
    suspicions: await page.locator("#suspicions").textContent(),
    backlog: await page.locator("#backlog").textContent(),
  };

  // The token is kept for the tab: a reload opens the monitor directly.
  await page.reload();
  await page.locator("#rejection-chart").waitFor();
  if (await page.locator("#token").count()) failures.push("the token was asked again after a reload");

  console.log(JSON.stringify(seen));
});
