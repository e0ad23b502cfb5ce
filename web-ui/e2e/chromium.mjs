// What every browser journey shares: Debian's headless Chromium, launched for a test machine, and
// one way to fail (every problem listed, exit 1).
import { chromium } from "playwright-core";

export const ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
  "--disable-component-update", "--disable-sync"];
export const EXECUTABLE = process.env.CHROMIUM ?? "/usr/bin/chromium";

// Run `journey(browser, failures)`; failures it records, or the error it throws, fail the script.
// With `profile` (a folder), `browser` is a context whose profile is kept there across runs, as a
// person's browser keeps its service worker and caches.
export async function run(journey, { profile } = {}) {
  const options = { executablePath: EXECUTABLE, args: ARGS };
  const browser = profile ? await chromium.launchPersistentContext(profile, options) : await chromium.launch(options);
  const failures = [];
  try {
    await journey(browser, failures);
  } catch (error) {
    failures.push(String(error));
  } finally {
    await browser.close();
  }
  if (failures.length) {
    console.error(failures.join("\n"));
    process.exit(1);
  }
}

// A page whose script errors are failures and whose console errors are shown.
export async function newPage(browser, failures, options = {}) {
  const page = await browser.newPage(options);
  page.on("pageerror", (error) => failures.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") console.error(`browser console: ${message.text()}`);
  });
  return page;
}
