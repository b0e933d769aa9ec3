/**
 * Fails when the committed generated code (shared/gen) differs from what `buf generate`
 * produces from proto/ now: the contract and the code that implements it must not drift.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(__dirname, '..');
const committed = path.join(root, 'shared/gen');

function listFiles(dir: string, base = dir): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? listFiles(full, base) : [path.relative(base, full)];
  });
}

const out = mkdtempSync(path.join(os.tmpdir(), 'buf-gen-'));
try {
  execFileSync(path.join(root, 'node_modules/.bin/buf'), ['generate', '--output', out], { cwd: root, stdio: 'inherit' });
  const fresh = path.join(out, 'shared/gen');
  const a = new Set(listFiles(committed));
  const b = new Set(listFiles(fresh));
  const problems = [
    ...[...b].filter((f) => !a.has(f)).map((f) => `missing from shared/gen: ${f}`),
    ...[...a].filter((f) => !b.has(f)).map((f) => `not generated from proto/: shared/gen/${f}`),
    ...[...a].filter((f) => b.has(f) && !readFileSync(path.join(committed, f)).equals(readFileSync(path.join(fresh, f)))).map((f) => `stale: shared/gen/${f}`),
  ];
  if (problems.length) {
    console.error(`generated code is out of date; run \`npm run generate\` and commit:\n  ${problems.join('\n  ')}`);
    process.exit(1);
  }
  console.log(`generated code is current (${a.size} files)`);
} finally {
  rmSync(out, { recursive: true, force: true });
}
