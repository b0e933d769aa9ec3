import { z } from 'zod';

/** A configuration value is missing or malformed: start-up must stop and say which variable and why. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Validates environment variables once, at start-up, against a zod schema whose keys are
 * the variable names. Every problem is reported at once, so an operator fixes them in one go.
 */
export function loadConfig<S extends z.ZodObject>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  // Empty strings mean "unset" for environment variables (docker-compose writes `FOO=` for blanks).
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const result = schema.safeParse(cleaned);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((issue) => {
        const key = issue.path.join('.');
        const given = key in cleaned ? ` (got ${JSON.stringify(cleaned[key])})` : '';
        return `${key}: ${issue.message}${given}`;
      }),
    );
  }
  return result.data;
}
