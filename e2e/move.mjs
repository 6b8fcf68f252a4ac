// A move to a new phone between two real windows on one computer: the old phone's
// journal (set up on the command line, with a private entry) moves to a new phone's first
// run through their screens, the code read off the old window and typed into the new one,
// the words checked on both. The new window then shows the journal; the old one says its
// copy is erased, and its folder is gone. Run by e2e/run.sh under Xvfb:
//
//   node e2e/move.mjs PATH-TO-STEADY-BINARY

import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { check, connect, finish, photograph, quit } from './driver.mjs';
import { checkNoWarnings, keepLog } from './log.mjs';

const binary = resolve(process.argv[2] ?? 'target/debug/steady');
const root = resolve(import.meta.dirname, '..');
const shots = join(root, 'target', 'screenshots');
mkdirSync(shots, { recursive: true });
const work = mkdtempSync(join(tmpdir(), 'steady-e2e-move-'));
const oldDir = join(work, 'old-phone');
const newDir = join(work, 'new-phone');
// Clear of the ports fetch refuses to reach (5060 and 5061 among them).
const ports = { old: 5100 + Math.floor(Math.random() * 40), new: 5150 + Math.floor(Math.random() * 40) };
const logs = { text: '' };
const privateText = 'Kept on the old phone until it moved';

function steady(dir, args) {
  return execFileSync(binary, ['--data-dir', dir, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function launch(dir, port, x) {
  const env = { ...process.env, DIOXUS_WEBVIEW_AUTOMATION: 'true', WDIO_EMBEDDED_PORT: String(port) };
  delete env.CARGO_MANIFEST_DIR;
  // Discovery stays off (the machine's own network namespace); loopback for the move.
  const app = spawn(binary, ['--data-dir', dir, '--no-discovery', '--listen', '127.0.0.1:0', '--window-position', `${x},0`], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  keepLog(app, logs);
  return app;
}

async function attribute(browser, selector, name) {
  const element = await browser.$(selector);
  await element.waitForExist({ timeout: 20000 });
  return element.getAttribute(name);
}

steady(oldDir, ['init', '--name', 'Alex', '--no-passcode']);
steady(oldDir, ['add', 'checkin', privateText]);
const before = JSON.parse(steady(oldDir, ['list', '--json']));

const oldApp = launch(oldDir, ports.old, 0);
const newApp = launch(newDir, ports.new, 400);
let oldWindow;
let newWindow;
try {
  oldWindow = await connect(ports.old);
  newWindow = await connect(ports.new);

  // The old phone: Us › Move to a new phone.
  await (await oldWindow.$('[data-tab="us"]')).click();
  await (await oldWindow.$('[data-action="move-out"]')).waitForExist({ timeout: 10000 });
  await (await oldWindow.$('[data-action="move-out"]')).click();
  const code = await attribute(oldWindow, '[data-move-code]', 'data-move-code');
  check(code?.startsWith('steady-move:'), `the old window shows the move's code (${code?.slice(0, 24)}…)`);
  check(await (await oldWindow.$('.qr svg')).isExisting(), 'and a QR code of it');

  // The new phone's first run: "I have Steady on another phone", the code, no passcode.
  await (await newWindow.$('[data-set-up="other-phone"]')).waitForExist({ timeout: 10000 });
  await (await newWindow.$('[data-set-up="other-phone"]')).click();
  await (await newWindow.$('[data-move="passcode-choice"]')).click();
  await (await newWindow.$('#move-code')).setValue(code);
  await (await newWindow.$('[data-move="join"]')).click();

  const wordsNew = await attribute(newWindow, '[data-move-words]', 'data-move-words');
  const wordsOld = await attribute(oldWindow, '[data-move-words]', 'data-move-words');
  check(wordsNew && wordsNew === wordsOld, `both windows show the same words (${wordsOld})`);
  await photograph(join(shots, 'move-words.png'), newWindow);
  await (await oldWindow.$('[data-move="confirm"]')).click();
  await (await newWindow.$('[data-move="confirm"]')).click();

  await (await newWindow.$('[data-screen="today"]')).waitForExist({ timeout: 30000 });
  check(true, 'the new window opens on the journal that arrived');
  await (await oldWindow.$('[data-moved-away]')).waitForExist({ timeout: 30000 });
  check(true, 'the old window says its copy is erased');
  await photograph(join(shots, 'move-done.png'), oldWindow);
  check(!existsSync(oldDir), "the old phone's data folder is gone");
  const after = JSON.parse(steady(newDir, ['list', '--json']));
  check(JSON.stringify(after) === JSON.stringify(before), `the new phone lists exactly what the old one did (${after.length} entries)`);
  check(after.some((e) => e.text === privateText && e.shared === false), 'the private entry arrived, still private');
} catch (e) {
  check(false, `the move between two windows: ${e.message}`);
} finally {
  for (const [app, browser] of [[oldApp, oldWindow], [newApp, newWindow]]) {
    if (browser) await quit(app, browser);
    else app.kill('SIGTERM');
  }
}
checkNoWarnings(check, 'both windows', logs.text);
rmSync(work, { recursive: true, force: true });
check(!existsSync(work), `the move's folders are removed (${work})`);
finish('move');
