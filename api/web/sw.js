// Switchboard's service worker: the page starts without a network (the app shell is cached)
// and installs as an app. The API is never cached: statuses, calls and voicemail are live or
// nothing. Shell files are served from the network first, so a new version is used at once, and
// from the cache only when the network fails.
'use strict';

const CACHE = 'switchboard-shell-v2';
const SHELL = ['/', '/phone', '/web/app.css', '/web/app.js', '/web/phone.js', '/web/settings.js', '/web/jssip.js',
  '/web/icon.svg', '/web/icon-192.png', '/web/icon-512.png', '/manifest.webmanifest'];

self.addEventListener('install', (ev) => {
  ev.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (ev) => {
  ev.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

self.addEventListener('fetch', (ev) => {
  const url = new URL(ev.request.url);
  if (ev.request.method !== 'GET' || url.origin !== self.location.origin || !SHELL.includes(url.pathname)) {
    return; // the API, event streams, WAV files: straight to the network
  }
  ev.respondWith(fetch(ev.request)
    .then((res) => {
      if (res.ok) {
        const copy = res.clone();
        caches.open(CACHE).then((c) => c.put(ev.request, copy));
      }
      return res;
    })
    .catch(() => caches.match(ev.request)));
});
