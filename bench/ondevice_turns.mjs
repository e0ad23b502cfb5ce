// Two builds of the site, in turns in one run: the first on-device prediction after page load of
// each, cold (an empty profile; in a browser that finished starting, and right after its launch)
// and warm (5 later visits per profile). This 2-core machine is noisy from one run to the next, so
// a change is judged by the ratio of its site to the reference's within one run.
//
//   node bench/ondevice_turns.mjs <profiles> <reference site url> <changed site url>
import { firstPrediction, inFreshBrowser, median, untilKept } from "./first_prediction.mjs";

const [profiles, ...sites] = process.argv.slice(2);
const TWEET = "@AirParadis the crew was lovely but my bag is still in Paris";
const figures = sites.map(() => ({ cold: [], cold_at_launch: [], warm: [] }));
for (let round = 0; round < Number(profiles); round += 1) {
  for (const [index, site] of sites.entries()) {
    const runs = figures[index];
    const visit = (page) => firstPrediction(page, site, TWEET);
    runs.cold_at_launch.push(await inFreshBrowser(visit, { settled: false }));
    await inFreshBrowser(async (page) => {
      runs.cold.push(await visit(page));
      await untilKept(page);
      for (let later = 0; later < 5; later += 1) runs.warm.push(await visit(page));
    }, { settled: true });
  }
}
const [reference, changed] = figures;
console.log(`${profiles} profiles per site, in turns; medians in ms, then changed / reference`);
for (const kind of ["cold", "cold_at_launch", "warm"]) {
  const [before, after] = [median(reference[kind]), median(changed[kind])];
  console.log(`${kind.padEnd(15)} reference ${before.toFixed(0).padStart(5)}  changed ${after.toFixed(0).padStart(5)}  ${(after / before).toFixed(2)}x`);
}
console.log(JSON.stringify({ reference, changed }));
