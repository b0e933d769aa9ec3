import { z } from 'zod';

/** Reusable environment-variable parsers: every value arrives as a string. */

export const envPort = (defaultPort: number) => z.coerce.number().int().min(0).max(65535).default(defaultPort);

export const envInt = (defaultValue: number, min: number, max: number) =>
  z.coerce.number().int().min(min).max(max).default(defaultValue);

const bool = () =>
  z.enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'expected true or false' }).transform((v) => v === 'true' || v === '1' || v === 'yes');

export const envBool = (defaultValue: boolean) => bool().default(defaultValue);

/** A boolean whose default depends on other settings: undefined when unset (zod 4 would apply a `.default` inside `.optional`). */
export const envBoolOptional = () => bool().optional();

export const envPostgresUrl = z
  .string()
  .regex(/^postgres(ql)?:\/\//, { message: 'expected a postgres:// URL' });

export const envHttpUrl = z.string().regex(/^https?:\/\//, { message: 'expected an http:// or https:// URL' });

/**
 * A size threshold in bytes, or `off` (never): `off` becomes Infinity, which every size is below.
 * Rejects anything else, so a typo cannot silently fall back to the default.
 */
export const envBytesOrOff = (defaultValue: number) =>
  z
    .string()
    .regex(/^(off|\d+)$/, { message: 'expected a number of bytes or off' })
    .default(String(defaultValue))
    .transform((v) => (v === 'off' ? Number.POSITIVE_INFINITY : Number(v)));

export const envLogLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info');
