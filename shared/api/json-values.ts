import type { FieldViolation } from '../errors/app-error';

const MAX_REPORTED = 20;

/**
 * Values a JSON field may carry in protobuf but not past it: PostgreSQL text and jsonb
 * cannot store U+0000, and JSON has no NaN or ±Infinity (they would silently become null).
 * Returns one violation per offending place, by its field path, at most 20.
 */
export function jsonValueViolations(value: unknown, field: string): FieldViolation[] {
  const out: FieldViolation[] = [];
  const walk = (v: unknown, path: string) => {
    if (out.length >= MAX_REPORTED) return;
    if (typeof v === 'string') {
      if (v.includes('\u0000')) out.push({ field: path, description: 'contains a NUL character (U+0000), which cannot be stored' });
    } else if (typeof v === 'number') {
      if (!Number.isFinite(v)) out.push({ field: path, description: `is ${v}; JSON numbers must be finite` });
    } else if (Array.isArray(v)) {
      v.forEach((item, i) => walk(item, `${path}[${i}]`));
    } else if (v !== null && typeof v === 'object') {
      for (const [key, item] of Object.entries(v)) {
        if (key.includes('\u0000')) out.push({ field: path, description: 'has a key containing a NUL character (U+0000)' });
        else walk(item, `${path}.${key}`);
      }
    }
  };
  walk(value, field);
  return out;
}
