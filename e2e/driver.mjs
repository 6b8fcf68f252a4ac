// What both end-to-end scenarios need: waiting, and a WebDriver session with a window's
// test-only server once it listens.

import { execFileSync } from 'node:child_process';
import { remote } from 'webdriverio';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The checks passed and failed so far; a scenario ends with `finish`. */
export const tally = { passed: 0, failed: 0 };

/** Records one check and prints it as "ok - what" or "not ok - what". */
export function check(ok, what) {
  if (ok) tally.passed += 1;
  else tally.failed += 1;
  console.log(`${ok ? 'ok' : 'not ok'} - ${what}`);
}

/** Prints "NAME: N passed, N failed" and exits non-zero if any check failed. */
export function finish(name) {
  console.log(`${name}: ${tally.passed} passed, ${tally.failed} failed`);
  process.exit(tally.failed === 0 ? 0 : 1);
}

/** Ends the WebDriver session, then closes the window and waits for it to go. */
export async function quit(app, browser) {
  try {
    await browser.deleteSession();
  } catch {
    // The session may already be gone with the window.
  }
  app.kill('SIGTERM');
  await new Promise((r) => app.once('exit', r));
}

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

/**
 * Photographs the whole (virtual) screen into `file`, and fails if the picture stays one
 * flat colour for three seconds: a window drawn off the screen, or not drawn at all,
 * would otherwise pass unseen. (A window just opened may take a moment to draw.) With
 * `browser`, it waits until the page has drawn its last change.
 */
export async function photograph(file, browser) {
  // The page is photographed as it is drawn: two animation frames after the last change.
  if (browser) await browser.executeAsync((done) => requestAnimationFrame(() => requestAnimationFrame(() => done())));
  for (let i = 0; i < 10; i += 1) {
    execFileSync('import', ['-window', 'root', file]);
    const spread = Number(execFileSync('convert', [file, '-format', '%[fx:standard_deviation]', 'info:'], { encoding: 'utf8' }));
    if (spread > 0.01) return;
    await sleep(300);
  }
  throw new Error(`the photograph ${file} is blank: the window is not on the screen`);
}
