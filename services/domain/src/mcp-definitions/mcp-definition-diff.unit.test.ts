import type { McpDefinition, McpTransport } from './mcp-definition';
import { MCP_DEFINITION_MUTABLE_FIELDS } from './mcp-definition';
import { diffMcpDefinitions, transportJson } from './mcp-definition-diff';

const SECRET = 'tok-OLD-7Hq';
const ROTATED = 'tok-NEW-3Vb';

const stdioT: McpTransport = {
  kind: 'stdio',
  command: 'npx',
  args: ['-y', '@acme/weather'],
  env: [
    { name: 'API_KEY', value: SECRET, secret: true },
    { name: 'LOG_LEVEL', value: 'info', secret: false },
  ],
};

const before: McpDefinition = {
  name: 'io.github.acme/weather',
  uid: 'u-1',
  title: 'Weather',
  description: 'Forecasts',
  version: '1.2.3',
  transport: stdioT,
  repositoryUrl: '',
  tags: ['weather'],
  tools: [{ name: 'forecast', description: 'd', inputSchema: { type: 'object', properties: { a: { type: 'string' }, b: { type: 'number' } } } }],
  revision: 1,
  createTime: new Date('2026-01-01T00:00:00Z'),
  updateTime: new Date('2026-01-01T00:00:00Z'),
};

const ALL = MCP_DEFINITION_MUTABLE_FIELDS;

describe('diffMcpDefinitions', () => {
  it('is empty when nothing changed, whatever changed outside the mutable fields', () => {
    const after: McpDefinition = { ...before, revision: 2, updateTime: new Date('2026-02-01T00:00:00Z'), uid: 'other' };
    expect(diffMcpDefinitions(before, after, ALL)).toEqual({});
  });

  it('ignores key order inside tool schemas', () => {
    const after: McpDefinition = {
      ...before,
      tools: [{ name: 'forecast', description: 'd', inputSchema: { properties: { b: { type: 'number' }, a: { type: 'string' } }, type: 'object' } }],
    };
    expect(diffMcpDefinitions(before, after, ALL)).toEqual({});
  });

  it('reports only changed fields, keyed by proto field name, in proto-JSON shape', () => {
    const after: McpDefinition = {
      ...before,
      description: 'Forecasts and alerts',
      repositoryUrl: 'https://github.com/acme/weather',
      tags: ['weather', 'alerts'],
      tools: [...before.tools, { name: 'alerts', description: '', inputSchema: undefined }],
    };
    expect(diffMcpDefinitions(before, after, ALL)).toEqual({
      description: { before: 'Forecasts', after: 'Forecasts and alerts' },
      repository_url: { before: '', after: 'https://github.com/acme/weather' },
      tags: { before: ['weather'], after: ['weather', 'alerts'] },
      tools: {
        before: [{ name: 'forecast', description: 'd', inputSchema: before.tools[0]?.inputSchema }],
        after: [
          { name: 'forecast', description: 'd', inputSchema: before.tools[0]?.inputSchema },
          { name: 'alerts', description: '' },
        ],
      },
    });
  });

  it('considers only the given fields', () => {
    const after: McpDefinition = { ...before, title: 'New', version: '1.2.4' };
    expect(diffMcpDefinitions(before, after, ['version'])).toEqual({ version: { before: '1.2.3', after: '1.2.4' } });
    expect(diffMcpDefinitions(before, after, [])).toEqual({});
  });

  it('shows transport changes in proto-JSON shape with secret values redacted', () => {
    const after: McpDefinition = {
      ...before,
      transport: { kind: 'streamable_http', url: 'https://mcp.example.com/mcp', headers: [{ name: 'Authorization', value: 'Bearer B-9zz', secret: true }] },
    };
    const diff = diffMcpDefinitions(before, after, ALL);
    expect(diff).toEqual({
      transport: {
        before: {
          stdio: {
            command: 'npx',
            args: ['-y', '@acme/weather'],
            env: [
              { name: 'API_KEY', value: '', secret: true },
              { name: 'LOG_LEVEL', value: 'info', secret: false },
            ],
          },
        },
        after: { streamableHttp: { url: 'https://mcp.example.com/mcp', headers: [{ name: 'Authorization', value: '', secret: true }] } },
      },
    });
    const text = JSON.stringify(diff);
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain('B-9zz');
  });

  it('records a rotated secret as a transport change without revealing either value', () => {
    const after: McpDefinition = {
      ...before,
      transport: { ...stdioT, env: [{ name: 'API_KEY', value: ROTATED, secret: true }, stdioT.env[1]!] },
    };
    const diff = diffMcpDefinitions(before, after, ALL);
    expect(Object.keys(diff)).toEqual(['transport']);
    expect(diff['transport']?.before).toEqual(diff['transport']?.after);
    expect(diff['transport']?.after).toEqual(transportJson({ ...stdioT, env: [{ name: 'API_KEY', value: '', secret: true }, stdioT.env[1]!] }));
    const text = JSON.stringify(diff);
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain(ROTATED);
  });

  it('reports a plain env value change, and a value becoming secret', () => {
    const after: McpDefinition = {
      ...before,
      transport: { ...stdioT, env: [stdioT.env[0]!, { name: 'LOG_LEVEL', value: 'debug', secret: true }] },
    };
    const diff = diffMcpDefinitions(before, after, ['transport']);
    expect(diff['transport']).toEqual({
      before: transportJson({ ...stdioT, env: [{ name: 'API_KEY', value: '', secret: true }, stdioT.env[1]!] }),
      after: transportJson({ ...stdioT, env: [{ name: 'API_KEY', value: '', secret: true }, { name: 'LOG_LEVEL', value: '', secret: true }] }),
    });
  });

  it('returns copies that do not alias the definitions', () => {
    const after: McpDefinition = { ...before, tags: ['x'], tools: [] };
    const diff = diffMcpDefinitions(after, before, ALL);
    expect(diff['tags']?.after).not.toBe(before.tags);
    const tools = diff['tools']?.after as Array<{ inputSchema: unknown }>;
    expect(tools[0]?.inputSchema).toEqual(before.tools[0]?.inputSchema);
    expect(tools[0]?.inputSchema).not.toBe(before.tools[0]?.inputSchema);
  });
});
