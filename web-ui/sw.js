// The page's service worker: after one visit, Moodwing opens and predicts with the network cut.
// A file whose name carries its content's hash (`name-<hash>.ext`, scripts/build_spa.py; the on-device worker's
// `?sha256=`) never changes: it is answered from the cache, asked of the network only the first
// time. Other same-origin GETs (the page, config.json) go to the network first (a redeployment is
// seen at once) and are kept; offline, the kept copy answers. The worker learns the shell's names
// from index.html when it installs (the on-device runtime and model are kept by the on-device
// worker itself, under their sha256).
const CACHE = "moodwing-shell-v1";
const FIXED = ["/", "/config.json"];
const VERSIONED = /-[0-9a-f]{16}(_bg)?\.(js|wasm|css)$|\?sha256=[0-9a-f]{64}$/;

// The shell named by one version of index.html: its links and the on-device worker it starts.
function shellOf(html) {
  const linked = [...html.matchAll(/(?:href|src)="(\/[^"]+)"|new Worker\("(\/[^"]+)"/g)].map((match) => match[1] ?? match[2]);
  return [...new Set([...FIXED, ...linked])];
}

async function shellFiles() {
  return shellOf(await (await fetch("/index.html", { cache: "no-store" })).text());
}

// After a redeployment the old hashed files are of no use: keep only the new shell's (and pages).
async function prune(cache, html) {
  const keep = new Set(shellOf(html));
  for (const request of await cache.keys()) {
    const url = new URL(request.url);
    if (!keep.has(url.pathname + url.search) && /\.(js|wasm|css)$/.test(url.pathname)) await cache.delete(request);
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
    const unchanging = VERSIONED.test(url.pathname + url.search) && (await cache.match(event.request));
    if (unchanging) return unchanging;
    try {
      const response = await fetch(event.request);
      // Kept in the background: the page need not wait for the write.
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
