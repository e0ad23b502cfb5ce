// Screenshots of web pages for the docs, in Debian's headless Chromium (playwright-core).
//
//   node docs/tools/screenshot.mjs <out.png> <url> [wait-for-text] [width] [height]
//
// Waits for the page to settle and, if given, for a text to be visible (the MLflow UI renders
// after its API calls), so a screenshot never shows a spinner.
import { chromium } from "playwright-core";

const [out, url, waitText, width = "1400", height = "900"] = process.argv.slice(2);
if (!out || !url) {
  console.error("usage: node screenshot.mjs <out.png> <url> [wait-for-text] [width] [height]");
  process.exit(2);
}
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
});
try {
  const page = await browser.newPage({ viewport: { width: Number(width), height: Number(height) } });
  page.setDefaultTimeout(60_000);
  await page.goto(url, { waitUntil: "load" });
  if (waitText) await page.getByText(waitText, { exact: false }).first().waitFor();
  await page.waitForTimeout(1500); // charts animate in
  await page.screenshot({ path: out });
  console.error(`screenshot ${out} of ${url}`);
} finally {
  await browser.close();
}
