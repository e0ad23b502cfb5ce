// The page's service worker: after one visit, Moodwing opens and predicts with the network cut.
// Same-origin GETs go to the network first (a redeployment is seen at once) and are kept; offline,
// the kept copy answers. The page's own files are hashed by trunk, so the worker learns their names
// from index.html when it installs; the on-device worker and its glue have fixed names (its wasm and
// model are kept by the worker itself, under their sha256).
const CACHE = "moodwing-shell-v1";
const FIXED = ["/", "/config.json", "/ondevice/worker.js", "/ondevice/pkg/moodwing_edge_browser.js"];

// The shell named by one version of index.html.
function shellOf(html) {
  const linked = [...html.matchAll(/(?:href|src)="(\/[^"]+)"/g)].map((match) => match[1]);
  return [...new Set([...FIXED, ...linked])];
}

async function shellFiles() {
  return shellOf(await (await fetch("/index.html", { cache: "no-store" })).text());
}

// After a redeployment the old hashed files are of no use: keep only the new shell's (and pages).
async function prune(cache, html) {
  const keep = new Set(shellOf(html));
  for (const request of await cache.keys()) {
    const path = new URL(request.url).pathname;
    if (!keep.has(path) && /\.(js|wasm|css)$/.test(path)) await cache.delete(request);
  }
}

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await cache.addAll(await shellFiles());
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  // Other origins (the APIs) are not the shell; the runtime and model are kept by the on-device worker.
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/ondevice/model/") || (url.pathname.startsWith("/ondevice/") && url.pathname.endsWith(".wasm"))) return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    try {
      const response = await fetch(event.request);
      // Kept in the background: waiting for the runtime's 11 MB to be written first held up the
      // on-device worker's compilation at every page load.
      if (response.ok) {
        const kept = cache.put(event.request, response.clone());
        event.waitUntil(event.request.mode === "navigate"
          ? Promise.all([kept, response.clone().text().then((html) => prune(cache, html))])
          : kept);
      }
      return response;
    } catch (error) {
      // A page path such as /monitor is the app shell.
      const kept = (await cache.match(event.request))
        ?? (event.request.mode === "navigate" ? await cache.match("/") : undefined);
      if (kept) return kept;
      throw error;
    }
  })());
});
