import { readFile, stat } from 'node:fs/promises';

/**
 * The bearer token the relay presents to the audit service: a fixed value, or the content of
 * a file re-read whenever it changes (so a token rotated by the platform, e.g. a mounted
 * secret, is used without a restart). Undefined when neither is configured (header mode).
 */
export function serviceTokenSource(opts: { token?: string; file?: string }): () => Promise<string | undefined> {
  if (opts.token) return async () => opts.token;
  const file = opts.file;
  if (!file) return async () => undefined;
  let cached: { mtimeMs: number; token: string } | undefined;
  return async () => {
    const { mtimeMs } = await stat(file);
    if (cached?.mtimeMs !== mtimeMs) cached = { mtimeMs, token: (await readFile(file, 'utf8')).trim() };
    return cached.token;
  };
}
