/* 家医工作台's service worker (scope /app/): keeps the app shell so that the app opens with no
 * network. The shell holds no resident data: the app keeps that in IndexedDB, and API answers
 * never pass through this cache. Network first, so that an update arrives whenever the phone
 * has a network; the cache answers when it has none. */
const VERSION = "2026-12-03.1";
const SHELL_CACHE = "jiayi-app-shell-" + VERSION;
// The first load: bench/app_load reads this list to weigh it.
const SHELL = [
  "/app/",
  "/app/manifest.webmanifest",
  "/app/static/app.css",
  "/app/static/app.js",
  "/app/static/store.js",
  "/app/static/forms.js",
  "/app/static/labels.js",
  "/app/static/icons/icon-192.png",
  "/app/static/icons/icon-512.png",
  "/app/static/icons/maskable-512.png",
];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(SHELL_CACHE)
    .then((cache) => cache.addAll(SHELL.map((url) => new Request(url, { cache: "reload" }))))
    .then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys()
    .then((names) => Promise.all(names.filter((n) => n.startsWith("jiayi-app-shell-") && n !== SHELL_CACHE)
      .map((n) => caches.delete(n))))
    .then(() => self.clients.claim()));
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  // Only the shell: API requests (and anything else) go to the network untouched.
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  const key = event.request.mode === "navigate" ? "/app/" : url.pathname;
  if (!SHELL.includes(key)) return;
  event.respondWith(fromNetworkElseCache(event.request, key));
});

async function fromNetworkElseCache(request, key) {
  const cache = await caches.open(SHELL_CACHE);
  try {
    const response = await fetch(request);
    if (response.ok) await cache.put(key, response.clone());
    return response;
  } catch (offline) {
    const cached = await cache.match(key);
    if (cached) return cached;
    throw offline;
  }
}
