/**
 * PostgreSQL error classification by SQLSTATE, read from the driver error sequelize wraps.
 * By code, not `instanceof`: classes differ across module realms (e.g. under jest).
 */
export function pgErrorCode(err: unknown): string | undefined {
  const e = err as { parent?: { code?: string }; original?: { code?: string }; code?: string } | undefined;
  return e?.parent?.code ?? e?.original?.code ?? (typeof e?.code === 'string' ? e.code : undefined);
}

/** The constraint a unique violation hit, e.g. `mcp_definitions_name_key`. */
export function violatedConstraint(err: unknown): string | undefined {
  const e = err as { parent?: { constraint?: string }; original?: { constraint?: string } } | undefined;
  return e?.parent?.constraint ?? e?.original?.constraint;
}

export const UNIQUE_VIOLATION = '23505';
