// What the end-to-end tests read in a window's log.

/**
 * The warnings the framework (Dioxus) wrote to a window's log, one line each: a signal
 * written while a component renders, read outside a reactive scope, or used after its
 * owner was dropped, and any other warning of Dioxus's. Colours are taken out first.
 */
export function warningsIn(log) {
  // eslint-disable-next-line no-control-regex
  const plain = log.replace(/\x1b\[[0-9;]*m/g, '');
  return plain.split('\n').filter((line) => /\bWARN\b/.test(line) && /dioxus/i.test(line));
}

/**
 * Keeps everything a child process writes (stdout and stderr, which must be pipes) in
 * `logs.text`, and passes it on to this process's own output.
 */
export function keepLog(child, logs) {
  for (const [from, to] of [[child.stdout, process.stdout], [child.stderr, process.stderr]]) {
    from?.on('data', (d) => {
      logs.text += d;
      to.write(d);
    });
  }
}

/** Checks that a log holds no Dioxus warning, and says the first if it does. */
export function checkNoWarnings(check, what, log) {
  const warnings = warningsIn(log);
  check(warnings.length === 0, `${what}: no Dioxus warning in the window's log (${warnings.length}${warnings.length ? `, the first: ${warnings[0].slice(0, 300)}` : ''})`);
}
