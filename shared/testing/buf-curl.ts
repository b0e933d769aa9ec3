import { execFile } from 'node:child_process';
import path from 'node:path';

const REPO_ROOT = path.resolve(__dirname, '../..');
const BUF = path.join(REPO_ROOT, 'node_modules/.bin/buf');

export interface BufResult {
  /** buf curl exits with 8 × the gRPC code on an RPC error (INVALID_ARGUMENT → 24). */
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs `buf curl` (the grpcurl equivalent shipped as a dev dependency) and reports how it ended. */
export function bufCurl(args: string[]): Promise<BufResult> {
  return new Promise((resolve, reject) => {
    execFile(BUF, ['curl', '--timeout', '10s', ...args], { cwd: REPO_ROOT, timeout: 15_000 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') {
        reject(err);
        return;
      }
      resolve({ exitCode: err ? Number(err.code) : 0, stdout, stderr });
    });
  });
}

/** JSON.parse with the offending text in the error, so a failing test shows what buf printed. */
export function parseJson<T>(text: string): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new Error(`not JSON: ${text}`);
  }
}
