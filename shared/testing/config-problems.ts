import { ConfigError } from '../config/load-config';

/** The problems a configuration loader reports for a bad environment; fails the test if it accepted it. */
export function configProblems(load: () => unknown): readonly string[] {
  try {
    load();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('the configuration was accepted');
}
