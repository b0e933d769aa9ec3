import { configProblems } from '../../../shared/testing/config-problems';
import { loadDomainConfig } from './config';

const DB = 'postgres://postgres@127.0.0.1:5432/domain';

const problems = (env: NodeJS.ProcessEnv) => configProblems(() => loadDomainConfig({ DATABASE_URL: DB, ...env }));

describe('domain service configuration', () => {
  it('has the documented defaults', () => {
    const c = loadDomainConfig({ DATABASE_URL: DB });
    expect(c).toMatchObject({
      port: 50051,
      serviceName: 'mcp-domain',
      role: 'all',
      compressMinBytes: 1024,
      engine: {
        id: undefined,
        concurrency: 10,
        leaseMs: 15_000,
        heartbeatMs: 5_000,
        pollIntervalMs: 2_000,
        maxStepOutputBytes: 1024 * 1024,
        mcpClientIdleMs: 60_000,
        mcpConnectTimeoutMs: 10_000,
      },
      audit: {
        url: 'http://127.0.0.1:50052',
        enabled: true,
        batchSize: 200,
        concurrency: 32,
        pollIntervalMs: 1_000,
        minBackoffMs: 200,
        maxBackoffMs: 30_000,
        timeoutMs: 5_000,
        leaseMs: 30_000,
        backlogWarnAfterSeconds: 30,
        backlogCheckIntervalMs: 5_000,
        serviceToken: undefined,
        serviceTokenFile: undefined,
      },
    });
  });

  it('prefers DOMAIN_DATABASE_URL to DATABASE_URL and requires one of them', () => {
    const own = 'postgres://domain@db:5432/domain';
    expect(loadDomainConfig({ DATABASE_URL: DB, DOMAIN_DATABASE_URL: own }).databaseUrl).toBe(own);
    expect(() => loadDomainConfig({})).toThrow('DOMAIN_DATABASE_URL: set DOMAIN_DATABASE_URL or DATABASE_URL');
  });

  it('rejects out-of-range and malformed values, naming each variable', () => {
    const found = problems({
      DOMAIN_ROLE: 'worker',
      AUDIT_URL: 'grpc://audit:50052',
      AUDIT_ENABLED: 'sometimes',
      AUDIT_RELAY_BATCH_SIZE: '0',
      ENGINE_CONCURRENCY: '2.5',
    });
    expect(found).toHaveLength(5);
    expect(found).toEqual(
      expect.arrayContaining([
        'DOMAIN_ROLE: expected all, api or engine (got "worker")',
        'AUDIT_URL: expected an http:// or https:// URL (got "grpc://audit:50052")',
        'AUDIT_ENABLED: expected true or false (got "sometimes")',
        expect.stringMatching(/^AUDIT_RELAY_BATCH_SIZE: .* \(got "0"\)$/),
        expect.stringMatching(/^ENGINE_CONCURRENCY: .* \(got "2.5"\)$/),
      ]),
    );
  });

  it('checks the settings that depend on each other', () => {
    expect(problems({ AUDIT_RELAY_TIMEOUT_MS: '20000', AUDIT_RELAY_LEASE_MS: '30000' })).toEqual([
      'AUDIT_RELAY_LEASE_MS: must be at least twice AUDIT_RELAY_TIMEOUT_MS (got "30000")',
    ]);
    expect(problems({ AUDIT_RELAY_MIN_BACKOFF_MS: '5000', AUDIT_RELAY_MAX_BACKOFF_MS: '1000' })).toEqual([
      'AUDIT_RELAY_MAX_BACKOFF_MS: must be at least AUDIT_RELAY_MIN_BACKOFF_MS (got "1000")',
    ]);
    expect(problems({ ENGINE_LEASE_MS: '8000', ENGINE_HEARTBEAT_MS: '5000' })).toEqual([
      'ENGINE_HEARTBEAT_MS: must be at most half of ENGINE_LEASE_MS (got "5000")',
    ]);
    expect(problems({ AUDIT_SERVICE_TOKEN: 't', AUDIT_SERVICE_TOKEN_FILE: '/run/secrets/t' })).toEqual([
      'AUDIT_SERVICE_TOKEN: set AUDIT_SERVICE_TOKEN or AUDIT_SERVICE_TOKEN_FILE, not both (got "t")',
    ]);
  });

  it('accepts the boundary of each cross-field rule', () => {
    const c = loadDomainConfig({
      DATABASE_URL: DB,
      AUDIT_RELAY_TIMEOUT_MS: '15000',
      AUDIT_RELAY_LEASE_MS: '30000',
      AUDIT_RELAY_MIN_BACKOFF_MS: '1000',
      AUDIT_RELAY_MAX_BACKOFF_MS: '1000',
      ENGINE_LEASE_MS: '10000',
      ENGINE_HEARTBEAT_MS: '5000',
    });
    expect(c.audit).toMatchObject({ timeoutMs: 15_000, leaseMs: 30_000, minBackoffMs: 1_000, maxBackoffMs: 1_000 });
    expect(c.engine).toMatchObject({ leaseMs: 10_000, heartbeatMs: 5_000 });
  });
});
