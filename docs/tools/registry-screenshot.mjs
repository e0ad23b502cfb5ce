// A screenshot of the team's MLflow server (basic-auth) showing the served models with their alias.
//
//   node docs/tools/registry-screenshot.mjs <server url> <user> <password> <out.png>
//
// training/tests/test_registry.py calls it when MOODWING_REGISTRY_SCREENSHOT names the file
// (docs/tools/take-screenshots.sh sets it).
import { chromium } from "playwright-core";

const [base, username, password, out] = process.argv.slice(2);
if (!out) {
  console.error("usage: node registry-screenshot.mjs <server url> <user> <password> <out.png>");
  process.exit(2);
}
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
});
try {
  const context = await browser.newContext({
    viewport: { width: 1400, height: 800 },
    httpCredentials: { username, password },
  });
  const page = await context.newPage();
  page.setDefaultTimeout(60_000);
  await page.goto(`${base}/#/models/moodwing-lstm/versions/1`, { waitUntil: "load" });
  await page.getByText("champion").first().waitFor();
  const close = page.locator('button[aria-label="Close"]'); // the assistant panel
  if (await close.count()) await close.last().click();
  await page.waitForTimeout(2000); // the page finishes rendering
  await page.screenshot({ path: out, fullPage: true });
  console.error(`screenshot ${out}`);
} finally {
  await browser.close();
}
