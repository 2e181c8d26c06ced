// The service worker: keeps this origin's pages and assets so a page opens even when the node
// that served it is down (the page then moves to a live origin itself, see origins.js).
//
// Pages: network first (a live node's answer is always fresher), the stored copy if the network
// fails. Assets: their URLs carry their hash, so a stored copy is always right. Nothing else
// (API calls, streams) is ever touched.
'use strict';

const CACHE = 'outlast-pages-v1';
const PAGES = ['/', '/status'];

// Stores the pages and every asset they name (the pages' first load happened before this worker
// was there to see it).
async function storeAll() {
  const cache = await caches.open(CACHE);
  const assets = new Set();
  for (const page of PAGES) {
    const response = await fetch(page, { cache: 'no-store' });
    if (!response.ok) continue;
    const html = await response.clone().text();
    for (const match of html.matchAll(/\/assets\/[A-Za-z0-9._-]+/g)) assets.add(match[0]);
    await cache.put(page, response);
  }
  await cache.addAll([...assets]);
}

self.addEventListener('install', (event) => {
  event.waitUntil(storeAll().then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(self.clients.claim());
});

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== 'GET' || url.origin !== self.location.origin) return;
  if (PAGES.includes(url.pathname) || url.pathname === '/trade') {
    event.respondWith((async () => {
      try {
        const response = await fetch(event.request);
        if (response.ok) (await caches.open(CACHE)).put(event.request, response.clone());
        return response;
      } catch (error) {
        const stored = await caches.match(event.request, { ignoreSearch: true });
        if (stored) return stored;
        throw error;
      }
    })());
  } else if (url.pathname.startsWith('/assets/')) {
    event.respondWith((async () => {
      const stored = await caches.match(event.request);
      if (stored) return stored;
      const response = await fetch(event.request);
      if (response.ok) (await caches.open(CACHE)).put(event.request, response.clone());
      return response;
    })());
  }
});
