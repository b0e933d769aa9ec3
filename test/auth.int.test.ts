import { randomBytes, randomUUID } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import { FieldMaskSchema } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, createClient, type CallOptions, type Client } from '@connectrpc/connect';
import { Client as PgClient } from 'pg';
import { DEFAULT_ROLE_BINDINGS, type Permission } from '../shared/auth/permissions';
import { Health, HealthCheckResponse_ServingStatus } from '../shared/gen/grpc/health/v1/health_pb';
import { ActionLogEntryView, ActionType, ActorType, EntityType, Outcome } from '../shared/gen/mcpbackend/audit/v1/action_log_entry_pb';
import { AuditService } from '../shared/gen/mcpbackend/audit/v1/audit_service_pb';
import { McpDefinitionService } from '../shared/gen/mcpbackend/mcp/v1/mcp_definition_service_pb';
import { WorkflowService } from '../shared/gen/mcpbackend/workflow/v1/workflow_service_pb';
import { createRpcClientTransport } from '../shared/rpc/client-transport';
import { createTestDatabase, type TestDatabase } from '../shared/testing/test-database';
import { findFreePort } from '../shared/db/embedded-postgres';
import { AUDIT_REQUIREMENTS } from '../services/audit/src/routes';
import { DOMAIN_REQUIREMENTS } from '../services/domain/src/routes';
import { startTestIssuer, type TestIssuer } from './support/jwt-issuer';
import { serviceProcess, type ServiceProcess } from './support/service-process';
import { startStack, type Stack } from './support/stack';
import { bufCurl } from '../shared/testing/buf-curl';

/**
 * AUTH_MODE=jwt end to end: both services as real processes, tokens from a real (local) identity
 * provider whose JWKS is fetched over HTTP, the domain relaying its audit entries with a service
 * token. Token failures, key rotation, the role × RPC access matrix, health/reflection, who the
 * audit log records (verified, forwarded, spoofed), denied attempts and audited reads.
 */

const JWKS_CACHE_MAX_AGE_MS = 1_500;
const JWKS_COOLDOWN_MS = 200;
const DOMAIN_SERVICE_SUB = 'svc-mcp-domain';

let issuer: TestIssuer;
let stack: Stack;
let auditDb: TestDatabase;
let auditPg: PgClient;
let auth: Record<string, string>;

const now = () => Math.floor(Date.now() / 1000);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });
/** A traceparent of a fresh trace: the audit entries a call causes carry its trace id. */
const newTrace = () => {
  const traceId = randomBytes(16).toString('hex');
  return { traceId, traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` };
};

beforeAll(async () => {
  issuer = await startTestIssuer();
  auditDb = await createTestDatabase('auth_audit');
  auth = {
    AUTH_MODE: 'jwt',
    AUTH_ISSUER: issuer.issuer,
    AUTH_AUDIENCE: issuer.audience,
    AUTH_JWKS_URL: issuer.jwksUrl,
    AUTH_CLOCK_SKEW_S: '30',
    AUTH_JWKS_CACHE_MAX_AGE_MS: String(JWKS_CACHE_MAX_AGE_MS),
    AUTH_JWKS_COOLDOWN_MS: String(JWKS_COOLDOWN_MS),
    LOG_LEVEL: 'warn',
  };
  const serviceToken = await issuer.mint({ sub: DOMAIN_SERVICE_SUB, roles: ['service'], exp: now() + 3600, kid: issuer.publishedKids()[0] });
  stack = await startStack({
    // The audit database is ours, so the tests can see exactly what was (not) written.
    // REFLECTION is left unset on the audit service (default: off in jwt mode) and on for the domain.
    audit: { ...auth, AUDIT_DATABASE_URL: auditDb.url },
    domain: { ...auth, DOMAIN_ROLE: 'api', AUDIT_SERVICE_TOKEN: serviceToken, REFLECTION: 'true' },
  });
  auditPg = new PgClient({ connectionString: auditDb.url });
  await auditPg.connect();
}, 60_000);

afterAll(async () => {
  await auditPg?.end();
  await stack?.stop();
  await auditDb?.drop();
  await issuer?.stop();
});

// ---------------------------------------------------------------------------------------------
// helpers

interface AuditRow {
  seq: string;
  event_id: string;
  actor_id: string;
  actor_type: string;
  actor_subject: string;
  actor_issuer: string;
  actor_verified: boolean;
  unverified_actor_id: string;
  action_type: string;
  entity_type: string;
  entity_id: string;
  details: Record<string, unknown>;
  trace_id: string;
  service_name: string;
  client_ip: string;
  user_agent: string;
  outcome: string;
}

async function auditRows(where: string, bind: unknown[] = []): Promise<AuditRow[]> {
  return (await auditPg.query<AuditRow>(`SELECT * FROM action_log_entries WHERE ${where} ORDER BY seq`, bind)).rows;
}

/** Polls until `where` matches at least `count` rows (the relay delivers asynchronously). */
async function auditRowsEventually(where: string, bind: unknown[], count: number, timeoutMs = 15_000): Promise<AuditRow[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = await auditRows(where, bind);
    if (rows.length >= count || Date.now() > deadline) return rows;
    await sleep(100);
  }
}

/** Waits until the domain's outbox is empty: everything it recorded has reached the audit log. */
async function outboxDrained(timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [row] = await stack.domainSql<{ n: string }>('SELECT count(*) AS n FROM audit_outbox');
    if (row!.n === '0') return;
    if (Date.now() > deadline) throw new Error(`audit outbox still holds ${row!.n} entries`);
    await sleep(100);
  }
}

interface CallResult {
  code: Code | 0;
  message: string;
}

async function outcome(p: Promise<unknown>): Promise<CallResult> {
  try {
    await p;
    return { code: 0, message: '' };
  } catch (err) {
    const ce = ConnectError.from(err);
    return { code: ce.code, message: ce.rawMessage };
  }
}

let counter = 0;
const uniqueName = () => `io.github.auth${++counter}/server-${randomBytes(3).toString('hex')}`;

function mcpDefinition(name: string) {
  return {
    name,
    title: 'Weather',
    description: 'Forecasts',
    version: '1.0.0',
    transport: { case: 'stdio' as const, value: { command: 'node', args: ['server.js'] } },
  };
}

function auditEntry(eventId = randomUUID()) {
  return { eventId, actionType: ActionType.CREATE, entityType: EntityType.MCP_DEFINITION, entityId: `io.github.direct/${eventId}`, details: { via: 'direct' } };
}

const mcpRows = async (name: string) => stack.domainSql('SELECT name FROM mcp_definitions WHERE name = $1', [name]);

// ---------------------------------------------------------------------------------------------
// 0. the fixture itself: health is public, readiness works in jwt mode

describe('health and reflection', () => {
  test('health Check needs no token on either service (and ignores a bad one)', async () => {
    for (const url of [stack.audit.url, stack.domain.url]) {
      const health = createClient(Health, createRpcClientTransport({ baseUrl: url, protocol: 'grpc' }));
      expect((await health.check({ service: '' })).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
      expect((await health.check({ service: '' }, { headers: bearer('garbage') })).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    }
  });

  test('reflection works with REFLECTION=true, without a token (domain)', async () => {
    const on = await bufCurl(['--list-services', stack.domain.url]);
    expect(on.exitCode).toBe(0);
    expect(on.stdout).toContain('mcpbackend.mcp.v1.McpDefinitionService');
    expect(on.stdout).toContain('mcpbackend.workflow.v1.WorkflowService');
  });

  test('reflection is off by default in jwt mode: REFLECTION unset → UNIMPLEMENTED (audit)', async () => {
    const off = await bufCurl(['--list-services', stack.audit.url]);
    // buf curl: "Failure: unimplemented: HTTP status 404 Not Found", exit 1.
    expect(off).toMatchObject({ exitCode: 1, stdout: '', stderr: expect.stringMatching(/unimplemented/i) });
  });
});

// ---------------------------------------------------------------------------------------------
// 1. token failures

describe('token failures → UNAUTHENTICATED, nothing written but the DENIED entry', () => {
  type Case = { what: string; header: () => Promise<string | undefined>; reason: string };
  const editor = { sub: 'ed-tokens', roles: ['editor'] };
  const cases: Case[] = [
    { what: 'missing token', header: async () => undefined, reason: 'missing bearer token' },
    { what: 'not a Bearer header', header: async () => 'Basic dXNlcjpwYXNzd29yZA==', reason: 'malformed authorization header' },
    { what: 'Bearer with two tokens', header: async () => `Bearer ${await issuer.mint(editor)} extra`, reason: 'malformed authorization header' },
    { what: 'Bearer with no token', header: async () => 'Bearer ', reason: 'malformed authorization header' },
    { what: 'expired beyond the skew', header: async () => `Bearer ${await issuer.mint({ ...editor, exp: now() - 120 })}`, reason: 'token expired' },
    { what: 'not yet valid beyond the skew', header: async () => `Bearer ${await issuer.mint({ ...editor, nbf: now() + 120 })}`, reason: 'token not yet valid' },
    { what: 'wrong issuer', header: async () => `Bearer ${await issuer.mint({ ...editor, iss: 'https://evil.example/' })}`, reason: 'token claim "iss" is not accepted' },
    { what: 'wrong audience', header: async () => `Bearer ${await issuer.mint({ ...editor, aud: 'some-other-api' })}`, reason: 'token claim "aud" is not accepted' },
    { what: 'no exp', header: async () => `Bearer ${await issuer.mint({ ...editor, exp: null })}`, reason: 'token claim "exp" is not accepted' },
    { what: 'unknown kid', header: async () => `Bearer ${await issuer.forgeWrongKey({ ...editor, headerKid: 'not-in-the-jwks' })}`, reason: 'token signed by an unknown key' },
    { what: 'known kid, wrong key', header: async () => `Bearer ${await issuer.forgeWrongKey({ ...editor, alg: 'ES256' })}`, reason: 'token signature invalid' },
    {
      // An EC-signed token that names the published RSA key: jose only matches a JWKS key whose
      // type fits the algorithm, so there is no key to verify with.
      what: 'key of the wrong type for the algorithm',
      header: async () => `Bearer ${await issuer.forgeWrongKey({ ...editor, alg: 'ES256', headerKid: issuer.publishedKids().find((k) => k.startsWith('rs256-')) })}`,
      reason: 'token signed by an unknown key',
    },
    { what: 'alg none', header: async () => `Bearer ${issuer.forgeNone(editor)}`, reason: 'token algorithm not allowed' },
    { what: 'HS256 (not allowed)', header: async () => `Bearer ${await issuer.forgeHs256('a-shared-secret-of-at-least-32-characters!', editor)}`, reason: 'token algorithm not allowed' },
    { what: 'garbage JWT', header: async () => `Bearer ${issuer.garbage()}`, reason: 'token malformed' },
    { what: 'garbage characters', header: async () => 'Bearer <script>', reason: 'malformed authorization header' },
  ];
  const attempted: { name: string; c: Case }[] = [];

  test.each(cases)('domain CreateMcpDefinition: $what → "$reason"', async (c) => {
    const name = uniqueName();
    const header = await c.header();
    const res = await outcome(stack.mcp.createMcpDefinition({ mcpDefinition: mcpDefinition(name) }, { headers: header === undefined ? {} : { authorization: header } }));
    expect(res).toEqual({ code: Code.Unauthenticated, message: c.reason });
    expect(await mcpRows(name)).toHaveLength(0);
    attempted.push({ name, c });
  });

  test('each refused create left exactly one DENIED entry (anonymous, unverified, with the reason) and no resource', async () => {
    expect(attempted).toHaveLength(cases.length);
    await outboxDrained();
    for (const { name, c } of attempted) {
      const rows = await auditRows('entity_id = $1', [name]);
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({
        outcome: 'DENIED',
        action_type: 'CREATE',
        entity_type: 'MCP_DEFINITION',
        actor_id: 'anonymous',
        actor_verified: false,
        actor_subject: '',
        service_name: DOMAIN_SERVICE_SUB,
        details: { code: 'unauthenticated', reason: c.reason, procedure: 'mcpbackend.mcp.v1.McpDefinitionService/CreateMcpDefinition' },
      });
      expect(await mcpRows(name)).toHaveLength(0);
    }
  });

  test('direct audit writes with bad tokens: UNAUTHENTICATED, the entry is not written, one DENIED entry is', async () => {
    const bad: [string, string | undefined, string][] = [
      ['missing', undefined, 'missing bearer token'],
      ['expired', `Bearer ${await issuer.mint({ sub: 'svc-x', roles: ['service'], exp: now() - 120 })}`, 'token expired'],
      ['forged service token', `Bearer ${await issuer.forgeWrongKey({ sub: 'svc-x', roles: ['service'] })}`, 'token signature invalid'],
      ['alg none service token', `Bearer ${issuer.forgeNone({ sub: 'svc-x', roles: ['service'] })}`, 'token algorithm not allowed'],
    ];
    for (const [what, header, reason] of bad) {
      const entry = auditEntry();
      const { traceId, traceparent } = newTrace();
      const headers: Record<string, string> = { traceparent, 'x-user-id': 'mallory' };
      if (header) headers.authorization = header;
      const res = await outcome(stack.auditClient.createActionLogEntry({ actionLogEntry: entry }, { headers }));
      expect({ what, ...res }).toEqual({ what, code: Code.Unauthenticated, message: reason });
      expect(await auditRows('event_id = $1', [entry.eventId])).toHaveLength(0);
      const denied = await auditRows('trace_id = $1', [traceId]);
      expect(denied).toHaveLength(1);
      expect(denied[0]).toMatchObject({
        outcome: 'DENIED',
        action_type: 'CREATE',
        entity_type: 'ACTION_LOG',
        actor_id: 'anonymous',
        actor_verified: false,
        unverified_actor_id: 'mallory',
        details: { code: 'unauthenticated', reason, procedure: 'mcpbackend.audit.v1.AuditService/CreateActionLogEntry' },
      });
    }
  });

  // jose checks only that `sub` is present: today an empty sub is accepted and its actions are recorded as
  // actor "system" with actor_verified true; a numeric or object sub is stringified into actor_id.
  test.each([
    ['empty', ''],
    ['a number', 42],
    ['an object', { id: 'x' }],
  ])('a token whose sub is %s is UNAUTHENTICATED (no actor-less or non-string actor)', async (_what, sub) => {
    const name = uniqueName();
    const token = await issuer.mint({ roles: ['editor'], claims: { sub } });
    const res = await outcome(stack.mcp.createMcpDefinition({ mcpDefinition: mcpDefinition(name) }, { headers: bearer(token) }));
    expect(await mcpRows(name)).toHaveLength(0);
    expect(res.code).toBe(Code.Unauthenticated);
  });

  test('clock skew: expired 5 s ago and valid in 5 s are both accepted with AUTH_CLOCK_SKEW_S=30', async () => {
    const expired = await issuer.mint({ sub: 'skew-viewer', roles: ['viewer'], exp: now() - 5 });
    const early = await issuer.mint({ sub: 'skew-viewer', roles: ['viewer'], nbf: now() + 5 });
    const auditorExpired = await issuer.mint({ sub: 'skew-auditor', roles: ['auditor'], exp: now() - 5 });
    await expect(stack.mcp.listMcpDefinitions({ pageSize: 1 }, { headers: bearer(expired) })).resolves.toBeDefined();
    await expect(stack.mcp.listMcpDefinitions({ pageSize: 1 }, { headers: bearer(early) })).resolves.toBeDefined();
    await expect(stack.auditClient.verifyActionLog({}, { headers: bearer(auditorExpired) })).resolves.toBeDefined();
  });

  test('every published algorithm verifies: RS256, ES256, EdDSA (Ed25519)', async () => {
    for (const alg of ['RS256', 'ES256', 'EdDSA'] as const) {
      const token = await issuer.mint({ sub: `alg-${alg}`, roles: ['viewer'], alg });
      expect({ alg, ...(await outcome(stack.mcp.listMcpDefinitions({ pageSize: 1 }, { headers: bearer(token) }))) }).toEqual({ alg, code: 0, message: '' });
    }
  });
});

// ---------------------------------------------------------------------------------------------
// 2. key rotation

test('key rotation: a new kid verifies without a restart; the old one until it is removed and the cache expires', async () => {
  const oldKid = await issuer.addKey('RS256', `rot-old-${randomBytes(2).toString('hex')}`);
  await sleep(JWKS_COOLDOWN_MS + 100);
  const oldViewer = await issuer.mint({ sub: 'rot-viewer', roles: ['viewer'], kid: oldKid });
  const oldAuditor = await issuer.mint({ sub: 'rot-auditor', roles: ['auditor'], kid: oldKid });
  const domainCall = (t: string) => outcome(stack.mcp.listMcpDefinitions({ pageSize: 1 }, { headers: bearer(t) }));
  const auditCall = (t: string) => outcome(stack.auditClient.verifyActionLog({}, { headers: bearer(t) }));
  const ok = { code: 0, message: '' };
  expect(await domainCall(oldViewer)).toEqual(ok);
  expect(await auditCall(oldAuditor)).toEqual(ok);

  // The provider publishes a new key (EdDSA); both services fetch it when they first see its kid.
  const newKid = await issuer.addKey('EdDSA', `rot-new-${randomBytes(2).toString('hex')}`);
  await sleep(JWKS_COOLDOWN_MS + 100);
  const newViewer = await issuer.mint({ sub: 'rot-viewer', roles: ['viewer'], kid: newKid });
  const newAuditor = await issuer.mint({ sub: 'rot-auditor', roles: ['auditor'], kid: newKid });
  expect(await domainCall(newViewer)).toEqual(ok);
  expect(await auditCall(newAuditor)).toEqual(ok);
  // The old key is still published: its tokens still verify.
  expect(await domainCall(oldViewer)).toEqual(ok);
  expect(await auditCall(oldAuditor)).toEqual(ok);

  // Retire the old key; once the cached key set is older than AUTH_JWKS_CACHE_MAX_AGE_MS it is refetched.
  issuer.removeKey(oldKid);
  await sleep(JWKS_CACHE_MAX_AGE_MS + 300);
  const refused = { code: Code.Unauthenticated, message: 'token signed by an unknown key' };
  expect(await domainCall(oldViewer)).toEqual(refused);
  expect(await auditCall(oldAuditor)).toEqual(refused);
  // A token freshly minted with the retired key is refused too; the new key keeps working.
  expect(await domainCall(await issuer.mint({ sub: 'rot-viewer', roles: ['viewer'], kid: oldKid }))).toEqual(refused);
  expect(await domainCall(newViewer)).toEqual(ok);
  expect(await auditCall(newAuditor)).toEqual(ok);
}, 20_000);

// ---------------------------------------------------------------------------------------------
// 3. the access matrix

type Role = 'viewer' | 'editor' | 'operator' | 'auditor' | 'service' | 'no role' | 'unknown role' | 'no token';

/** The specification (README: Roles), written out independently of the code it checks. */
const ROLE_PERMISSIONS: Record<Exclude<Role, 'no token'>, readonly Permission[]> = {
  viewer: ['mcp_definitions.read', 'workflow_definitions.read', 'workflow_runs.read'],
  editor: ['mcp_definitions.read', 'workflow_definitions.read', 'workflow_runs.read', 'mcp_definitions.write', 'workflow_definitions.write'],
  operator: ['mcp_definitions.read', 'workflow_definitions.read', 'workflow_runs.read', 'workflow_runs.execute'],
  auditor: ['audit_log.read'],
  service: ['audit_log.write'],
  'no role': [],
  'unknown role': [],
};
const ROLES = Object.keys(ROLE_PERMISSIONS) as Exclude<Role, 'no token'>[];

interface Rpc {
  service: { typeName: string };
  method: string;
  permission: Permission;
  /** A refusal of this RPC becomes a DENIED audit entry (mutations and audit writes). */
  recordedWhenDenied: boolean;
  call: (o: CallOptions) => Promise<unknown>;
}

const MISSING_MCP = 'io.github.matrix/missing';
const MISSING_WORKFLOW = 'matrix-missing';
const MISSING_RUN = `workflowRuns/${randomUUID()}`;
const mask = (...paths: string[]) => create(FieldMaskSchema, { paths });

/** Every RPC with a request that is harmless when allowed (NOT_FOUND, INVALID_ARGUMENT, an empty page). */
const RPCS: Rpc[] = [
  { service: McpDefinitionService, method: 'CreateMcpDefinition', permission: 'mcp_definitions.write', recordedWhenDenied: true, call: (o) => stack.mcp.createMcpDefinition({}, o) },
  { service: McpDefinitionService, method: 'GetMcpDefinition', permission: 'mcp_definitions.read', recordedWhenDenied: false, call: (o) => stack.mcp.getMcpDefinition({ name: MISSING_MCP }, o) },
  { service: McpDefinitionService, method: 'ListMcpDefinitions', permission: 'mcp_definitions.read', recordedWhenDenied: false, call: (o) => stack.mcp.listMcpDefinitions({ pageSize: 1 }, o) },
  {
    service: McpDefinitionService,
    method: 'UpdateMcpDefinition',
    permission: 'mcp_definitions.write',
    recordedWhenDenied: true,
    call: (o) => stack.mcp.updateMcpDefinition({ mcpDefinition: { name: MISSING_MCP, description: 'x' }, updateMask: mask('description') }, o),
  },
  { service: McpDefinitionService, method: 'DeleteMcpDefinition', permission: 'mcp_definitions.write', recordedWhenDenied: true, call: (o) => stack.mcp.deleteMcpDefinition({ name: MISSING_MCP }, o) },
  { service: WorkflowService, method: 'CreateWorkflowDefinition', permission: 'workflow_definitions.write', recordedWhenDenied: true, call: (o) => stack.workflows.createWorkflowDefinition({}, o) },
  { service: WorkflowService, method: 'GetWorkflowDefinition', permission: 'workflow_definitions.read', recordedWhenDenied: false, call: (o) => stack.workflows.getWorkflowDefinition({ name: MISSING_WORKFLOW }, o) },
  { service: WorkflowService, method: 'ListWorkflowDefinitions', permission: 'workflow_definitions.read', recordedWhenDenied: false, call: (o) => stack.workflows.listWorkflowDefinitions({ pageSize: 1 }, o) },
  {
    service: WorkflowService,
    method: 'UpdateWorkflowDefinition',
    permission: 'workflow_definitions.write',
    recordedWhenDenied: true,
    call: (o) => stack.workflows.updateWorkflowDefinition({ workflowDefinition: { name: MISSING_WORKFLOW, description: 'x' }, updateMask: mask('description') }, o),
  },
  { service: WorkflowService, method: 'DeleteWorkflowDefinition', permission: 'workflow_definitions.write', recordedWhenDenied: true, call: (o) => stack.workflows.deleteWorkflowDefinition({ name: MISSING_WORKFLOW }, o) },
  { service: WorkflowService, method: 'StartWorkflowRun', permission: 'workflow_runs.execute', recordedWhenDenied: true, call: (o) => stack.workflows.startWorkflowRun({ workflowDefinition: MISSING_WORKFLOW }, o) },
  { service: WorkflowService, method: 'GetWorkflowRun', permission: 'workflow_runs.read', recordedWhenDenied: false, call: (o) => stack.workflows.getWorkflowRun({ name: MISSING_RUN }, o) },
  { service: WorkflowService, method: 'ListWorkflowRuns', permission: 'workflow_runs.read', recordedWhenDenied: false, call: (o) => stack.workflows.listWorkflowRuns({ pageSize: 1 }, o) },
  { service: WorkflowService, method: 'CancelWorkflowRun', permission: 'workflow_runs.execute', recordedWhenDenied: true, call: (o) => stack.workflows.cancelWorkflowRun({ name: MISSING_RUN }, o) },
  {
    service: WorkflowService,
    method: 'WatchWorkflowRun',
    permission: 'workflow_runs.execute',
    recordedWhenDenied: false,
    call: async (o) => {
      for await (const m of stack.workflows.watchWorkflowRun({ name: MISSING_RUN }, o)) {
        void m;
        break;
      }
    },
  },
  { service: AuditService, method: 'CreateActionLogEntry', permission: 'audit_log.write', recordedWhenDenied: true, call: (o) => stack.auditClient.createActionLogEntry({}, o) },
  { service: AuditService, method: 'BatchCreateActionLogEntries', permission: 'audit_log.write', recordedWhenDenied: true, call: (o) => stack.auditClient.batchCreateActionLogEntries({ requests: [] }, o) },
  { service: AuditService, method: 'GetActionLogEntry', permission: 'audit_log.read', recordedWhenDenied: false, call: (o) => stack.auditClient.getActionLogEntry({ name: 'actionLogEntries/999999999' }, o) },
  { service: AuditService, method: 'ListActionLogEntries', permission: 'audit_log.read', recordedWhenDenied: false, call: (o) => stack.auditClient.listActionLogEntries({ pageSize: 1 }, o) },
  { service: AuditService, method: 'VerifyActionLog', permission: 'audit_log.read', recordedWhenDenied: false, call: (o) => stack.auditClient.verifyActionLog({}, o) },
];

describe('access matrix', () => {
  test('the table covers every RPC, agrees with the declared requirements, and the spec agrees with the default bindings', () => {
    const declared = new Map([...DOMAIN_REQUIREMENTS, ...AUDIT_REQUIREMENTS]);
    const all = [McpDefinitionService, WorkflowService, AuditService].flatMap((s) => s.methods.map((m) => `${s.typeName}/${m.name}`));
    expect(RPCS.map((r) => `${r.service.typeName}/${r.method}`).sort()).toEqual([...all].sort());
    expect(Object.fromEntries(RPCS.map((r) => [`${r.service.typeName}/${r.method}`, r.permission]))).toEqual(Object.fromEntries(declared));
    for (const role of ['viewer', 'editor', 'operator', 'auditor', 'service'] as const) {
      expect({ role, perms: [...ROLE_PERMISSIONS[role]].sort() }).toEqual({ role, perms: [...(DEFAULT_ROLE_BINDINGS[role] ?? [])].sort() });
    }
  });

  test('every RPC × every role: allowed or PERMISSION_DENIED exactly as the roles define; no token → UNAUTHENTICATED', async () => {
    const { traceId } = newTrace();
    const subOf = (role: Role) => (role === 'no token' ? 'anonymous' : `m-${role.replace(' ', '-')}`);
    const tokens: Record<Role, string | undefined> = {
      viewer: await issuer.mint({ sub: subOf('viewer'), roles: ['viewer'] }),
      editor: await issuer.mint({ sub: subOf('editor'), roles: ['editor'] }),
      operator: await issuer.mint({ sub: subOf('operator'), roles: ['operator'] }),
      auditor: await issuer.mint({ sub: subOf('auditor'), roles: ['auditor'] }),
      service: await issuer.mint({ sub: subOf('service'), roles: ['service'] }),
      'no role': await issuer.mint({ sub: subOf('no role') }),
      'unknown role': await issuer.mint({ sub: subOf('unknown role'), roles: ['admin', 'root', 'superuser'] }),
      'no token': undefined,
    };
    const cells = [...ROLES, 'no token' as const].flatMap((role) => RPCS.map((rpc) => ({ role, rpc })));
    const results = await Promise.all(
      cells.map(async ({ role, rpc }) => {
        const t = tokens[role];
        const headers: Record<string, string> = { traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` };
        if (t) headers.authorization = `Bearer ${t}`;
        const res = await outcome(rpc.call({ headers, timeoutMs: 20_000 }));
        return { role, rpc, res };
      }),
    );
    const render = (code: Code | 0) => (code === 0 ? 'OK' : Code[code]);
    const actual = results.map(({ role, rpc, res }) => {
      const verdict = res.code === Code.Unauthenticated ? 'UNAUTHENTICATED' : res.code === Code.PermissionDenied ? 'PERMISSION_DENIED' : 'allowed';
      return `${role.padEnd(12)} ${rpc.method.padEnd(28)} ${verdict}`;
    });
    const expected = results.map(({ role, rpc }) => {
      const verdict = role === 'no token' ? 'UNAUTHENTICATED' : ROLE_PERMISSIONS[role].includes(rpc.permission) ? 'allowed' : 'PERMISSION_DENIED';
      return `${role.padEnd(12)} ${rpc.method.padEnd(28)} ${verdict}`;
    });
    expect(actual).toEqual(expected);
    // An allowed call fails only for the reason its made-up request gives, never INTERNAL/UNKNOWN.
    const broken = results.filter(({ res }) => [Code.Internal, Code.Unknown, Code.Unavailable, Code.DeadlineExceeded].includes(res.code as Code));
    expect(broken.map(({ role, rpc, res }) => `${role} ${rpc.method} ${render(res.code)} ${res.message}`)).toEqual([]);
    // The refusal says briefly why.
    const badMessages = results.filter(
      ({ rpc, res }) =>
        (res.code === Code.PermissionDenied && res.message !== `permission ${rpc.permission} is required`) ||
        (res.code === Code.Unauthenticated && res.message !== 'missing bearer token'),
    );
    expect(badMessages.map(({ role, rpc, res }) => `${role} ${rpc.method}: ${res.message}`)).toEqual([]);

    // Each refused mutation and audit write is one DENIED entry in the call's trace; refused reads leave none.
    await outboxDrained();
    const deniedExpected = results.filter(({ rpc, res }) => rpc.recordedWhenDenied && (res.code === Code.PermissionDenied || res.code === Code.Unauthenticated));
    const denied = await auditRows(`trace_id = $1 AND outcome = 'DENIED'`, [traceId]);
    const key = (procedure: unknown, actor: unknown) => `${String(procedure)} by ${String(actor)}`;
    expect(denied.map((r) => key(r.details.procedure, r.actor_id)).sort()).toEqual(
      deniedExpected.map(({ role, rpc }) => key(`${rpc.service.typeName}/${rpc.method}`, subOf(role))).sort(),
    );
  }, 30_000);
});

// ---------------------------------------------------------------------------------------------
// 4. identity through the domain

test('identity: the token sub is the actor; a spoofed x-user-id is kept as unverified_actor_id; the relay is the service token sub', async () => {
  const sub = `editor-${randomBytes(3).toString('hex')}`;
  const token = await issuer.mint({ sub, roles: ['editor'] });
  const name = uniqueName();
  await stack.mcp.createMcpDefinition(
    { mcpDefinition: mcpDefinition(name) },
    // The end user also tries to pass itself off as a verified service actor: ignored.
    { headers: { ...bearer(token), 'x-user-id': 'mallory', 'x-actor-type': 'SERVICE', 'x-actor-verified': 'true', 'x-actor-subject': 'root', 'x-service-name': 'billing' } },
  );
  expect(await mcpRows(name)).toHaveLength(1);
  await auditRowsEventually('entity_id = $1', [name], 1);
  const auditor = await issuer.mint({ sub: 'id-auditor', roles: ['auditor'] });
  const { actionLogEntries } = await stack.auditClient.listActionLogEntries({ filter: `entity_id = "${name}"` }, { headers: bearer(auditor) });
  expect(actionLogEntries).toHaveLength(1);
  expect(actionLogEntries[0]).toMatchObject({
    actionType: ActionType.CREATE,
    entityType: EntityType.MCP_DEFINITION,
    actorId: sub,
    actorType: ActorType.USER,
    actorVerified: true,
    actorSubject: sub,
    actorIssuer: issuer.issuer,
    unverifiedActorId: 'mallory',
    serviceName: DOMAIN_SERVICE_SUB,
    outcome: Outcome.SUCCEEDED,
  });
  // The same x-user-id as the sub is not "unverified".
  const name2 = uniqueName();
  await stack.mcp.createMcpDefinition({ mcpDefinition: mcpDefinition(name2) }, { headers: { ...bearer(token), 'x-user-id': sub } });
  const [row] = await auditRowsEventually('entity_id = $1', [name2], 1);
  expect(row).toMatchObject({ actor_id: sub, actor_verified: true, unverified_actor_id: '' });
});

// ---------------------------------------------------------------------------------------------
// 5. direct writes to the audit service

describe('direct writes to the audit service', () => {
  test.each(['editor', 'auditor', 'viewer'])('%s token → PERMISSION_DENIED; only the DENIED entry is written', async (role) => {
    const sub = `direct-${role}`;
    const token = await issuer.mint({ sub, roles: [role] });
    for (const write of ['single', 'batch'] as const) {
      const entry = auditEntry();
      const { traceId, traceparent } = newTrace();
      const headers = { ...bearer(token), traceparent, 'x-user-id': 'someone-else', 'x-actor-verified': 'true', 'user-agent': 'direct-writer/1.0' };
      const res = await outcome(
        write === 'single'
          ? stack.auditClient.createActionLogEntry({ actionLogEntry: entry }, { headers })
          : stack.auditClient.batchCreateActionLogEntries({ requests: [{ actionLogEntry: entry }] }, { headers }),
      );
      expect(res).toEqual({ code: Code.PermissionDenied, message: 'permission audit_log.write is required' });
      expect(await auditRows('event_id = $1 OR entity_id = $2', [entry.eventId, entry.entityId])).toHaveLength(0);
      const rows = await auditRows('trace_id = $1', [traceId]);
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({
        outcome: 'DENIED',
        action_type: 'CREATE',
        entity_type: 'ACTION_LOG',
        actor_id: sub,
        actor_type: 'USER',
        actor_verified: true,
        actor_subject: sub,
        actor_issuer: issuer.issuer,
        unverified_actor_id: 'someone-else',
        client_ip: '127.0.0.1',
        details: {
          code: 'permission_denied',
          reason: 'permission audit_log.write is required',
          procedure: `mcpbackend.audit.v1.AuditService/${write === 'single' ? 'CreateActionLogEntry' : 'BatchCreateActionLogEntries'}`,
        },
      });
      expect(rows[0]!.user_agent).toContain('direct-writer/1.0');
    }
  });

  test('a service token writes; service_name is its sub; the end user it forwards is recorded, verified only when it says so', async () => {
    const svc = `svc-billing-${randomBytes(2).toString('hex')}`;
    const token = await issuer.mint({ sub: svc, roles: ['service'] });
    const auditor = bearer(await issuer.mint({ sub: 'svc-check-auditor', roles: ['auditor'] }));
    const get = async (eventId: string) => {
      const { actionLogEntries } = await stack.auditClient.listActionLogEntries({ filter: `entity_id = "io.github.direct/${eventId}"` }, { headers: auditor });
      expect(actionLogEntries).toHaveLength(1);
      return actionLogEntries[0]!;
    };

    // Forwarding an end user it did not verify.
    const a = auditEntry();
    await stack.auditClient.createActionLogEntry({ actionLogEntry: a }, { headers: { ...bearer(token), 'x-user-id': 'bob', 'x-service-name': 'pretends-to-be-domain' } });
    expect(await get(a.eventId)).toMatchObject({ actorId: 'bob', actorType: ActorType.USER, actorVerified: false, serviceName: svc, outcome: Outcome.SUCCEEDED });

    // Forwarding an end user it verified itself.
    const b = auditEntry();
    await stack.auditClient.createActionLogEntry(
      { actionLogEntry: b },
      { headers: { ...bearer(token), 'x-user-id': 'carol', 'x-actor-type': 'USER', 'x-actor-verified': 'true', 'x-actor-subject': 'carol', 'x-actor-issuer': 'https://idp.example/' } },
    );
    expect(await get(b.eventId)).toMatchObject({ actorId: 'carol', actorType: ActorType.USER, actorVerified: true, actorSubject: 'carol', actorIssuer: 'https://idp.example/', serviceName: svc });

    // On its own behalf: no x-user-id → the service itself, verified.
    const c = auditEntry();
    await stack.auditClient.createActionLogEntry({ actionLogEntry: c }, { headers: bearer(token) });
    expect(await get(c.eventId)).toMatchObject({
      actorId: svc,
      actorType: ActorType.SERVICE,
      actorVerified: true,
      actorSubject: svc,
      actorIssuer: issuer.issuer,
      unverifiedActorId: '',
      serviceName: svc,
    });

    // A batch, likewise.
    const d = auditEntry();
    await stack.auditClient.batchCreateActionLogEntries({ requests: [{ actionLogEntry: d }] }, { headers: bearer(token) });
    expect(await get(d.eventId)).toMatchObject({ actorId: svc, actorType: ActorType.SERVICE, actorVerified: true, serviceName: svc });
  });
});

// ---------------------------------------------------------------------------------------------
// 6. denied attempts in the audit log

test('denied mutations on the domain arrive through the outbox as OUTCOME_DENIED entries with who, what, IP and user agent', async () => {
  const viewerSub = `viewer-${randomBytes(3).toString('hex')}`;
  const viewer = await issuer.mint({ sub: viewerSub, roles: ['viewer'] });
  const name = uniqueName();
  const ua = `denied-test/${randomBytes(3).toString('hex')}`;
  const viewerCreate = await outcome(stack.mcp.createMcpDefinition({ mcpDefinition: mcpDefinition(name) }, { headers: { ...bearer(viewer), 'user-agent': ua } }));
  expect(viewerCreate).toEqual({ code: Code.PermissionDenied, message: 'permission mcp_definitions.write is required' });

  // An existing definition, which an anonymous caller (claiming to be "eve") tries to delete.
  const editor = await issuer.mint({ sub: 'denied-editor', roles: ['editor'] });
  const victim = uniqueName();
  await stack.mcp.createMcpDefinition({ mcpDefinition: mcpDefinition(victim) }, { headers: bearer(editor) });
  const anonDelete = await outcome(stack.mcp.deleteMcpDefinition({ name: victim }, { headers: { 'x-user-id': 'eve', 'user-agent': ua } }));
  expect(anonDelete).toEqual({ code: Code.Unauthenticated, message: 'missing bearer token' });
  expect(await mcpRows(victim)).toHaveLength(1);

  // A viewer trying to start a run: the entity is not there yet; the definition goes in the details.
  const { traceId, traceparent } = newTrace();
  const viewerStart = await outcome(stack.workflows.startWorkflowRun({ workflowDefinition: 'nightly-report' }, { headers: { ...bearer(viewer), traceparent, 'user-agent': ua } }));
  expect(viewerStart).toEqual({ code: Code.PermissionDenied, message: 'permission workflow_runs.execute is required' });

  await outboxDrained();
  const auditor = bearer(await issuer.mint({ sub: 'denied-auditor', roles: ['auditor'] }));
  const list = async (filter: string) => (await stack.auditClient.listActionLogEntries({ filter }, { headers: auditor })).actionLogEntries;

  const [created] = await list(`entity_id = "${name}"`);
  expect(created).toMatchObject({
    outcome: Outcome.DENIED,
    actionType: ActionType.CREATE,
    entityType: EntityType.MCP_DEFINITION,
    entityId: name,
    actorId: viewerSub,
    actorType: ActorType.USER,
    actorVerified: true,
    actorSubject: viewerSub,
    actorIssuer: issuer.issuer,
    clientIp: '127.0.0.1',
    serviceName: DOMAIN_SERVICE_SUB,
  });
  expect(created!.userAgent).toContain(ua);
  expect(created!.details).toMatchObject({ code: 'permission_denied', reason: 'permission mcp_definitions.write is required', procedure: 'mcpbackend.mcp.v1.McpDefinitionService/CreateMcpDefinition' });

  const victimEntries = await list(`entity_id = "${victim}"`);
  expect(victimEntries.map((e) => [ActionType[e.actionType], Outcome[e.outcome]])).toEqual([
    ['CREATE', 'SUCCEEDED'],
    ['DELETE', 'DENIED'],
  ]);
  expect(victimEntries[1]).toMatchObject({ actorId: 'anonymous', actorType: ActorType.USER, actorVerified: false, actorSubject: '', unverifiedActorId: 'eve', clientIp: '127.0.0.1' });
  expect(victimEntries[1]!.userAgent).toContain(ua);
  expect(victimEntries[1]!.details).toMatchObject({ code: 'unauthenticated', reason: 'missing bearer token' });

  const [start] = await list(`trace_id = "${traceId}"`);
  expect(start).toMatchObject({ outcome: Outcome.DENIED, actionType: ActionType.CREATE, entityType: EntityType.WORKFLOW_RUN, actorId: viewerSub });
  expect(start!.details).toMatchObject({ workflowDefinition: 'nightly-report', code: 'permission_denied' });
});

test('an end user cannot choose the client IP / user agent recorded about it (x-client-ip, x-client-user-agent are for trusted services)', async () => {
  // request-context.ts: "x-client-ip and x-client-user-agent let a trusted upstream service forward its end
  // user's details". In jwt mode an end user (verified or not) is no such service.
  const editor = await issuer.mint({ sub: 'spoof-editor', roles: ['editor'] });
  const spoof = { 'x-client-ip': '203.0.113.77', 'x-client-user-agent': 'spoofed-agent/1.0', 'user-agent': 'real-agent/1.0' };
  const created = uniqueName();
  await stack.mcp.createMcpDefinition({ mcpDefinition: mcpDefinition(created) }, { headers: { ...bearer(editor), ...spoof } });
  const refused = uniqueName();
  expect((await outcome(stack.mcp.deleteMcpDefinition({ name: refused }, { headers: spoof }))).code).toBe(Code.Unauthenticated);
  await outboxDrained();
  const rows = await auditRows('entity_id = ANY($1)', [[created, refused]]);
  expect(rows.map((r) => [r.entity_id, r.outcome, r.client_ip, r.user_agent.includes('real-agent/1.0')])).toEqual([
    [created, 'SUCCEEDED', '127.0.0.1', true],
    [refused, 'DENIED', '127.0.0.1', true],
  ]);
});

test('a denied direct write to the audit service is an entry: CREATE on ENTITY_TYPE_ACTION_LOG, OUTCOME_DENIED', async () => {
  const { traceId, traceparent } = newTrace();
  const auditorSub = `writer-auditor-${randomBytes(2).toString('hex')}`;
  const res = await outcome(
    stack.auditClient.createActionLogEntry({ actionLogEntry: auditEntry() }, { headers: { ...bearer(await issuer.mint({ sub: auditorSub, roles: ['auditor'] })), traceparent } }),
  );
  expect(res.code).toBe(Code.PermissionDenied);
  const auditor = bearer(await issuer.mint({ sub: 'reader-auditor', roles: ['auditor'] }));
  const { actionLogEntries } = await stack.auditClient.listActionLogEntries({ filter: `trace_id = "${traceId}"` }, { headers: auditor });
  expect(actionLogEntries).toHaveLength(1);
  expect(actionLogEntries[0]).toMatchObject({
    actionType: ActionType.CREATE,
    entityType: EntityType.ACTION_LOG,
    entityId: 'actionLogEntries',
    outcome: Outcome.DENIED,
    actorId: auditorSub,
    actorType: ActorType.USER,
    actorVerified: true,
  });
  // It is part of the hash chain like any other entry.
  expect((await stack.auditClient.verifyActionLog({}, { headers: auditor })).valid).toBe(true);
});

// ---------------------------------------------------------------------------------------------
// 7. audited reads

/** An auditor's List (with a filter), Get and Verify each leave a READ entry on ACTION_LOG naming the auditor. */
async function expectReadsAudited(client: Client<typeof AuditService>): Promise<void> {
  const sub = `auditor-${randomBytes(3).toString('hex')}`;
  const auditor = bearer(await issuer.mint({ sub, roles: ['auditor'] }));
  const { traceId, traceparent } = newTrace();
  const filter = `entity_type = MCP_DEFINITION AND actor_id = "${sub}"`;
  await client.listActionLogEntries({ filter, pageSize: 7 }, { headers: { ...auditor, traceparent, 'x-user-id': 'not-me' } });

  const other = bearer(await issuer.mint({ sub: 'second-auditor', roles: ['auditor'] }));
  const { actionLogEntries } = await client.listActionLogEntries({ filter: `trace_id = "${traceId}"` }, { headers: other });
  expect(actionLogEntries).toHaveLength(1);
  expect(actionLogEntries[0]).toMatchObject({
    actionType: ActionType.READ,
    entityType: EntityType.ACTION_LOG,
    entityId: 'actionLogEntries',
    outcome: Outcome.SUCCEEDED,
    actorId: sub,
    actorType: ActorType.USER,
    actorVerified: true,
    actorSubject: sub,
    actorIssuer: issuer.issuer,
    unverifiedActorId: 'not-me',
  });
  expect(actionLogEntries[0]!.details).toMatchObject({ procedure: 'ListActionLogEntries', view: 'FULL', filter, pageSize: 7, returned: 0 });

  // Get and Verify leave a trail too.
  const { traceId: t2, traceparent: p2 } = newTrace();
  const first = (await client.listActionLogEntries({ pageSize: 1 }, { headers: other })).actionLogEntries[0]!;
  await client.getActionLogEntry({ name: first.name, view: ActionLogEntryView.BASIC }, { headers: { ...auditor, traceparent: p2 } });
  await client.verifyActionLog({}, { headers: { ...auditor, traceparent: p2 } });
  const reads = await auditRows('trace_id = $1', [t2]);
  expect(reads.map((r) => [r.action_type, r.entity_type, r.entity_id, r.actor_id, r.details.procedure, r.details.view])).toEqual([
    ['READ', 'ACTION_LOG', first.name, sub, 'GetActionLogEntry', 'BASIC'],
    ['READ', 'ACTION_LOG', 'actionLogEntries', sub, 'VerifyActionLog', undefined],
  ]);
}

test('reads of the audit log are audited by default in jwt mode (AUDIT_LOG_READS unset)', async () => {
  await expectReadsAudited(stack.auditClient);
});

describe('a second audit process on the same log with AUDIT_LOG_READS=true and REFLECTION=false set explicitly', () => {
  let explicit: ServiceProcess;
  let client: Client<typeof AuditService>;
  beforeAll(async () => {
    const port = await findFreePort();
    explicit = serviceProcess({
      entry: 'services/audit/src/main.ts',
      port,
      env: { ...auth, AUDIT_DATABASE_URL: auditDb.url, AUDIT_PORT: String(port), AUDIT_HOST: '127.0.0.1', HEALTH_CHECK_INTERVAL_MS: '200', AUDIT_LOG_READS: 'true', REFLECTION: 'false' },
    });
    await explicit.start();
    client = createClient(AuditService, createRpcClientTransport({ baseUrl: explicit.url, protocol: 'grpc' }));
  }, 30_000);
  afterAll(async () => {
    await explicit?.stop();
  });

  test('reads are audited', async () => {
    await expectReadsAudited(client);
  });

  test('reflection is not served', async () => {
    const off = await bufCurl(['--list-services', explicit.url]);
    expect(off).toMatchObject({ exitCode: 1, stdout: '', stderr: expect.stringMatching(/unimplemented/i) });
  });
});
