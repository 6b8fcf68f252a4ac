// What both end-to-end scenarios need: waiting, and a WebDriver session with a window's
// test-only server once it listens.

import { remote } from 'webdriverio';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A session with the window whose WebDriver server is on `port` (127.0.0.1 only). */
export async function connect(port) {
  for (let i = 0; i < 150; i += 1) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/status`)).ok) break;
    } catch {
      // Not listening yet.
    }
    await sleep(200);
  }
  return remote({
    hostname: '127.0.0.1',
    port,
    path: '/',
    logLevel: 'warn',
    connectionRetryCount: 3,
    capabilities: { browserName: 'dioxus' },
  });
}
