// Screenshots of the MLflow UI for the docs: the runs, their comparison, the registered models
// with their `champion` alias, and one run's training curves.
//
//   node docs/tools/mlflow-screenshots.mjs <mlflow ui base url> <out dir>
//
// docs/tools/take-screenshots.sh starts `mlflow ui` on training/mlflow.db and calls this.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [base, out] = process.argv.slice(2);
if (!base || !out) {
  console.error("usage: node mlflow-screenshots.mjs <mlflow ui base url> <out dir>");
  process.exit(2);
}
mkdirSync(out, { recursive: true });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.setDefaultTimeout(60_000);
  const shot = async (name) => {
    await page.waitForTimeout(2000); // tables and charts finish rendering
    await page.screenshot({ path: join(out, name), fullPage: true });
    console.error(`screenshot ${join(out, name)}`);
  };

  await page.goto(`${base}/#/experiments/1/runs`, { waitUntil: "load" });
  await page.getByText("tfidf").first().waitFor();
  // The UI opens in its GenAI mode with an assistant panel: switch to model training, close it.
  await page.getByText("Model training").first().click();
  const close = page.locator('button[aria-label="Close"]');
  if (await close.count()) await close.last().click();
  await page.getByText("moodwing-tfidf").first().waitFor();
  await shot("01-runs.png");

  await page.locator('[role=checkbox], input[type=checkbox]').first().click();
  await page.getByRole("button", { name: "Compare" }).click();
  await page.getByText("Metrics").first().waitFor();
  await shot("02-runs-compared.png");
  await page.getByText("Metrics", { exact: true }).last().scrollIntoViewIfNeeded();
  await shot("03-runs-compared-metrics.png");

  await page.goto(`${base}/#/models`, { waitUntil: "load" });
  await page.getByText("moodwing-bert").first().waitFor();
  await shot("04-registered-models.png");

  await page.goto(`${base}/#/models/moodwing-bert`, { waitUntil: "load" });
  await page.getByText("champion").first().waitFor();
  await shot("05-model-champion-alias.png");
} finally {
  await browser.close();
}
