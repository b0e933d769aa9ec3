import type { McpDefinition, McpTransport } from './mcp-definition';
import { mergeSecrets, redactMcpDefinition, redactTransport, scrubSecrets, secretValues } from './redact';

const ENV_SECRET = 'env-secret-Zq9';
const HEADER_SECRET = 'Bearer hdr-secret-Kp4';

const stdioT: McpTransport = {
  kind: 'stdio',
  command: '/usr/bin/weather',
  args: ['--verbose'],
  env: [
    { name: 'API_KEY', value: ENV_SECRET, secret: true },
    { name: 'LOG_LEVEL', value: 'debug', secret: false },
    { name: 'OTHER_KEY', value: 'other-secret-Wx1', secret: true },
  ],
};
const httpT: McpTransport = {
  kind: 'streamable_http',
  url: 'https://mcp.example.com/mcp',
  headers: [
    { name: 'Authorization', value: HEADER_SECRET, secret: true },
    { name: 'X-Tenant', value: 'acme', secret: false },
  ],
};

const definition = (transport: McpTransport): McpDefinition => ({
  name: 'io.github.acme/weather',
  uid: '5f0c3c1e-8f5e-4d3b-9a51-0c0f4e1b2a3d',
  title: 'Weather',
  description: 'Forecasts',
  version: '1.2.3',
  transport,
  repositoryUrl: 'https://github.com/acme/weather',
  tags: ['weather'],
  tools: [{ name: 'forecast', description: 'd', inputSchema: { type: 'object', properties: { city: { type: 'string' } } } }],
  revision: 3,
  createTime: new Date('2026-01-01T00:00:00Z'),
  updateTime: new Date('2026-01-02T00:00:00Z'),
});

describe('redactMcpDefinition', () => {
  it.each([
    ['stdio', stdioT],
    ['streamable_http', httpT],
  ])('leaves no secret anywhere in the %s result', (_kind, transport) => {
    const d = definition(transport);
    const secrets = secretValues(d);
    expect(secrets.length).toBeGreaterThan(0);
    const text = JSON.stringify(redactMcpDefinition(d));
    for (const s of secrets) expect(text).not.toContain(s);
  });

  it('replaces secret values with "" and keeps everything else, including Dates', () => {
    const d = definition(stdioT);
    const r = redactMcpDefinition(d);
    expect(r).toEqual({
      ...d,
      transport: {
        ...stdioT,
        env: [
          { name: 'API_KEY', value: '', secret: true },
          { name: 'LOG_LEVEL', value: 'debug', secret: false },
          { name: 'OTHER_KEY', value: '', secret: true },
        ],
      },
    });
    expect(r.createTime).toBeInstanceOf(Date);
    expect(r.createTime.getTime()).toBe(d.createTime.getTime());
  });

  it('returns a deep copy and leaves the input untouched', () => {
    const d = definition(httpT);
    const before = JSON.stringify(d);
    const r = redactMcpDefinition(d);
    expect(JSON.stringify(d)).toBe(before);
    expect(r).not.toBe(d);
    expect(r.transport).not.toBe(d.transport);
    expect(r.tools).not.toBe(d.tools);
    expect(r.tools[0]?.inputSchema).not.toBe(d.tools[0]?.inputSchema);
    expect(r.tags).not.toBe(d.tags);
    (r.tools[0]?.inputSchema as Record<string, unknown>)['type'] = 'mutated';
    expect(d.tools[0]?.inputSchema?.['type']).toBe('object');
  });

  it('accepts an input without transport, and other shapes carrying one', () => {
    expect(redactMcpDefinition({ transport: undefined, name: 'x' })).toEqual({ transport: undefined, name: 'x' });
    const extended = { transport: httpT, etag: 'W/"abc"' };
    const r = redactMcpDefinition(extended);
    expect(r.etag).toBe('W/"abc"');
    expect(JSON.stringify(r)).not.toContain(HEADER_SECRET);
  });
});

describe('redactTransport', () => {
  it('does not modify its argument', () => {
    const r = redactTransport(httpT);
    expect(r).toEqual({ ...httpT, headers: [{ name: 'Authorization', value: '', secret: true }, httpT.headers[1]] });
    expect(httpT.headers[0]?.value).toBe(HEADER_SECRET);
  });
});

describe('mergeSecrets', () => {
  it('keeps a stored secret when the update sends it back empty (a read round-tripped into an update)', () => {
    const roundTripped = redactTransport(stdioT);
    expect(mergeSecrets(roundTripped, stdioT)).toEqual(stdioT);
    expect(mergeSecrets(redactTransport(httpT), httpT)).toEqual(httpT);
  });

  it('replaces a secret given a new value, and keeps the others', () => {
    const next: McpTransport = {
      ...stdioT,
      env: [
        { name: 'API_KEY', value: 'rotated', secret: true },
        { name: 'LOG_LEVEL', value: 'info', secret: false },
        { name: 'OTHER_KEY', value: '', secret: true },
      ],
    };
    expect(mergeSecrets(next, stdioT)).toEqual({
      ...stdioT,
      env: [
        { name: 'API_KEY', value: 'rotated', secret: true },
        { name: 'LOG_LEVEL', value: 'info', secret: false },
        { name: 'OTHER_KEY', value: 'other-secret-Wx1', secret: true },
      ],
    });
  });

  it('drops entries the update leaves out and adds new ones as given', () => {
    const next: McpTransport = { ...stdioT, env: [{ name: 'NEW_KEY', value: '', secret: true }] };
    const merged = mergeSecrets(next, stdioT);
    expect(merged).toEqual({ ...stdioT, env: [{ name: 'NEW_KEY', value: '', secret: true }] });
    expect(JSON.stringify(merged)).not.toContain(ENV_SECRET);
  });

  it('takes command, args and url from the update', () => {
    const next: McpTransport = { kind: 'stdio', command: 'uvx', args: ['weather'], env: [] };
    expect(mergeSecrets(next, stdioT)).toEqual(next);
    const nextHttp: McpTransport = { kind: 'streamable_http', url: 'https://new.example.com/mcp', headers: [{ name: 'Authorization', value: '', secret: true }] };
    expect(mergeSecrets(nextHttp, httpT)).toEqual({ ...nextHttp, headers: [{ name: 'Authorization', value: HEADER_SECRET, secret: true }] });
  });

  it('matches header names case-insensitively and env names case-sensitively', () => {
    const nextHttp: McpTransport = { ...httpT, headers: [{ name: 'authorization', value: '', secret: true }] };
    expect(mergeSecrets(nextHttp, httpT)).toEqual({ ...httpT, headers: [{ name: 'authorization', value: HEADER_SECRET, secret: true }] });
    const nextStdio: McpTransport = { ...stdioT, env: [{ name: 'api_key', value: '', secret: true }] };
    expect(mergeSecrets(nextStdio, stdioT)).toEqual({ ...stdioT, env: [{ name: 'api_key', value: '', secret: true }] });
  });

  it('does not carry values across transport kinds', () => {
    const nextHttp: McpTransport = { ...httpT, headers: [{ name: 'API_KEY', value: '', secret: true }] };
    expect(mergeSecrets(nextHttp, stdioT)).toEqual(nextHttp);
    const nextStdio: McpTransport = { ...stdioT, env: [{ name: 'Authorization', value: '', secret: true }] };
    expect(mergeSecrets(nextStdio, httpT)).toEqual(nextStdio);
  });

  it('does not restore a value when the entry was not secret before, or is not secret now', () => {
    // Previously readable: the client saw the value, so '' now is deliberate.
    const nextSecret: McpTransport = { ...stdioT, env: [{ name: 'LOG_LEVEL', value: '', secret: true }] };
    expect(mergeSecrets(nextSecret, stdioT)).toEqual(nextSecret);
    // Turned non-secret: inheriting the stored value would make the old secret readable.
    const nextPlain: McpTransport = { ...stdioT, env: [{ name: 'API_KEY', value: '', secret: false }] };
    const merged = mergeSecrets(nextPlain, stdioT);
    expect(merged).toEqual(nextPlain);
    expect(JSON.stringify(merged)).not.toContain(ENV_SECRET);
  });

  it('returns new objects and modifies neither argument', () => {
    const next = redactTransport(httpT);
    const nextText = JSON.stringify(next);
    const prevText = JSON.stringify(httpT);
    const merged = mergeSecrets(next, httpT);
    expect(merged).not.toBe(next);
    expect(JSON.stringify(next)).toBe(nextText);
    expect(JSON.stringify(httpT)).toBe(prevText);
  });
});

describe('secretValues', () => {
  it('lists every non-empty secret value once, and nothing else', () => {
    expect(secretValues(definition(stdioT))).toEqual([ENV_SECRET, 'other-secret-Wx1']);
    expect(secretValues(definition(httpT))).toEqual([HEADER_SECRET]);
    expect(secretValues({ transport: undefined })).toEqual([]);
    expect(secretValues({ transport: redactTransport(stdioT) })).toEqual([]);
    const dup: McpTransport = {
      kind: 'stdio',
      command: 'x',
      args: [],
      env: [
        { name: 'A', value: 'same', secret: true },
        { name: 'B', value: 'same', secret: true },
      ],
    };
    expect(secretValues({ transport: dup })).toEqual(['same']);
  });
});

describe('scrubSecrets', () => {
  it('replaces every occurrence of each secret', () => {
    expect(scrubSecrets('key=abc, again abc; other=xyz', ['abc', 'xyz'])).toBe('key=[redacted], again [redacted]; other=[redacted]');
  });

  it('replaces a secret that contains another whole, whatever their order', () => {
    for (const secrets of [['sk-live', 'sk-live-123'], ['sk-live-123', 'sk-live']]) {
      expect(scrubSecrets('token sk-live-123 and sk-live', secrets)).toBe('token [redacted] and [redacted]');
    }
  });

  it('leaves text without secrets as it is', () => {
    expect(scrubSecrets('nothing here', [])).toBe('nothing here');
  });
});
