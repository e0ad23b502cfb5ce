// Uses the built SPA in Debian's headless Chromium as a person would, with a screenshot of each step.
//
//   node spa.mjs <page url> <feedback api base> <screenshot dir>
//
// Two journeys: a rejection that is recorded at once, then a validation whose first send fails
// (the feedback API is made unreachable for the page) and is recorded by the Retry button.
// Prints one JSON line with what the page showed; the caller checks the store and the receiver.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { newPage, run } from "./chromium.mjs";

const [pageUrl, feedbackApi, shots] = process.argv.slice(2);
if (!pageUrl || !feedbackApi || !shots) {
  console.error("usage: node spa.mjs <page url> <feedback api base> <screenshot dir>");
  process.exit(2);
}
mkdirSync(shots, { recursive: true });

const REJECTED = "@AirParadis lost my bag again and nobody answers the phone. Worst trip ever.";
const VALIDATED = "@AirParadis thank you for the upgrade, the crew was wonderful!";
const TIMEOUT = 30_000;

let step = 0;
await run(async (browser, failures) => {
  const page = await newPage(browser, failures, { viewport: { width: 1000, height: 800 } });
  page.setDefaultTimeout(TIMEOUT);
  const shot = async (name) => {
    step += 1;
    const path = join(shots, `${String(step).padStart(2, "0")}-${name}.png`);
    await page.screenshot({ path, fullPage: true });
    console.error(`screenshot ${path}`);
  };
  const expect = (ok, what) => { if (!ok) failures.push(what); };

  // Requests for a prediction from the edge service: none while the model runs on the device.
  let edgePredictions = 0;
  page.on("request", (request) => {
    if (request.url().endsWith("/api/predict")) edgePredictions += 1;
  });

  await page.goto(pageUrl);
  await page.locator("#tweet").waitFor();
  // The on-device model loads in its worker, then is the default.
  await page.locator("#mode-device:checked").waitFor();
  expect(await page.locator("#predict").isDisabled(), "Predict is enabled with an empty tweet");
  await shot("empty");

  // Over the limit: the count turns red, the reason is shown, Predict stays disabled.
  await page.locator("#tweet").fill("a".repeat(281));
  expect(await page.locator("#predict").isDisabled(), "Predict is enabled over 280 characters");
  expect((await page.locator("form .error").textContent()).includes("1 character over the 280 limit"),
    "no reason shown over the limit");

  // Journey 1: a rejection, sent with a comment, from the keyboard where a person would use it.
  await page.locator("#tweet").fill(REJECTED);
  const count = await page.locator("#count").textContent();
  expect(count === `${[...REJECTED].length} / 280`, `character count shows ${count}`);
  await shot("typed");
  await page.locator("#tweet").press("Control+Enter");
  await page.locator("#label").waitFor();
  const first = {
    label: await page.locator("#label").textContent(),
    model: await page.locator("#model").textContent(),
    latency: await page.locator("#latency").textContent(),
    confidence: await page.locator("[role=meter]").getAttribute("aria-valuenow"),
    where: await page.locator("#where").textContent(),
    edge_predictions: edgePredictions,
  };
  await shot("prediction");
  await page.locator("#no").click();
  await page.locator("#comment").fill("Lost luggage is never good news.");
  await shot("rejecting");
  await page.locator("#send-rejection").click();
  await page.locator("#feedback-status.ok").waitFor();
  const recorded = await page.locator("#feedback-status").textContent();
  // The feedback API takes only signed predictions: the edge service countersigned this one.
  first.edge_predictions_after_feedback = edgePredictions;
  await shot("rejection-recorded");

  // The other mode: computed by the edge service.
  await page.locator("#mode-edge").check();
  // Journey 2: the feedback API is unreachable at first; the page says so and Retry records it.
  await page.route(`${feedbackApi}/**`, (route) => route.abort("connectionrefused"));
  await page.locator("#tweet").fill(VALIDATED);
  await page.locator("#predict").click();
  await page.locator("#yes").waitFor();
  const second = {
    label: await page.locator("#label").textContent(),
    where: await page.locator("#where").textContent(),
  };
  await page.locator("#yes").click();
  await page.locator("#retry").waitFor();
  const failed = await page.locator("#feedback-status").textContent();
  await shot("feedback-api-down");
  await page.unroute(`${feedbackApi}/**`);
  await page.locator("#retry").click();
  await page.locator("#feedback-status.ok").waitFor();
  const history = await page.locator("#history li").allTextContents();
  await shot("validation-recorded-after-retry");

  // Readable on a phone.
  await page.setViewportSize({ width: 390, height: 844 });
  await shot("phone");

  console.log(JSON.stringify({ rejected: { text: REJECTED, ...first, recorded },
    validated: { text: VALIDATED, ...second, failed }, history }));
});
