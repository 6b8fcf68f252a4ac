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
