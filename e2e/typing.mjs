// Every keystroke lands: real key presses from X (xdotool), faster than any person
// types, into every kind of field of the real window (a WebKitGTK webview under Xvfb).
//
// For each speed (5 and 10 ms a key) a new journal is set up, and the same 200-character
// text (ASCII with é, ü, ß and an emoji) is typed into each kind of field. After two
// animation frames the field must hold exactly that text, and once saved, `steady list
// --json` must hold it exactly. The passcode typed fast must set up, change and unlock
// the journal. A plain textarea put on the page outside the app is the control: it shows
// that X and the web engine deliver every key at that speed. Then editing in the middle
// of a text (Home, then 20 keys) and a dead key (a dead acute, then e) are typed.
//
//   node typing.mjs PATH-TO-STEADY-BINARY
//
// Prints one line per check, a table of lost characters per field and speed, and
// "typing: N passed, N failed".

import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { check, connect as connectTo, finish, quit, sleep, tally } from './driver.mjs';
import { checkNoWarnings, keepLog } from './log.mjs';

const binary = resolve(process.argv[2] ?? 'target/debug/steady');
const port = 5400 + Math.floor(Math.random() * 400);
const title = `Steady typing ${process.pid}`;

// 200 characters, as a person would write them: no space at either end, and the first
// 60 (a name's most) end on a letter.
const TEXT = 'Trust today looks like telling you where I am before you wonder: the café at 12:30, an über-quiet evening, a Straße walk home. 🌱 Little promises kept, checked in on kindly, and heard fully, every day.';
// The new passcode when it is changed: the same characters, backwards.
const TEXT_BACK = [...TEXT].reverse().join('');
const NAME = [...TEXT].slice(0, 60).join('');
const NAME_BACK = [...TEXT_BACK].slice(0, 60).join('');
const CHARS = [...TEXT].length;

/** Lost characters: how many of `want` are not in `got`, in order (by the longest common subsequence). */
function lost(want, got) {
  const a = [...want];
  const b = [...got];
  let prev = new Array(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i += 1) {
    const row = new Array(b.length + 1).fill(0);
    for (let j = 1; j <= b.length; j += 1) {
      row[j] = a[i - 1] === b[j - 1] ? prev[j - 1] + 1 : Math.max(prev[j], row[j - 1]);
    }
    prev = row;
  }
  return a.length - prev[b.length];
}

function xdo(...args) {
  return execFileSync('xdotool', args, { encoding: 'utf8' }).trim();
}

/**
 * Puts every character of the text that the keyboard lacks (é, ü, ß, the emoji) on a
 * free key of its own, before anything is typed. Otherwise xdotool binds each such
 * character to a spare key as it types it, and at a few milliseconds a key the client
 * can read a key before its new binding: that loses the character in any field, even the
 * control, and says nothing about the app.
 */
function prepareKeymap() {
  const free = execFileSync('xmodmap', ['-pke'], { encoding: 'utf8' })
    .split('\n')
    .map((line) => line.match(/^keycode\s+(\d+) =\s*$/))
    .filter((m) => m && Number(m[1]) > 8)
    .map((m) => m[1]);
  const symbols = ['eacute', 'udiaeresis', 'ssharp', 'U1F331'];
  const args = symbols.flatMap((sym, i) => ['-e', `keycode ${free[i]} = ${sym}`]);
  execFileSync('xmodmap', args);
}

function focusWindow() {
  const id = xdo('search', '--sync', '--name', `^${title}$`).split('\n')[0];
  xdo('windowfocus', '--sync', id);
}

function cli(dataDir, passcode, args) {
  return execFileSync(binary, ['--data-dir', dataDir, ...args], {
    encoding: 'utf8',
    env: { ...process.env, STEADY_PASSCODE: passcode },
  });
}

function launch(dataDir) {
  const env = { ...process.env, DIOXUS_WEBVIEW_AUTOMATION: 'true', WDIO_EMBEDDED_PORT: String(port) };
  // Discovery stays off: this runs in the machine's own network namespace.
  const app = spawn(binary, ['--data-dir', dataDir, '--no-discovery', '--window-title', title, '--window-position', '0,0'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  app.logs = { text: '' };
  keepLog(app, app.logs);
  return app;
}

/** Two animation frames: the page has drawn whatever the last key changed. */
async function frames(browser) {
  await browser.executeAsync((done) => requestAnimationFrame(() => requestAnimationFrame(() => done())));
}

async function waitFor(browser, selector) {
  const el = await browser.$(selector);
  await el.waitForExist({ timeout: 10000 });
  return el;
}

async function tab(browser, slug) {
  await (await waitFor(browser, `[data-tab="${slug}"]`)).click();
  await waitFor(browser, `[data-screen="${slug}"]`);
}

/** One row per field and speed: the table printed at the end. */
const table = [];

/** The field's value once it has stopped changing for a quarter of a second (10 s at most). */
async function settledValue(browser, selector) {
  let before = await browser.execute((s) => document.querySelector(s)?.value, selector);
  for (let i = 0; i < 40; i += 1) {
    await sleep(250);
    const now = await browser.execute((s) => document.querySelector(s)?.value, selector);
    if (now === before) break;
    before = now;
  }
  return before;
}

/**
 * Focuses `selector`, clears it, types `text` with real keys `delay` ms apart, and
 * checks that the field, once quiet, holds exactly `text`: no key lost. How many were
 * still on their way two frames after the last key (late, not lost: the system's queue
 * at 200 keys a second) is recorded in the table, not judged. If a key is lost, the
 * right text is put in by WebDriver, so the rest of the run still measures the others.
 */
async function typeInto(browser, selector, text, delay, what) {
  const field = await waitFor(browser, selector);
  await browser.execute((s) => { const el = document.querySelector(s); el.focus(); el.select?.(); }, selector);
  // As a person's first key comes a moment after the field is tapped.
  await sleep(250);
  xdo('type', '--delay', String(delay), text);
  await frames(browser);
  const early = await browser.execute((s) => document.querySelector(s).value, selector);
  const got = early === text ? early : await settledValue(browser, selector);
  const missing = lost(text, got);
  const late = early === text ? 0 : lost(text, early);
  table.push({ field: what, delay, lost: missing, late, of: [...text].length });
  check(got === text, `${delay} ms a key, ${what}: the field holds exactly what was typed (${missing} of ${[...text].length} lost${late ? `; ${late} arrived after the last key's two frames` : ''}${got === text ? '' : `: ${JSON.stringify(got.slice(0, 60))}…`})`);
  if (got !== text) await field.setValue(text);
}

/**
 * Types `text` into `field` as `typeInto` does, saves its form, and checks that `steady
 * list --json` then holds it exactly (`holds` finds it).
 */
async function typeAndSave(browser, run, { field, form, text = TEXT, what, holds }) {
  await typeInto(browser, field, text, run.delay, what);
  await submit(browser, form);
  check(await saved(run.dataDir, run.passcode, holds), `${run.delay} ms a key: the ${what} is saved exactly`);
}

async function submit(browser, form) {
  await (await waitFor(browser, `[data-form="${form}"] button[type="submit"]`)).click();
}

function entries(dataDir, passcode) {
  return JSON.parse(cli(dataDir, passcode, ['list', '--json']));
}

/** Waits until `steady list --json` holds an entry for which `found` is true. */
async function saved(dataDir, passcode, found) {
  for (let i = 0; i < 50; i += 1) {
    if (entries(dataDir, passcode).some(found)) return true;
    await sleep(100);
  }
  return false;
}

async function run(delay) {
  const dataDir = mkdtempSync(join(tmpdir(), `steady-typing-${delay}-`));
  let app = launch(dataDir);
  let browser;
  let log = '';
  try {
    browser = await connectTo(port);
    await waitFor(browser, '[data-gate="set-up"]');
    // Once the window is up: its start sets the keyboard's map afresh.
    prepareKeymap();
    focusWindow();

    // Setting the passcode.
    await typeInto(browser, '#new-passcode', TEXT, delay, 'passcode, set');
    await typeInto(browser, '#new-passcode-again', TEXT, delay, 'passcode, set (again)');
    await submit(browser, 'set-up');
    await waitFor(browser, '[data-form="welcome"]');
    check(true, `${delay} ms a key: the passcode typed fast set up the journal`);
    let passcode = TEXT;

    // The name, up to its most.
    await typeInto(browser, '#name', NAME, delay, 'name');
    await submit(browser, 'welcome');
    await waitFor(browser, '[data-screen="today"]');

    // The control: a plain textarea on the page, outside the app.
    await browser.execute(() => {
      const plain = document.createElement('textarea');
      plain.id = 'typing-control';
      document.body.prepend(plain);
    });
    await typeInto(browser, '#typing-control', TEXT, delay, 'control (a plain textarea outside the app)');
    await browser.execute(() => document.getElementById('typing-control').remove());

    const run = { delay, dataDir, passcode };
    await typeAndSave(browser, run, { field: '#checkin-text', form: 'checkin', what: "today's check-in", holds: (e) => e.kind === 'checkin' && e.text === TEXT });
    check(await saved(dataDir, passcode, (e) => e.author === NAME), `${delay} ms a key: the name is saved exactly`);

    await tab(browser, 'safety');
    await typeAndSave(browser, run, { field: '#safety-helps-text', form: 'safety-helps', what: 'safety need', holds: (e) => e.kind === 'safety-helps' && e.text === TEXT });

    await tab(browser, 'reflections');
    await typeInto(browser, '#reflection-feeling', TEXT, delay, 'reflection, feeling');
    await typeInto(browser, '#reflection-needing', TEXT, delay, 'reflection, needing');
    await typeInto(browser, '#reflection-understanding', TEXT, delay, 'reflection, understanding');
    await submit(browser, 'reflection');
    check(
      await saved(dataDir, passcode, (e) => e.kind === 'reflection' && e.feeling === TEXT && e.needing === TEXT && e.understanding === TEXT),
      `${delay} ms a key: all three fields of the reflection are saved exactly`,
    );
    // The nudge still follows the words as they are typed, with nothing bound back.
    await typeInto(browser, '#reflection-feeling', 'You never listen to me', delay, 'reflection, a blaming one');
    check(
      await (await browser.$('[data-nudge="blame"]')).waitForExist({ timeout: 5000 }).catch(() => false),
      `${delay} ms a key: the gentle nudge appears as blaming words are typed`,
    );

    await tab(browser, 'agreements');
    await typeAndSave(browser, run, { field: '#agreement-text', form: 'agreement', what: 'agreement', holds: (e) => e.kind === 'agreement' && e.text === TEXT });
    const agreement = entries(dataDir, passcode).find((e) => e.kind === 'agreement');
    await typeInto(browser, `[id="note-${agreement.id}"]`, TEXT, delay, "an agreement's note");
    await (await waitFor(browser, '[data-outcome="kept"]')).click();
    check(
      await saved(dataDir, passcode, (e) => e.id === agreement.id && Object.values(e.check_ins ?? {}).some((c) => c.note === TEXT)),
      `${delay} ms a key: the check-in's note is saved exactly`,
    );
    await (await waitFor(browser, '[data-action="reword"]')).click();
    await typeAndSave(browser, run, { field: `[id="reword-${agreement.id}"]`, form: 'reword', text: TEXT_BACK, what: 'reworded agreement', holds: (e) => e.id === agreement.id && e.text === TEXT_BACK });

    await tab(browser, 'transparency');
    await typeAndSave(browser, run, { field: '#transparency-text', form: 'transparency', what: 'transparency note', holds: (e) => e.kind === 'transparency' && e.text === TEXT });

    await tab(browser, 'us');
    await typeAndSave(browser, run, { field: '#my-name', form: 'my-name', text: NAME_BACK, what: 'changed name', holds: (e) => e.author === NAME_BACK });

    // Changing the passcode.
    await (await waitFor(browser, 'button=Change passcode')).click();
    await typeInto(browser, '#current-passcode', TEXT, delay, 'passcode, current');
    await typeInto(browser, '#next-passcode', TEXT_BACK, delay, 'passcode, new');
    await typeInto(browser, '#next-passcode-again', TEXT_BACK, delay, 'passcode, new (again)');
    await submit(browser, 'passcode');
    check(
      await browser.waitUntil(async () => (await browser.getPageSource()).includes('The passcode is set'), { timeout: 15000 }).catch(() => false),
      `${delay} ms a key: the passcode typed fast was changed`,
    );
    passcode = TEXT_BACK;
    run.passcode = passcode;

    // Entering it: lock, then unlock with the new passcode typed fast.
    await (await waitFor(browser, '[data-action="lock-now"]')).click();
    await waitFor(browser, '[data-gate="locked"]');
    await typeInto(browser, '#passcode', TEXT_BACK, delay, 'passcode, entered');
    await submit(browser, 'unlock');
    check(
      await (await browser.$('[data-screen]')).waitForExist({ timeout: 15000 }).catch(() => false),
      `${delay} ms a key: the passcode typed fast unlocks`,
    );

    // Editing in the middle: Home in 100 characters of text, then 20 keys, fast.
    await tab(browser, 'agreements');
    const start = [...TEXT].slice(0, 100).join('');
    const inserted = [...TEXT].slice(100, 120).join('');
    await typeInto(browser, '#agreement-text', start, delay, 'agreement, 100 characters');
    xdo('key', 'Home');
    await frames(browser);
    xdo('type', '--delay', String(delay), inserted);
    await frames(browser);
    const middle = await settledValue(browser, '#agreement-text');
    table.push({ field: 'editing in the middle', delay, lost: lost(inserted + start, middle), late: 0, of: [...inserted + start].length });
    check(middle === inserted + start, `${delay} ms a key: 20 keys typed after Home land where the cursor was (${JSON.stringify(middle.slice(0, 30))}…)`);
  } catch (err) {
    tally.failed += 1;
    console.log(`not ok - ${delay} ms a key: ${err?.stack ?? err}`);
  } finally {
    log = app.logs.text;
    if (browser) await quit(app, browser);
    else app.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
  checkNoWarnings(check, `${delay} ms a key`, log);
}

/** A dead acute, then e: é, with a keyboard layout that has dead keys. */
async function deadKeys() {
  const dataDir = mkdtempSync(join(tmpdir(), 'steady-typing-dead-'));
  execFileSync(binary, ['--data-dir', dataDir, 'init', '--name', 'Alex', '--no-passcode']);
  const app = launch(dataDir);
  let browser;
  try {
    browser = await connectTo(port);
    await waitFor(browser, '[data-screen="today"]');
    focusWindow();
    execFileSync('setxkbmap', ['-layout', 'us', '-variant', 'intl']);
    await browser.execute(() => document.querySelector('#checkin-text').focus());
    xdo('key', 'dead_acute', 'e', 'dead_acute', 'E');
    await frames(browser);
    const got = await browser.execute(() => document.querySelector('#checkin-text').value);
    check(got === 'éÉ', `a dead acute then e makes é, in the US international layout (${JSON.stringify(got)})`);
  } catch (err) {
    tally.failed += 1;
    console.log(`not ok - dead keys: ${err?.stack ?? err}`);
  } finally {
    execFileSync('setxkbmap', ['-layout', 'us']);
    if (browser) await quit(app, browser);
    else app.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
}

check(CHARS === 200 && TEXT.trim() === TEXT && NAME.trim() === NAME, `the text is 200 characters (${CHARS}), with é, ü, ß and an emoji`);
for (const delay of [5, 10]) await run(delay);
await deadKeys();

console.log('\nlost characters per field (and, after a +, still arriving two frames after the last key):');
const fields = [...new Set(table.map((r) => r.field))];
console.log(`  ${'field'.padEnd(44)} ${'5 ms'.padEnd(11)} 10 ms`);
for (const f of fields) {
  const at = (d) => {
    const r = table.find((x) => x.field === f && x.delay === d);
    return r ? `${r.lost}/${r.of}${r.late ? ` +${r.late}` : ''}` : '-';
  };
  console.log(`  ${f.padEnd(44)} ${at(5).padEnd(11)} ${at(10)}`);
}
finish('typing');
