/**
 * The local stack (docker-compose.yml) and the service images it builds. There is no Docker
 * engine in CI, so this checks the files themselves: the compose file's structure, the
 * Dockerfiles it points at, and — when docker-compose is installed — that docker-compose
 * accepts the file (`docker-compose config -q`).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as yaml from 'js-yaml';
import { SERVICE_NODE_OPTIONS } from '../shared/runtime/service-node-options';

const REPO_ROOT = path.resolve(__dirname, '..');
const COMPOSE_FILE = path.join(REPO_ROOT, 'docker-compose.yml');

type Dict = Record<string, unknown>;

interface ComposeService {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  environment?: Record<string, string | number | boolean | null> | string[];
  ports?: (string | number | { target?: number; published?: number | string })[];
  volumes?: (string | { type?: string; source?: string; target?: string })[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: string | string[]; interval?: string; timeout?: string; retries?: number };
}

interface ComposeFile {
  version?: string;
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

const compose = yaml.load(readFileSync(COMPOSE_FILE, 'utf8')) as ComposeFile;
const services = compose.services ?? {};

/** `environment:` as a map, whichever of the two compose syntaxes is used. */
function envOf(service: ComposeService): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env)) {
    return Object.fromEntries(
      env.map((entry) => {
        const i = entry.indexOf('=');
        return i < 0 ? [entry, ''] : [entry.slice(0, i), entry.slice(i + 1)];
      }),
    );
  }
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v == null ? '' : String(v)]));
}

/** Container ports of `ports:`, short ("50052:50052", "127.0.0.1:1:2/tcp") or long syntax. */
function containerPorts(service: ComposeService): number[] {
  return (service.ports ?? []).map((p) => {
    if (typeof p === 'number') return p;
    if (typeof p === 'object') return Number(p.target);
    return Number(p.split('/')[0]!.split(':').pop());
  });
}

function publishedPorts(service: ComposeService): number[] {
  return (service.ports ?? []).flatMap((p) => {
    if (typeof p === 'number') return [];
    if (typeof p === 'object') return p.published === undefined ? [] : [Number(p.published)];
    const parts = p.split('/')[0]!.split(':');
    return parts.length >= 2 ? [Number(parts[parts.length - 2])] : [];
  });
}

function dependsOn(service: ComposeService): Record<string, string | undefined> {
  const deps = service.depends_on ?? {};
  if (Array.isArray(deps)) return Object.fromEntries(deps.map((name) => [name, undefined]));
  return Object.fromEntries(Object.entries(deps).map(([name, d]) => [name, d?.condition]));
}

function healthcheckCommand(service: ComposeService): string {
  const test = service.healthcheck?.test;
  if (test === undefined) return '';
  return Array.isArray(test) ? test.join(' ') : test;
}

/** A Dockerfile as [INSTRUCTION, arguments] pairs: comments dropped, continuations joined. */
function parseDockerfile(text: string): [string, string][] {
  const logical = text
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n/g, ' ');
  return logical
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const m = /^(\S+)\s*(.*)$/.exec(line)!;
      return [m[1]!.toUpperCase(), m[2]!.replace(/\s+/g, ' ')];
    });
}

const APP_SERVICES = [
  {
    name: 'audit',
    port: 50052,
    env: {
      AUDIT_DATABASE_URL: 'postgres://postgres:postgres@postgres:5432/mcp_audit',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4318',
    },
    portVar: 'AUDIT_PORT',
    dependsOn: { postgres: 'service_healthy' },
  },
  {
    name: 'domain',
    port: 50051,
    env: {
      DOMAIN_DATABASE_URL: 'postgres://postgres:postgres@postgres:5432/mcp_domain',
      AUDIT_URL: 'http://audit:50052',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4318',
    },
    portVar: 'DOMAIN_PORT',
    dependsOn: { postgres: 'service_healthy', audit: 'service_healthy' },
  },
] as const;

describe('docker-compose.yml', () => {
  it('defines postgres, audit, domain and jaeger, each with an image or a build', () => {
    expect(Object.keys(services).sort()).toEqual(expect.arrayContaining(['audit', 'domain', 'jaeger', 'postgres']));
    for (const [name, service] of Object.entries(services)) {
      expect({ name, hasImageOrBuild: Boolean(service.image || service.build) }).toEqual({ name, hasImageOrBuild: true });
    }
  });

  it('has no depends_on pointing at an undefined service', () => {
    for (const service of Object.values(services)) {
      for (const dep of Object.keys(dependsOn(service))) expect(Object.keys(services)).toContain(dep);
    }
  });

  describe('postgres', () => {
    const pg = services.postgres!;

    it('runs postgres:15 with a password for the services', () => {
      expect(pg.image).toMatch(/^postgres:15(\b|$)/);
      expect(envOf(pg).POSTGRES_PASSWORD).toBe('postgres');
    });

    it('keeps its data in a named volume declared under the top-level volumes', () => {
      const dataMount = (pg.volumes ?? [])
        .map((v) => (typeof v === 'string' ? { source: v.split(':')[0], target: v.split(':')[1] } : v))
        .find((v) => v.target === '/var/lib/postgresql/data');
      expect(dataMount).toBeDefined();
      const source = dataMount!.source!;
      expect(source).not.toMatch(/^[./~]/); // a named volume, not a bind mount
      expect(Object.keys(compose.volumes ?? {})).toContain(source);
    });

    it('is health-checked with pg_isready', () => {
      expect(healthcheckCommand(pg)).toMatch(/\bpg_isready\b/);
    });

    it('mounts an init script that creates mcp_audit and mcp_domain', () => {
      const initMount = (pg.volumes ?? [])
        .filter((v): v is string => typeof v === 'string')
        .map((v) => v.split(':'))
        .find(([, target]) => target?.startsWith('/docker-entrypoint-initdb.d/'));
      expect(initMount).toBeDefined();
      const script = path.resolve(REPO_ROOT, initMount![0]!);
      expect(script).toBe(path.join(REPO_ROOT, 'scripts/compose/init-databases.sql'));
      const sql = readFileSync(script, 'utf8');
      expect(sql).toMatch(/CREATE DATABASE\s+"?mcp_audit"?\s*;/i);
      expect(sql).toMatch(/CREATE DATABASE\s+"?mcp_domain"?\s*;/i);
    });
  });

  describe.each(APP_SERVICES)('$name', ({ name, port, env, portVar, dependsOn: expectedDeps }) => {
    const service = services[name]!;

    it(`is built from services/${name}/Dockerfile with the repository root as context`, () => {
      expect(typeof service.build).toBe('object');
      const build = service.build as { context?: string; dockerfile?: string };
      expect(path.resolve(REPO_ROOT, build.context ?? '.')).toBe(REPO_ROOT);
      expect(build.dockerfile).toBe(`services/${name}/Dockerfile`);
    });

    it(`publishes port ${port}`, () => {
      expect(containerPorts(service)).toContain(port);
      expect(publishedPorts(service)).toContain(port);
      const configured = envOf(service)[portVar];
      if (configured !== undefined) expect(Number(configured)).toBe(port);
    });

    it('sets its database URL, peers and OTLP endpoint', () => {
      expect(envOf(service)).toEqual(expect.objectContaining(env));
      // Every http(s)/postgres URL in the environment names a service of this file.
      for (const value of Object.values(envOf(service))) {
        const host = /^(?:https?|postgres(?:ql)?):\/\/(?:[^@/]*@)?([^:/]+)/.exec(value)?.[1];
        if (host) expect(Object.keys(services)).toContain(host);
      }
    });

    it('is health-checked with the compiled scripts/healthcheck.ts on its port', () => {
      const test = service.healthcheck?.test;
      expect(Array.isArray(test)).toBe(true);
      expect(test).toEqual(['CMD', 'node', 'dist/scripts/healthcheck.js', String(port)]);
      expect(existsSync(path.join(REPO_ROOT, 'scripts/healthcheck.ts'))).toBe(true);
    });

    it('waits for its dependencies with conditions', () => {
      expect(Array.isArray(service.depends_on)).toBe(false);
      const deps = dependsOn(service);
      expect(deps).toEqual(expect.objectContaining(expectedDeps));
      for (const [dep, condition] of Object.entries(deps)) {
        expect({ dep, condition }).toEqual({ dep, condition: expect.stringMatching(/^service_(healthy|started|completed_successfully)$/) });
      }
    });
  });

  describe('jaeger', () => {
    const jaeger = services.jaeger!;

    it('runs all-in-one with the OTLP collector and publishes the UI and OTLP/HTTP ports', () => {
      expect(jaeger.image).toMatch(/^jaegertracing\/all-in-one(:|$)/);
      expect(envOf(jaeger).COLLECTOR_OTLP_ENABLED).toBe('true');
      expect(containerPorts(jaeger)).toEqual(expect.arrayContaining([16686, 4318]));
    });
  });
});

describe.each(APP_SERVICES)('services/$name/Dockerfile', ({ name, port, portVar }) => {
  const dockerfilePath = path.join(REPO_ROOT, 'services', name, 'Dockerfile');
  const instructions = existsSync(dockerfilePath) ? parseDockerfile(readFileSync(dockerfilePath, 'utf8')) : [];
  const all = (kind: string) => instructions.filter(([k]) => k === kind).map(([, args]) => args);
  const indexOf = (kind: string, pattern: RegExp) => instructions.findIndex(([k, args]) => k === kind && pattern.test(args));

  it('exists', () => {
    expect(existsSync(dockerfilePath)).toBe(true);
  });

  // The two stages: [build instructions, runtime instructions].
  const runtimeFrom = instructions.map(([k]) => k).lastIndexOf('FROM');
  const stage = (kind: string, which: 'build' | 'runtime') =>
    instructions
      .filter(([k], i) => k === kind && (which === 'build' ? i < runtimeFrom : i > runtimeFrom))
      .map(([, args]) => args);

  it('builds in a node:20-bookworm-slim stage and runs in another', () => {
    expect(all('FROM')).toEqual(['node:20-bookworm-slim AS build', 'node:20-bookworm-slim']);
  });

  it('installs dependencies from package*.json before copying the sources, then compiles with npm run build', () => {
    const copyManifests = indexOf('COPY', /\bpackage(-lock)?\.json\b|package\*\.json/);
    const install = indexOf('RUN', /\bnpm ci\b/);
    const firstSourceCopy = indexOf('COPY', /\b(shared|services|proto)\//);
    const build = indexOf('RUN', /\bnpm run build\b/);
    expect(copyManifests).toBeGreaterThanOrEqual(0);
    expect(install).toBeGreaterThan(copyManifests);
    expect(firstSourceCopy).toBeGreaterThan(install);
    expect(build).toBeGreaterThan(firstSourceCopy);
    expect(build).toBeLessThan(runtimeFrom);
    const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as Dict;
    expect((pkg.scripts as Dict).build).toBe('tsc -p scripts/tsconfig.build.json');
  });

  it('copies into the build stage only files that exist', () => {
    const copied = stage('COPY', 'build').flatMap((args) => args.split(' ').filter((a) => !a.startsWith('--')).slice(0, -1));
    expect(copied).toEqual(expect.arrayContaining(['proto/', 'shared/', 'services/', 'scripts/']));
    for (const source of copied) expect({ source, exists: existsSync(path.join(REPO_ROOT, source)) }).toEqual({ source, exists: true });
  });

  it(`runs with production dependencies, the compiled shared/, services/${name}/ and health probe, and a heap cap`, () => {
    expect(stage('RUN', 'runtime').join(' ')).toMatch(/\bnpm ci --omit=dev\b/);
    const fromBuild = stage('COPY', 'runtime').filter((args) => args.startsWith('--from=build '));
    expect(fromBuild.map((args) => args.split(' ')[1])).toEqual(
      expect.arrayContaining(['/app/dist/shared/', `/app/dist/services/${name}/`, '/app/dist/scripts/healthcheck.js']),
    );
    // The same cap the benchmarks and the compiled-build test run the services with.
    expect(stage('ENV', 'runtime').join(' ')).toContain(`NODE_OPTIONS=${SERVICE_NODE_OPTIONS} `);
    // The compiled paths are where scripts/tsconfig.build.json puts them.
    const buildConfig = JSON.parse(readFileSync(path.join(REPO_ROOT, 'scripts/tsconfig.build.json'), 'utf8')) as { compilerOptions: Dict };
    expect(buildConfig.compilerOptions).toEqual(expect.objectContaining({ rootDir: '..', outDir: '../dist' }));
    expect(existsSync(path.join(REPO_ROOT, 'scripts/healthcheck.ts'))).toBe(true);
    expect(existsSync(path.join(REPO_ROOT, 'services', name, 'src', 'main.ts'))).toBe(true);
  });

  it('runs as the non-root node user and exposes its port', () => {
    expect(all('USER')).toEqual(['node']);
    expect(all('EXPOSE')).toEqual([String(port)]);
  });

  it('has a HEALTHCHECK that runs the compiled probe on the service port', () => {
    const [healthcheck] = all('HEALTHCHECK');
    expect(healthcheck).toMatch(/\bCMD\b.*node dist\/scripts\/healthcheck\.js/);
    expect(healthcheck).toContain(`\${${portVar}:-${port}}`);
  });

  it(`starts the compiled services/${name}/src/main.ts`, () => {
    const cmds = all('CMD');
    expect(cmds).toHaveLength(1);
    expect(JSON.parse(cmds[0]!)).toEqual(['node', `dist/services/${name}/src/main.js`]);
  });
});

describe('.dockerignore', () => {
  it('keeps node_modules and .git out of the build context but not what the images copy', () => {
    const patterns = readFileSync(path.join(REPO_ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((line) => line.trim().replace(/\/+$/, ''))
      .filter((line) => line && !line.startsWith('#'));
    expect(patterns).toEqual(expect.arrayContaining(['node_modules', '.git']));
    for (const needed of ['package.json', 'package-lock.json', 'tsconfig.json', 'proto', 'shared', 'services', 'scripts', 'scripts/healthcheck.ts']) {
      expect(patterns).not.toContain(needed);
    }
  });
});

describe('docker-compose config', () => {
  it('accepts docker-compose.yml (when docker-compose is installed)', () => {
    const probe = spawnSync('docker-compose', ['version', '--short'], { encoding: 'utf8' });
    if (probe.error) {
      console.warn(
        `docker-compose is not on PATH (${(probe.error as NodeJS.ErrnoException).code}): ` +
          'docker-compose.yml was only parsed and checked structurally, not validated by docker-compose. ' +
          'Install it (apt-get install docker-compose) to validate.',
      );
      expect(services).toBeDefined();
      return;
    }
    const result = spawnSync('docker-compose', ['-f', 'docker-compose.yml', 'config', '-q'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect({ status: result.status, stderr: result.stderr.trim() }).toEqual({ status: 0, stderr: expect.any(String) });
  });
});
