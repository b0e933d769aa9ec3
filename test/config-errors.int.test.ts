import { spawn } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..');
const DB = 'postgres://postgres@127.0.0.1:5432/postgres';

/** Runs a service entry with `env` added and waits for it to exit (it must not start). */
function runUntilExit(entry: string, env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, ['--import', 'tsx', entry], {
      cwd: ROOT,
      env: { ...process.env, DATABASE_URL: DB, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      c.kill('SIGKILL');
      reject(new Error(`${entry} did not exit on a bad configuration:\n${stdout}${stderr}`));
    }, 30_000);
    c.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('a bad configuration value stops start-up (real processes)', () => {
  it('audit: exit code 2, one message listing every bad variable, nothing logged as started', async () => {
    const r = await runUntilExit('services/audit/src/main.ts', { AUDIT_PORT: 'eighty', RPC_COMPRESS_MIN_BYTES: '1k' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^audit: invalid configuration:\n/);
    expect(r.stderr).toContain('AUDIT_PORT: ');
    expect(r.stderr).toContain('(got "eighty")');
    expect(r.stderr).toContain('RPC_COMPRESS_MIN_BYTES: expected a number of bytes or off (got "1k")');
    expect(r.stdout).not.toContain('listening');
  });

  it('domain: exit code 2 on a rule between two settings', async () => {
    const r = await runUntilExit('services/domain/src/main.ts', { AUDIT_RELAY_TIMEOUT_MS: '20000', AUDIT_RELAY_LEASE_MS: '30000' });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('domain: invalid configuration:\n  AUDIT_RELAY_LEASE_MS: must be at least twice AUDIT_RELAY_TIMEOUT_MS (got "30000")\n');
    expect(r.stdout).not.toContain('listening');
  });
});
