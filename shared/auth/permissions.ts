/** What a call needs. Each RPC maps to exactly one permission (or is public). */
export const PERMISSIONS = [
  'mcp_definitions.read',
  'mcp_definitions.write',
  'workflow_definitions.read',
  'workflow_definitions.write',
  'workflow_runs.read',
  'workflow_runs.execute',
  'audit_log.read',
  'audit_log.write',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

/** An RPC's requirement: a permission, or none at all (health checks). */
export type Requirement = Permission | 'public';

const VIEWER: readonly Permission[] = ['mcp_definitions.read', 'workflow_definitions.read', 'workflow_runs.read'];

/** The default role → permission bindings; AUTH_ROLE_BINDINGS replaces them. */
export const DEFAULT_ROLE_BINDINGS: Readonly<Record<string, readonly Permission[]>> = {
  viewer: VIEWER,
  editor: [...VIEWER, 'mcp_definitions.write', 'workflow_definitions.write'],
  operator: [...VIEWER, 'workflow_runs.execute'],
  auditor: ['audit_log.read'],
  service: ['audit_log.write'],
};

/** The union of the permissions the roles grant; unknown roles grant nothing. */
export function permissionsOf(roles: readonly string[], bindings: Readonly<Record<string, readonly Permission[]>>): Set<Permission> {
  return new Set(roles.flatMap((r) => bindings[r] ?? []));
}
