// Accessibility, measured on the real window (a WebKitGTK webview under Xvfb), in the
// light and the dark theme:
//   - axe-core audits every screen and state this script visits, forms with an error
//     showing included, and fails on any "serious" or "critical" violation;
//   - the edges of controls and the steadiness picture's colours reach 3:1;
//   - every control is at least 44 by 44 CSS pixels;
//   - at twice the text size, nothing scrolls sideways, is cut off or overlaps, and each
//     state is photographed (target/screenshots/a11y-*-200.png);
//   - one whole task (unlock, write, share, check in, and Escape out of a confirmation)
//     by keyboard alone: real key presses from X (xdotool), not synthetic DOM events.
//
//   node access.mjs PATH-TO-STEADY-BINARY
//
// Prints one line per check, a table of the audit per state, and "access: N passed, N failed".

import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { check, connect as connectTo, finish, photograph, quit, sleep, tally } from './driver.mjs';
import { checkNoWarnings, keepLog } from './log.mjs';

/** Everything the windows wrote, to look for the framework's warnings at the end. */
const logs = { text: '' };

const binary = resolve(process.argv[2] ?? 'target/debug/steady');
const root = resolve(new URL('..', import.meta.url).pathname);
const shots = join(root, 'target', 'screenshots');
const axeSource = readFileSync(new URL('./node_modules/axe-core/axe.min.js', import.meta.url), 'utf8');
const port = 4900 + Math.floor(Math.random() * 500);
const title = `Steady access ${process.pid}`;
const passcode = 'our quiet evenings';
mkdirSync(shots, { recursive: true });

/** One row per state and theme, for the summary at the end. */
const table = [];

function launch(dataDir, theme) {
  const env = { ...process.env, DIOXUS_WEBVIEW_AUTOMATION: 'true', WDIO_EMBEDDED_PORT: String(port) };
  if (theme === 'dark') env.GTK_THEME = 'Adwaita:dark';
  else delete env.GTK_THEME;
  // At the screen's corner: without a window manager the window is otherwise placed off
  // the screen, and every photograph comes out black.
  const app = spawn(binary, ['--data-dir', dataDir, '--no-discovery', '--window-title', title, '--window-position', '0,0'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  keepLog(app, logs);
  return app;
}

function cli(dataDir, args, env = {}) {
  return execFileSync(binary, ['--data-dir', dataDir, ...args], {
    encoding: 'utf8',
    env: { ...process.env, STEADY_PASSCODE: passcode, ...env },
  }).trim();
}

async function waitFor(browser, selector) {
  await (await browser.$(selector)).waitForExist({ timeout: 10000 });
}

async function write(browser, selector, text) {
  const field = await browser.$(selector);
  await field.waitForExist({ timeout: 10000 });
  await field.setValue(text);
}

async function click(browser, selector) {
  await (await browser.$(selector)).click();
}

async function submit(browser, form) {
  await click(browser, `[data-form="${form}"] button[type="submit"]`);
}

async function tab(browser, slug) {
  await click(browser, `[data-tab="${slug}"]`);
  await waitFor(browser, `[data-screen="${slug}"]`);
}

async function textOnScreen(browser, text) {
  try {
    await browser.waitUntil(async () => (await browser.getPageSource()).includes(text), { timeout: 10000 });
    return true;
  } catch {
    return false;
  }
}

/** Checks that an error is showing, as an alert, before its state is measured. */
async function showsError(browser) {
  const shown = await (await browser.$('[role="alert"]')).waitForExist({ timeout: 10000 }).catch(() => false);
  const text = shown ? await (await browser.$('[role="alert"]')).getText() : '';
  check(shown, `an error is showing: ${text.split('\n')[0]}`);
}

// ---------------------------------------------------------------------------------------
// What is measured in each state.

/** axe-core's violations on the page as it is now. */
async function axe(browser) {
  if (!(await browser.execute(() => typeof window.axe === 'object'))) {
    await browser.execute(axeSource);
  }
  return browser.executeAsync((done) => {
    window.axe
      .run(document, {
        runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'] },
        resultTypes: ['violations'],
      })
      .then((r) => done(r.violations.map((v) => ({
        id: v.id,
        impact: v.impact,
        help: v.help,
        nodes: v.nodes.slice(0, 3).map((n) => `${n.html.slice(0, 160)} ${n.failureSummary ?? ''}`.replace(/\s+/g, ' ')),
      }))))
      .catch((e) => done([{ id: 'axe-error', impact: 'critical', help: String(e), nodes: [] }]));
  });
}

/**
 * What axe does not measure: the 3:1 edges of controls and of the steadiness picture's
 * marks (WCAG 1.4.11), and 44 by 44 touch targets.
 */
async function ownChecks(browser) {
  return browser.execute(() => {
    const problems = [];
    const parse = (c) => {
      const m = c.match(/rgba?\(([^)]+)\)/);
      if (!m) return null;
      const [r, g, b, a = 1] = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
      return { r, g, b, a };
    };
    const lum = ({ r, g, b }) => {
      const f = (v) => {
        const c = v / 255;
        return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
      };
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const ratio = (x, y) => {
      const [hi, lo] = [lum(x), lum(y)].sort((p, q) => q - p);
      return (hi + 0.05) / (lo + 0.05);
    };
    /** The colour painted behind an element: its nearest ancestor with a background. */
    const behind = (el) => {
      for (let e = el.parentElement; e; e = e.parentElement) {
        const c = parse(getComputedStyle(e).backgroundColor);
        if (c && c.a > 0.5) return c;
      }
      return parse(getComputedStyle(document.body).backgroundColor);
    };
    const visible = (el) => {
      const r = el.getBoundingClientRect();
      const cs = getComputedStyle(el);
      return r.width > 0 && r.height > 0 && cs.visibility !== 'hidden' && cs.display !== 'none';
    };
    const name = (el) => {
      const label = el.getAttribute('aria-label') || el.textContent.trim() || el.id || el.tagName;
      return `${el.tagName.toLowerCase()} "${label.slice(0, 50)}"`;
    };
    const controls = [...document.querySelectorAll('button, input, select, textarea, a[href]')].filter(visible);
    for (const el of controls) {
      // Touch target: a checkbox counts with the label that wraps it.
      const target = el.matches('input[type="checkbox"]') ? (el.closest('label') ?? el) : el;
      const r = target.getBoundingClientRect();
      if (r.width < 43.5 || r.height < 43.5) {
        problems.push(`${name(el)} is ${Math.round(r.width)}x${Math.round(r.height)}, under 44x44`);
      }
      if (el.matches('input[type="checkbox"]')) continue;
      const cs = getComputedStyle(el);
      const back = behind(el);
      const fill = parse(cs.backgroundColor);
      const edge = parseFloat(cs.borderTopWidth) > 0 && cs.borderTopStyle !== 'none' ? parse(cs.borderTopColor) : null;
      const filled = fill && fill.a > 0.5 ? ratio(fill, back) : 0;
      const edged = edge && edge.a > 0.5 ? ratio(edge, back) : 0;
      const textOnly = filled < 1.05 && !edge;
      if (!textOnly && Math.max(filled, edged) < 3) {
        problems.push(`${name(el)}: its edge is ${Math.max(filled, edged).toFixed(2)}:1 against what is behind it`);
      }
    }
    for (const mark of document.querySelectorAll('.steadiness rect, .key')) {
      const colour = parse(mark.matches('rect') ? getComputedStyle(mark).fill : getComputedStyle(mark).backgroundColor);
      const back = behind(mark.closest('svg') ?? mark);
      if (colour && ratio(colour, back) < 3) {
        problems.push(`steadiness colour ${mark.getAttribute('class')} is ${ratio(colour, back).toFixed(2)}:1`);
      }
    }
    return [...new Set(problems)];
  });
}

/** At twice the text size: sideways scrolling, cut-off text and overlaps. */
async function largeTextProblems(browser) {
  return browser.execute(() => {
    const problems = [];
    const de = document.documentElement;
    const width = de.clientWidth;
    if (de.scrollWidth > width + 1) problems.push(`the page scrolls sideways (${de.scrollWidth} px wide in ${width})`);
    const visible = (el) => {
      const r = el.getBoundingClientRect();
      const cs = getComputedStyle(el);
      return r.width > 0 && r.height > 0 && cs.visibility !== 'hidden' && cs.display !== 'none';
    };
    const name = (el) => `${el.tagName.toLowerCase()} "${(el.getAttribute('aria-label') || el.textContent.trim() || el.id).slice(0, 40)}"`;
    // The framework's development-build toast waits off screen; it is not part of the app.
    const all = [...document.body.querySelectorAll('*')].filter((el) => !el.closest('svg, .dx-toast, #dx-toast-template') && visible(el));
    for (const scroller of document.querySelectorAll('main')) {
      if (scroller.scrollWidth > scroller.clientWidth + 1) problems.push(`the screen scrolls sideways (${scroller.scrollWidth} px wide in ${scroller.clientWidth})`);
    }
    for (const el of all) {
      const r = el.getBoundingClientRect();
      if (r.right > width + 1 || r.left < -1) problems.push(`${name(el)} reaches past the screen's edge`);
      const cs = getComputedStyle(el);
      if (['hidden', 'clip'].includes(cs.overflowX) && el.scrollWidth > el.clientWidth + 1) problems.push(`${name(el)} is cut off at the side`);
      else if (cs.overflowX === 'visible' && el.clientWidth > 0 && !el.matches('input, textarea, select') && el.scrollWidth > el.clientWidth + 1) problems.push(`${name(el)}: its contents run out of it sideways (${el.scrollWidth} in ${el.clientWidth})`);
      if (['hidden', 'clip'].includes(cs.overflowY) && el.scrollHeight > el.clientHeight + 1) problems.push(`${name(el)} is cut off at the bottom`);
    }
    // Overlaps between pieces of text and controls, as they are seen: a piece inside the
    // scrolling screen counts only where the screen shows it.
    const shown = (el) => {
      const r = el.getBoundingClientRect();
      const box = { left: r.left, right: r.right, top: r.top, bottom: r.bottom };
      for (let e = el.parentElement; e; e = e.parentElement) {
        if (!['auto', 'scroll', 'hidden'].includes(getComputedStyle(e).overflowY)) continue;
        const c = e.getBoundingClientRect();
        box.left = Math.max(box.left, c.left);
        box.right = Math.min(box.right, c.right);
        box.top = Math.max(box.top, c.top);
        box.bottom = Math.min(box.bottom, c.bottom);
      }
      return box;
    };
    const pieces = all.filter((el) => el.matches('button, input, select, textarea, label, h1, h2, h3, p, li, legend, .badge, figcaption'));
    for (let i = 0; i < pieces.length; i += 1) {
      for (let j = i + 1; j < pieces.length; j += 1) {
        const [a, b] = [pieces[i], pieces[j]];
        if (a.contains(b) || b.contains(a)) continue;
        const [p, q] = [shown(a), shown(b)];
        const w = Math.min(p.right, q.right) - Math.max(p.left, q.left);
        const h = Math.min(p.bottom, q.bottom) - Math.max(p.top, q.top);
        if (w > 1 && h > 1) problems.push(`${name(a)} overlaps ${name(b)}`);
      }
    }
    return [...new Set(problems)];
  });
}

/** Everything measured in one state, recorded for the summary. */
async function state(browser, theme, what) {
  const violations = await axe(browser);
  const serious = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const minor = violations.filter((v) => !serious.includes(v));
  for (const v of serious) console.log(`    ${v.impact} ${v.id}: ${v.help}\n      ${v.nodes.join('\n      ')}`);
  for (const v of minor) console.log(`    (${v.impact}) ${v.id}: ${v.help}: ${v.nodes[0] ?? ''}`);
  check(serious.length === 0, `${theme}, ${what}: no serious or critical axe violation (${serious.length}; ${minor.length} minor)`);
  const own = await ownChecks(browser);
  for (const p of own) console.log(`    ${p}`);
  check(own.length === 0, `${theme}, ${what}: control edges and colours reach 3:1, targets are 44x44`);
  // The layout is the same in both themes: twice the text size is measured in the light one.
  if (theme !== 'light') {
    table.push({ theme, what, serious: serious.length, minor: minor.map((v) => v.id).join(' ') || '-', own: own.length, large: '(light)' });
    return;
  }
  await browser.execute(() => { document.documentElement.style.fontSize = '200%'; });
  await sleep(150);
  const large = await largeTextProblems(browser);
  for (const p of large.slice(0, 10)) console.log(`    ${p}`);
  check(large.length === 0, `${theme}, ${what}: at 200% text nothing scrolls sideways, is cut off or overlaps`);
  const file = `a11y-${theme}-${what.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}-200`;
  await photograph(join(shots, `${file}.png`), browser);
  await browser.execute(() => { document.documentElement.style.fontSize = ''; });
  table.push({ theme, what, serious: serious.length, minor: minor.map((v) => v.id).join(' ') || '-', own: own.length, large: large.length });
}

// ---------------------------------------------------------------------------------------
// Keys, as a keyboard sends them: through X to the focused window.

function xdo(...args) {
  return execFileSync('xdotool', args, { encoding: 'utf8' }).trim();
}

function focusWindow() {
  const id = xdo('search', '--sync', '--name', `^${title}$`).split('\n')[0];
  xdo('windowfocus', '--sync', id);
}

const press = (key) => xdo('key', '--clearmodifiers', key);
// A key every 100 ms: a fast typist's pace. (Faster than about one key in 50 ms, a debug
// build's fields can drop a key while the previous one is still being drawn.)
const type = (text) => xdo('type', '--delay', '100', text);

/** What has focus: a short description, and whether it can be seen. */
async function focused(browser) {
  return browser.execute(() => {
    const el = document.activeElement;
    if (!el || el === document.body) return { what: 'nothing', visible: false };
    const r = el.getBoundingClientRect();
    return {
      what: `${el.tagName.toLowerCase()}#${el.id} ${el.getAttribute('aria-label') ?? el.textContent.trim().slice(0, 30)}`,
      visible: r.width > 0 && r.height > 0 && !el.closest('[hidden]'),
    };
  });
}

/** Presses Tab until `selector` has focus; every stop on the way must be visible. */
async function tabTo(browser, selector, limit = 80) {
  for (let i = 0; i < limit; i += 1) {
    press('Tab');
    await sleep(40);
    const here = await focused(browser);
    // Past the last control, focus leaves the page for a moment before it starts again
    // at the top.
    if (here.what === 'nothing') continue;
    if (!here.visible) {
      check(false, `Tab stopped on something that can't be seen: ${here.what}`);
      return false;
    }
    if (await browser.execute((s) => document.activeElement?.matches(s) ?? false, selector)) return true;
  }
  check(false, `Tab never reached ${selector}`);
  return false;
}

async function focusIs(browser, selector) {
  await sleep(200);
  return browser.execute((s) => document.activeElement?.matches(s) ?? false, selector);
}

async function keyboardTask(browser) {
  focusWindow();
  check(await focusIs(browser, '#passcode'), 'keys: the lock screen puts focus in the passcode field');
  type(passcode);
  press('Return');
  await waitFor(browser, '[data-screen]');
  check(true, 'keys: unlocked with the passcode and Enter');

  if (await tabTo(browser, '[data-tab="agreements"]')) press('Return');
  await waitFor(browser, '[data-screen="agreements"]');
  check(await focusIs(browser, 'main#screen'), 'keys: after a tab change, focus is on the new screen');

  const agreement = 'Call before plans change';
  if (await tabTo(browser, '#agreement-text')) {
    type(agreement);
    press('Return');
  }
  check(await textOnScreen(browser, `${agreement}</p>`), 'keys: wrote an agreement and saved it with Enter');

  if (await tabTo(browser, `[data-action="share"][aria-label="Share with partner: '${agreement}'"]`)) press('space');
  check(
    await browser.waitUntil(
      () => browser.execute((t) => [...document.querySelectorAll('article[data-shared="true"]')].some((a) => a.textContent.includes(t)), agreement),
      { timeout: 10000 },
    ).catch(() => false),
    'keys: shared it with Space',
  );

  if (await tabTo(browser, `[data-outcome="kept"][aria-label^="Kept '${agreement}'"]`)) press('Return');
  check(await textOnScreen(browser, 'Noted: kept.'), 'keys: checked in on it as kept with Enter');

  // A confirmation opens with focus on its safe choice, and Escape closes it.
  await tabTo(browser, '[data-tab="us"]');
  press('Return');
  await waitFor(browser, '[data-screen="us"]');
  if (await tabTo(browser, '[data-action="unpair"]')) press('Return');
  await waitFor(browser, '[data-confirm="unpair"]');
  check(await focusIs(browser, '[data-action="keep-pairing"]'), 'keys: the unpair confirmation opens on "Keep pairing"');
  press('Escape');
  await sleep(300);
  const gone = !(await (await browser.$('[data-confirm="unpair"]')).isExisting());
  check(gone && (await focusIs(browser, '[data-action="unpair"]')), 'keys: Escape closes it, and focus goes back to "Unpair"');
  check(await textOnScreen(browser, 'Paired with'), 'keys: and nothing was unpaired');
}

// ---------------------------------------------------------------------------------------

async function run(theme) {
  const fresh = mkdtempSync(join(tmpdir(), `steady-a11y-${theme}-`));
  const journal = mkdtempSync(join(tmpdir(), `steady-a11y-${theme}-`));
  const partnerDir = mkdtempSync(join(tmpdir(), `steady-a11y-${theme}-partner-`));
  let app;
  let browser;
  try {
    // The first run: the passcode, with and without an error, then the name.
    app = launch(fresh, theme);
    browser = await connectTo(port);
    await waitFor(browser, '[data-gate="set-up"]');
    await state(browser, theme, 'set-up');
    await write(browser, '#new-passcode', passcode);
    await write(browser, '#new-passcode-again', 'something else');
    await submit(browser, 'set-up');
    await showsError(browser);
    await state(browser, theme, 'set-up with an error');
    await click(browser, '[data-set-up="without"]');
    await waitFor(browser, '[data-set-up="no-passcode"]');
    await state(browser, theme, 'set-up without a passcode');
    await click(browser, '[data-set-up="no-passcode"]');
    await waitFor(browser, '[data-form="welcome"]');
    await state(browser, theme, 'welcome');
    await submit(browser, 'welcome');
    await showsError(browser);
    await state(browser, theme, 'welcome with an error');
    await quit(app, browser);

    // A journal with some of everything, locked with a passcode.
    cli(journal, ['init', '--name', 'Alex'], { STEADY_NEW_PASSCODE: passcode });
    cli(journal, ['add', 'checkin', 'A walk together after dinner']);
    cli(journal, ['add', 'safety-helps', 'Hearing the plan before it changes']);
    cli(journal, ['add', 'safety-harder', 'Silence after an argument']);
    cli(journal, ['add', 'reflection', 'Scared and small', '--needing', 'Reassurance that we are okay']);
    const agreement = cli(journal, ['add', 'agreement', 'Text when running late']);
    for (const outcome of ['kept', 'kept', 'missed', 'renegotiated']) cli(journal, ['checkin-agreement', agreement, outcome]);
    const note = cli(journal, ['add', 'transparency', 'Out with Sam until ten', '--from', '19:00', '--to', '22:00']);
    cli(journal, ['share', note]);
    cli(journal, ['archive', cli(journal, ['add', 'safety-helps', 'An old need, set aside'])]);

    app = launch(journal, theme);
    browser = await connectTo(port);
    await waitFor(browser, '[data-gate="locked"]');
    await state(browser, theme, 'locked');
    await write(browser, '#passcode', 'not our passcode');
    await submit(browser, 'unlock');
    await showsError(browser);
    await state(browser, theme, 'locked with an error');
    await write(browser, '#passcode', passcode);
    await submit(browser, 'unlock');
    await waitFor(browser, '[data-screen="today"]');
    await state(browser, theme, 'today');

    // Each kind of entry's form, open on Today, saved empty: its error showing.
    for (const [chip, form] of [['helps', 'safety-helps'], ['reflection', 'reflection'], ['agreement', 'agreement'], ['transparency', 'transparency']]) {
      await click(browser, `[data-add="${chip}"]`);
      await waitFor(browser, `[data-form="${form}"]`);
      await submit(browser, form);
      await showsError(browser);
      await state(browser, theme, `today, the ${form} form with an error`);
      await click(browser, '.notice button');
    }
    await write(browser, '#checkin-text', '   ');
    await submit(browser, 'checkin');
    await showsError(browser);
    await state(browser, theme, "today's check-in with an error");
    await click(browser, '.notice button');

    for (const slug of ['safety', 'agreements', 'reflections', 'transparency', 'us']) {
      await tab(browser, slug);
      await state(browser, theme, slug);
    }
    await tab(browser, 'agreements');
    await click(browser, '[data-action="reword"]');
    await waitFor(browser, '[data-form="reword"]');
    await state(browser, theme, 'agreements, renegotiating the words');
    await write(browser, '[data-form="reword"] input', '   ');
    await submit(browser, 'reword');
    await showsError(browser);
    await state(browser, theme, 'agreements, renegotiating with an error');
    await click(browser, '.notice button');
    await click(browser, '[data-form="reword"] button[type="button"]');
    await tab(browser, 'us');
    await write(browser, '#my-name', '   ');
    await submit(browser, 'my-name');
    await showsError(browser);
    await state(browser, theme, 'us, the name with an error');
    await click(browser, '.notice button');
    await write(browser, '#my-name', 'Alex');
    await submit(browser, 'my-name');
    await write(browser, '#export-passphrase', 'short');
    await click(browser, '[data-export="json"]');
    await showsError(browser);
    await state(browser, theme, 'us, the export with an error');
    await click(browser, '.notice button');
    await click(browser, 'button=Change passcode');
    await waitFor(browser, '[data-form="passcode"]');
    await write(browser, '#current-passcode', passcode);
    await write(browser, '#next-passcode', 'a new passcode');
    await write(browser, '#next-passcode-again', 'another one');
    await submit(browser, 'passcode');
    await showsError(browser);
    await state(browser, theme, 'us, changing the passcode with an error');
    await click(browser, '.notice button');
    await click(browser, '[data-form="passcode"] button[type="button"]');
    await click(browser, 'button=Turn the passcode off');
    await waitFor(browser, '[data-form="remove-passcode"]');
    await write(browser, '#remove-passcode', 'not our passcode');
    await submit(browser, 'remove-passcode');
    await showsError(browser);
    await state(browser, theme, 'us, turning the passcode off with an error');
    await click(browser, '.notice button');
    await click(browser, '[data-form="remove-passcode"] button[type="button"]');
    await click(browser, 'button=See set-aside entries');
    await waitFor(browser, '[data-screen="set-aside"]');
    await state(browser, theme, 'set aside');

    // Pairing: joining (nothing to find with discovery off), inviting, then the words.
    await tab(browser, 'us');
    await write(browser, '#join-code', 'not a code');
    await submit(browser, 'join');
    await showsError(browser);
    await state(browser, theme, 'us, joining with an error');
    await click(browser, '.notice button');
    await write(browser, '#join-code', '2345-6789');
    await submit(browser, 'join');
    await waitFor(browser, '[data-pairing="joining"]');
    await state(browser, theme, 'us, joining');
    await click(browser, '[data-pairing="joining"] button');
    await sleep(500);
    check(!(await (await browser.$('[role="alert"]')).isExisting()), `${theme}: cancelling a join shows no error`);
    await click(browser, '[data-action="invite"]');
    await waitFor(browser, '[data-invite-code]');
    await state(browser, theme, 'us, inviting');
    const link = await (await browser.$('#invite-link')).getValue();
    cli(partnerDir, ['init', '--name', 'Blair', '--no-passcode']);
    execFileSync(binary, ['--data-dir', partnerDir, 'pair', 'join', link, '--no-discovery'], { stdio: 'ignore' });
    await waitFor(browser, '[data-safety-words]');
    await state(browser, theme, 'us, the safety words');
    await click(browser, '[data-action="words-match"]');
    await waitFor(browser, '[data-action="unpair"]');
    await state(browser, theme, 'us, paired');
    await write(browser, '#connect-address', 'not an address');
    await submit(browser, 'connect');
    await showsError(browser);
    await state(browser, theme, 'us, connecting by address with an error');
    await click(browser, '.notice button');
    await click(browser, '[data-action="unpair"]');
    await waitFor(browser, '[data-confirm="unpair"]');
    await state(browser, theme, 'us, the unpair confirmation');
    await click(browser, '[data-action="keep-pairing"]');

    // The whole task by keyboard alone, once, from a locked window.
    if (theme === 'light') {
      await click(browser, '[data-action="lock-now"]');
      await waitFor(browser, '[data-gate="locked"]');
      await keyboardTask(browser);
    }

    // Five wrong passcodes: the wait.
    await tab(browser, 'us');
    await click(browser, '[data-action="lock-now"]');
    await waitFor(browser, '[data-gate="locked"]');
    for (let i = 0; i < 5; i += 1) {
      await write(browser, '#passcode', `wrong guess ${i}`);
      await submit(browser, 'unlock');
      await textOnScreen(browser, 'That passcode is not right');
    }
    await textOnScreen(browser, 'before trying again');
    await state(browser, theme, 'locked, waiting after five wrong tries');
    await quit(app, browser);
    app = null;
  } catch (err) {
    tally.failed += 1;
    console.log(`not ok - ${theme}: ${err?.stack ?? err}`);
  } finally {
    if (app) app.kill('SIGKILL');
    for (const dir of [fresh, journal, partnerDir]) rmSync(dir, { recursive: true, force: true });
  }
}

await run('light');
await run('dark');

console.log('\n| theme | state | serious or critical | minor (rule ids) | edges, colours, targets | at 200% |');
console.log('|---|---|---|---|---|---|');
for (const r of table) console.log(`| ${r.theme} | ${r.what} | ${r.serious} | ${r.minor} | ${r.own} | ${r.large} |`);
checkNoWarnings(check, 'every window of the accessibility run', logs.text);
finish('access');
