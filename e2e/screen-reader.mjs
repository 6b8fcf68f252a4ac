// What a screen reader hears: the window's accessibility tree as Linux screen readers
// read it, through AT-SPI (e2e/atspi_tree.py, with Debian's pyatspi). On Today and on a
// form, the fields and buttons are named as on screen, and the tab bar is a tab list
// whose selected tab is the screen that is open.
//
// Run by e2e/run.sh under Xvfb, inside a D-Bus session of its own:
//   dbus-run-session -- node screen-reader.mjs PATH-TO-STEADY-BINARY

import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { check, connect, finish, quit, sleep, tally } from './driver.mjs';
import { checkNoWarnings, keepLog } from './log.mjs';

const binary = resolve(process.argv[2] ?? 'target/debug/steady');
const tree = new URL('./atspi_tree.py', import.meta.url).pathname;
const port = 5800 + Math.floor(Math.random() * 100);
const dataDir = mkdtempSync(join(tmpdir(), 'steady-atspi-'));
const TABS = ['Today', 'Safety', 'Agreements', 'Reflect', 'Openness', 'Us'];

/** The tree once it holds a node named `wanted`. */
function read(pid, wanted) {
  return JSON.parse(execFileSync('/usr/bin/python3', [tree, String(pid), wanted, '30'], { encoding: 'utf8' }));
}

/** The tab list, its tabs, and which is selected. */
function tabs(nodes) {
  const list = nodes.findIndex((n) => n.role === 'page tab list');
  if (list < 0) return { list: null, tabs: [], selected: [] };
  const depth = nodes[list].depth;
  const inside = [];
  for (let i = list + 1; i < nodes.length && nodes[i].depth > depth; i += 1) inside.push(nodes[i]);
  const all = inside.filter((n) => n.role === 'page tab');
  return { list: nodes[list], tabs: all.map((t) => t.name), selected: all.filter((t) => t.states.includes('selected')).map((t) => t.name) };
}

function has(nodes, role, name, state) {
  return nodes.some((n) => n.role === role && n.name === name && (!state || n.states.includes(state)));
}

/** Reads the tree until the tab `name` is the selected one (the page may lag a click). */
async function selected(pid, name) {
  let nodes = [];
  for (let i = 0; i < 20; i += 1) {
    nodes = read(pid, 'Screens');
    if (tabs(nodes).selected.join() === name) break;
    await sleep(250);
  }
  return nodes;
}

execFileSync(binary, ['--data-dir', dataDir, 'init', '--name', 'Alex', '--no-passcode']);
const logs = { text: '' };
const app = spawn(binary, ['--data-dir', dataDir, '--no-discovery', '--window-position', '0,0'], {
  env: { ...process.env, DIOXUS_WEBVIEW_AUTOMATION: 'true', WDIO_EMBEDDED_PORT: String(port) },
  stdio: ['ignore', 'pipe', 'pipe'],
});
keepLog(app, logs);
let browser;
try {
  browser = await connect(port);
  await (await browser.$('[data-screen="today"]')).waitForExist({ timeout: 15000 });

  // Today.
  let nodes = await selected(app.pid, 'Today');
  const bar = tabs(nodes);
  check(bar.list?.name === 'Screens', `the tab bar is a tab list named "Screens" (${bar.list?.role} ${JSON.stringify(bar.list?.name)})`);
  check(JSON.stringify(bar.tabs) === JSON.stringify(TABS), `its six tabs are named as on screen (${bar.tabs.join(', ')})`);
  check(bar.selected.join() === 'Today', `on Today, Today is the one selected tab (${bar.selected.join(', ') || 'none'})`);
  check(has(nodes, 'entry', 'What does trust look like today?', 'multi line'), "today's check-in is a text field named by its question");
  check(has(nodes, 'push button', "Save today's check-in"), "its button is named \"Save today's check-in\"");
  check(has(nodes, 'toggle button', 'Reflection'), 'the quick ways to write are toggle buttons named by their kind');

  // A form: a reflection, on its own screen.
  await (await browser.$('[data-tab="reflections"]')).click();
  await (await browser.$('[data-screen="reflections"]')).waitForExist({ timeout: 10000 });
  nodes = await selected(app.pid, 'Reflect');
  check(tabs(nodes).selected.join() === 'Reflect', `after a tap on Reflect, Reflect is the one selected tab (${tabs(nodes).selected.join(', ') || 'none'})`);
  for (const name of ['What I was feeling', 'What I was needing', 'What I now understand about you (optional)']) {
    check(has(nodes, 'entry', name, 'multi line'), `the reflection's field "${name}" is a text field with that name`);
  }
  check(has(nodes, 'push button', 'Save privately'), 'its button is named "Save privately"');

  // A passcode field is heard as one, with its label.
  await (await browser.$('[data-tab="us"]')).click();
  await (await browser.$('[data-action="change-passcode"]')).click();
  nodes = await selected(app.pid, 'Us');
  check(has(nodes, 'password text', 'A PIN of 6 digits or more, or a passphrase'), 'a new passcode is a password field named by its label');
} catch (err) {
  tally.failed += 1;
  console.log(`not ok - ${err?.stack ?? err}`);
} finally {
  if (browser) await quit(app, browser);
  else app.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
}
checkNoWarnings(check, 'the window read by a screen reader', logs.text);
finish('screen reader');
