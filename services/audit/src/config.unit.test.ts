import { configProblems } from '../../../shared/testing/config-problems';
import { loadAuditConfig } from './config';

const DB = 'postgres://postgres@127.0.0.1:5432/audit';

const problems = (env: NodeJS.ProcessEnv) => configProblems(() => loadAuditConfig(env));

describe('audit service configuration', () => {
  it('has the documented defaults', () => {
    const c = loadAuditConfig({ DATABASE_URL: DB });
    expect(c).toMatchObject({
      port: 50052,
      host: '0.0.0.0',
      databaseUrl: DB,
      dbPoolMax: 10,
      migrateOnStart: true,
      maxRequestBytes: 4 * 1024 * 1024,
      compressMinBytes: 1024,
      reflection: true,
      shutdownGraceMs: 10_000,
      healthCheckIntervalMs: 5_000,
      logLevel: 'info',
      otlpEndpoint: undefined,
      serviceName: 'mcp-audit',
      auditReads: false,
    });
    expect(c.auth.mode).toBe('header');
  });

  it('prefers AUDIT_DATABASE_URL to DATABASE_URL', () => {
    const own = 'postgres://audit@db:5432/audit';
    expect(loadAuditConfig({ DATABASE_URL: DB, AUDIT_DATABASE_URL: own }).databaseUrl).toBe(own);
  });

  it('requires a database URL and says how to give one', () => {
    expect(problems({})).toEqual(['AUDIT_DATABASE_URL: set AUDIT_DATABASE_URL or DATABASE_URL (npm start sets one for you)']);
  });

  it('treats an empty value as unset (docker-compose writes FOO= for blanks)', () => {
    const c = loadAuditConfig({ DATABASE_URL: DB, AUDIT_PORT: '', LOG_LEVEL: '' });
    expect(c.port).toBe(50052);
    expect(c.logLevel).toBe('info');
  });

  it('reports every bad value at once, naming the variable and what it was given', () => {
    const found = problems({
      DATABASE_URL: 'mysql://root@db/audit',
      AUDIT_PORT: 'eighty',
      AUDIT_DB_POOL_MAX: '1',
      AUDIT_MIGRATE_ON_START: 'maybe',
      LOG_LEVEL: 'loud',
      RPC_COMPRESS_MIN_BYTES: '1k',
    });
    expect(found).toHaveLength(6);
    expect(found).toEqual(
      expect.arrayContaining([
        'DATABASE_URL: expected a postgres:// URL (got "mysql://root@db/audit")',
        expect.stringMatching(/^AUDIT_PORT: .* \(got "eighty"\)$/),
        expect.stringMatching(/^AUDIT_DB_POOL_MAX: .*2.* \(got "1"\)$/),
        'AUDIT_MIGRATE_ON_START: expected true or false (got "maybe")',
        expect.stringMatching(/^LOG_LEVEL: .* \(got "loud"\)$/),
        'RPC_COMPRESS_MIN_BYTES: expected a number of bytes or off (got "1k")',
      ]),
    );
  });

  it('reads RPC_COMPRESS_MIN_BYTES as bytes, or off as never', () => {
    expect(loadAuditConfig({ DATABASE_URL: DB, RPC_COMPRESS_MIN_BYTES: '0' }).compressMinBytes).toBe(0);
    expect(loadAuditConfig({ DATABASE_URL: DB, RPC_COMPRESS_MIN_BYTES: '65536' }).compressMinBytes).toBe(65536);
    expect(loadAuditConfig({ DATABASE_URL: DB, RPC_COMPRESS_MIN_BYTES: 'off' }).compressMinBytes).toBe(Number.POSITIVE_INFINITY);
    expect(problems({ DATABASE_URL: DB, RPC_COMPRESS_MIN_BYTES: '-1' })).toEqual([
      'RPC_COMPRESS_MIN_BYTES: expected a number of bytes or off (got "-1")',
    ]);
  });

  it('turns reflection off and read auditing on by default in jwt mode, and checks what jwt mode needs', () => {
    expect(problems({ DATABASE_URL: DB, AUTH_MODE: 'jwt' })).toEqual([
      'AUTH_ISSUER: is required when AUTH_MODE=jwt',
      'AUTH_AUDIENCE: is required when AUTH_MODE=jwt',
      'AUTH_JWKS_URL: set AUTH_JWKS_URL or AUTH_JWKS when AUTH_MODE=jwt',
    ]);
    const c = loadAuditConfig({
      DATABASE_URL: DB,
      AUTH_MODE: 'jwt',
      AUTH_ISSUER: 'https://issuer.example',
      AUTH_AUDIENCE: 'mcp-backend',
      AUTH_JWKS_URL: 'https://issuer.example/jwks.json',
    });
    expect(c.reflection).toBe(false);
    expect(c.auditReads).toBe(true);
    expect(loadAuditConfig({ DATABASE_URL: DB, REFLECTION: 'true', AUDIT_LOG_READS: 'false' })).toMatchObject({ reflection: true, auditReads: false });
  });
});
