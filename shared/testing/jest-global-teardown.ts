import { GLOBAL_STATE_KEY, type GlobalState } from './jest-global-setup';

/**
 * jest globalTeardown: stops the embedded PostgreSQL that jest-global-setup.ts started, if any.
 * Its data dir stays for the next run (a restart is much faster than initdb).
 */
export default async function globalTeardown(): Promise<void> {
  const globals = globalThis as Record<string, unknown>;
  const state = globals[GLOBAL_STATE_KEY] as GlobalState | undefined;
  if (!state) return;
  delete globals[GLOBAL_STATE_KEY];
  // Watch mode runs setup again: it must decide afresh, not reuse a URL of a stopped server.
  if (state.previousUrl === undefined) delete process.env.TEST_DATABASE_URL;
  else process.env.TEST_DATABASE_URL = state.previousUrl;
  await state.embedded?.stop();
}
