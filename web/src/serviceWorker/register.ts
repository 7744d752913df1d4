// Registers the service worker that keeps the app shell for use offline
// (main.tsx does so in production builds only), once the page has loaded, so
// that the worker's downloads never slow the first visit.

/** Registers `/sw.js` after the load event, where the browser has service workers. */
export function registerServiceWorker(): void {
  if (!("serviceWorker" in navigator)) return;
  const register = () => void navigator.serviceWorker.register("/sw.js").catch(() => undefined);
  if (document.readyState === "complete") register();
  else addEventListener("load", register, { once: true });
}
