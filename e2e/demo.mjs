// Two phones on one computer, as scripts/demo.sh opens them: the two windows pair
// through their own screens (the code typed, the words checked on both), one shares an
// entry and the other shows it, and a screenshot holds both side by side. Then one window
// closes and the script removes everything it made.
//
// Run by e2e/run.sh under Xvfb: node e2e/demo.mjs path/to/steady (built with `e2e`).

import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { check, connect, finish, photograph, sleep, tally } from './driver.mjs';
import { checkNoWarnings } from './log.mjs';

const root = resolve(import.meta.dirname, '..');
const binary = resolve(process.argv[2] ?? 'target/debug/steady');
const shots = join(root, 'target', 'screenshots');
mkdirSync(shots, { recursive: true });
const ports = { alex: 4900 + Math.floor(Math.random() * 50), sam: 4960 + Math.floor(Math.random() * 30) };

// Loopback: the test's WebDriver servers must be reachable from here, outside any
// namespace.
const demo = spawn('bash', [join(root, 'scripts', 'demo.sh')], {
  env: {
    ...process.env,
    STEADY_BIN: binary,
    STEADY_DEMO_NETWORK: 'loopback',
    WDIO_PORT_ALEX: String(ports.alex),
    WDIO_PORT_SAM: String(ports.sam),
  },
  stdio: ['ignore', 'pipe', 'pipe'],
});
let said = '';
demo.stdout.on('data', (d) => {
  said += d;
  process.stdout.write(d);
});
let complained = '';
demo.stderr.on('data', (d) => {
  complained += d;
  process.stderr.write(d);
});
const ended = new Promise((r) => demo.once('exit', r));

async function seen(browser, text, timeout = 15000) {
  try {
    await browser.waitUntil(async () => (await browser.getPageSource()).includes(text), { timeout });
    return true;
  } catch {
    return false;
  }
}

async function tab(browser, slug) {
  await (await browser.$(`[data-tab="${slug}"]`)).click();
  await (await browser.$(`[data-screen="${slug}"]`)).waitForExist({ timeout: 10000 });
}

let workDir = null;
try {
  const alex = await connect(ports.alex);
  const sam = await connect(ports.sam);
  const address = (said.match(/Alex's address: (\S+)/) ?? [])[1];
  check(Boolean(address), `the script says where Alex's phone listens (${address})`);
  workDir = (said.match(/The two journals are in (\S+)\./) ?? [])[1] ?? null;
  check(workDir !== null && existsSync(workDir), `each phone has its journal in a folder of the demo's (${workDir})`);

  await tab(alex, 'us');
  await (await alex.$('[data-action="invite"]')).click();
  const codeBox = await alex.$('[data-invite-code]');
  await codeBox.waitForExist({ timeout: 15000 });
  const code = await codeBox.getText();
  check(/^[2-9A-Z]{4}-[2-9A-Z]{4}$/.test(code), `Alex's phone shows an invite code (${code})`);

  await tab(sam, 'us');
  await (await sam.$('#join-code')).setValue(code);
  await (await sam.$('#join-address')).setValue(address);
  await (await sam.$('[data-form="join"] button[type="submit"]')).click();

  const wordsOf = async (browser) => {
    const box = await browser.$('[data-safety-words]');
    await box.waitForExist({ timeout: 30000 });
    return box.getAttribute('data-safety-words');
  };
  const [alexWords, samWords] = [await wordsOf(alex), await wordsOf(sam)];
  check(alexWords && alexWords === samWords, `both phones show the same words (${alexWords})`);
  await (await alex.$('[data-action="words-match"]')).click();
  await (await sam.$('[data-action="words-match"]')).click();

  const text = 'Dinner at home on Friday, phones away';
  await tab(alex, 'agreements');
  await (await alex.$('#agreement-text')).setValue(text);
  await (await alex.$('[data-form="agreement"] button[type="submit"]')).click();
  await (await alex.$('[data-action="share"]')).click();
  await tab(sam, 'agreements');
  check(await seen(sam, `${text}</p>`, 40000), "the entry Alex shared arrives on Sam's phone");
  // Alex's own card tells the truth at once: it has left Alex's phone.
  const arrivedAt = Date.now();
  const told = await alex
    .waitUntil(
      () => alex.execute((t) => [...document.querySelectorAll('article[data-shared="true"][data-waiting="false"]')]
        .some((a) => a.textContent.includes(t) && a.querySelector('[data-action="unshare"]') && a.querySelector('[data-sent="true"]')), text),
      { timeout: 1000, interval: 50 },
    )
    .catch(() => false);
  check(told, `Alex's card says Shared, with Unshare and that it has left the phone, within 1 s of Sam having it (${Date.now() - arrivedAt} ms)`);
  check(!(await alex.getPageSource()).includes('Not sent yet'), "and nothing on Alex's screen says it is not sent yet");
  check(await seen(sam, 'Up to date'), "Sam's badge says the phones are up to date");
  await sleep(500);
  await photograph(join(shots, 'demo-two-phones.png'), sam);
  check(true, 'both phones photographed side by side');

  // Closing one window ends the demo: the other closes, and what it made is gone.
  await alex.deleteSession().catch(() => {});
  await sam.deleteSession().catch(() => {});
  execFileSync('pkill', ['-f', "window-title Alex's phone"]);
  const code2 = await Promise.race([ended, sleep(15000).then(() => 'timeout')]);
  check(code2 !== 'timeout', "closing Alex's window ends the demo");
  check(!execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).includes("Sam's phone"), "Sam's window closes too");
  check(workDir !== null && !existsSync(workDir), `the demo's journals are removed (${workDir})`);
  checkNoWarnings(check, 'both windows', said + complained);
} catch (err) {
  tally.failed += 1;
  console.log(`not ok - ${err?.stack ?? err}`);
  demo.kill('SIGKILL');
}

finish('demo');
