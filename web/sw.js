// Origo's service worker: shows the notifications Origo sends to this browser by web push.
// The push service hands over the payload Origo encrypted for this browser's subscription,
// already decrypted: JSON `{kind, title, body, url}`.
'use strict';

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

// What to show for a push message (anything but the expected JSON is shown as plain text).
function notificationOf(data) {
  let message = {};
  try {
    message = data ? data.json() : {};
  } catch {
    message = { body: data ? data.text() : '' };
  }
  const title = typeof message.title === 'string' && message.title ? message.title.slice(0, 200) : 'Origo';
  const options = {
    body: typeof message.body === 'string' ? message.body.slice(0, 1000) : '',
    tag: typeof message.kind === 'string' ? message.kind : 'origo',
    data: { url: typeof message.url === 'string' ? message.url : '/' },
  };
  return { title, options };
}

self.addEventListener('push', (event) => {
  const { title, options } = notificationOf(event.data);
  event.waitUntil(self.registration.showNotification(title, options));
});

// A click opens the notification's page (only pages of this origin), or focuses it if open.
self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const target = new URL(event.notification.data?.url || '/', self.location.origin);
  const url = target.origin === self.location.origin ? target.href : self.location.origin + '/';
  event.waitUntil(
    self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then((windows) => {
      const open = windows.find((w) => w.url === url);
      return open ? open.focus() : self.clients.openWindow(url);
    }),
  );
});
