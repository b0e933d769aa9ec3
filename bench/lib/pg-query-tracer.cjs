/**
 * Diagnostic preload for a benchmarked process (not for production): counts every query sent
 * through the `pg` driver (sequelize and graphile-worker both use it) and the time from
 * sending it to its answer (pool wait excluded, PostgreSQL + socket + driver included).
 *
 *   node --require ./bench/lib/pg-query-tracer.cjs --import tsx <entry>
 *   PG_TRACE_FILE=/tmp/x.jsonl   on SIGUSR2 the counters since the last SIGUSR2 are appended
 *                                to the file as one JSON line and reset
 *
 * Plain CommonJS so it loads with --require before any TypeScript loader.
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const file = process.env.PG_TRACE_FILE;
// Resolve `pg` the way the process's own code does (from the working directory).
const pg = require(require.resolve('pg', { paths: [process.cwd()] }));

/** key → { count, ms } */
let stats = new Map();
let since = Date.now();

function keyOf(text) {
  const t = String(text).replace(/\s+/g, ' ').trim();
  // Keep the statement kind and the table or function it touches.
  return t.length > 90 ? `${t.slice(0, 90)}…` : t;
}

function record(key, ms) {
  let s = stats.get(key);
  if (!s) stats.set(key, (s = { count: 0, ms: 0 }));
  s.count++;
  s.ms += ms;
}

const original = pg.Client.prototype.query;
pg.Client.prototype.query = function tracedQuery(config, values, callback) {
  const text = typeof config === 'string' ? config : config && typeof config.text === 'string' ? config.text : undefined;
  // Submittables (cursors, pg-query-stream) and unknown shapes pass through untouched.
  if (text === undefined || (config && typeof config.submit === 'function')) return original.apply(this, arguments);
  const key = keyOf(text);
  const t0 = process.hrtime.bigint();
  const done = () => record(key, Number(process.hrtime.bigint() - t0) / 1e6);
  const args = Array.prototype.slice.call(arguments);
  const last = args.length - 1;
  if (typeof args[last] === 'function') {
    const cb = args[last];
    args[last] = function tracedCallback() {
      done();
      return cb.apply(this, arguments);
    };
    return original.apply(this, args);
  }
  const result = original.apply(this, args);
  if (result && typeof result.then === 'function') result.then(done, done);
  return result;
};

function dump(label) {
  if (!file) return;
  const queries = [...stats.entries()].map(([sql, s]) => ({ sql, count: s.count, ms: s.ms })).sort((a, b) => b.count - a.count);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.appendFileSync(file, `${JSON.stringify({ label, pid: process.pid, since, until: Date.now(), queries })}\n`);
  stats = new Map();
  since = Date.now();
}

process.on('SIGUSR2', () => dump('signal'));
process.on('exit', () => dump('exit'));
