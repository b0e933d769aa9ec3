import { InvalidArgumentError, type FieldViolation } from '../../../../shared/errors/app-error';
import type { McpDefinitionInput, McpTransport, SecretablePair, ToolDeclaration } from './mcp-definition';
import { assertValidMcpDefinitionInput, validateMcpDefinitionInput } from './mcp-definition-rules';

const P = 'mcp_definition';

const stdio = (over: Partial<Extract<McpTransport, { kind: 'stdio' }>> = {}): McpTransport => ({
  kind: 'stdio',
  command: 'npx',
  args: ['-y', '@acme/weather-mcp@1.2.3'],
  env: [{ name: 'API_KEY', value: 's3cr3t', secret: true }],
  ...over,
});
const http = (over: Partial<Extract<McpTransport, { kind: 'streamable_http' }>> = {}): McpTransport => ({
  kind: 'streamable_http',
  url: 'https://mcp.example.com/mcp',
  headers: [{ name: 'Authorization', value: 'Bearer abc', secret: true }],
  ...over,
});

const base: McpDefinitionInput = {
  name: 'io.github.acme/weather',
  title: 'Weather',
  description: 'Current weather and forecasts',
  version: '1.2.3',
  transport: stdio(),
  repositoryUrl: 'https://github.com/acme/weather',
  tags: ['weather', 'demo-2'],
  tools: [{ name: 'get_forecast', description: 'Forecast for a city', inputSchema: { type: 'object', properties: {} } }],
};

function check(over: Partial<McpDefinitionInput>, fields?: readonly string[]): FieldViolation[] {
  return validateMcpDefinitionInput({ ...base, ...over }, fields === undefined ? { prefix: P } : { prefix: P, fields });
}

/** Asserts exactly one violation, on `field`, whose description is `description` (a string) or matches it (a RegExp). */
function expectOne(over: Partial<McpDefinitionInput>, field: string, description: RegExp | string): void {
  const violations = check(over);
  expect(violations).toEqual([{ field: `${P}.${field}`, description: typeof description === 'string' ? description : expect.stringMatching(description) }]);
}

const pair = (name: string, value = 'v', secret = false): SecretablePair => ({ name, value, secret });

describe('validateMcpDefinitionInput', () => {
  it('accepts a complete valid definition, and a minimal one', () => {
    expect(check({})).toEqual([]);
    expect(check({ title: '', repositoryUrl: '', tags: [], tools: [], transport: http({ headers: [] }) })).toEqual([]);
  });

  it('collects every violation, each with its own path', () => {
    const violations = check({ name: '', description: '', version: 'latest', transport: undefined, tags: ['A'] });
    expect(violations.map((v) => v.field)).toEqual([
      `${P}.name`,
      `${P}.description`,
      `${P}.version`,
      `${P}.transport`,
      `${P}.tags[0]`,
    ]);
  });

  it('uses the prefix verbatim, or bare paths when it is empty', () => {
    expect(validateMcpDefinitionInput({ ...base, title: 'x'.repeat(101) }, { prefix: 'resource' })[0]?.field).toBe('resource.title');
    expect(validateMcpDefinitionInput({ ...base, title: 'x'.repeat(101) }, { prefix: '' })[0]?.field).toBe('title');
  });

  describe('name', () => {
    it.each(['io.github.acme/weather', 'com.example/server', 'IO.GitHub.Acme/Weather_2.0-beta', 'a.b/c', 'x1.y-2.z/s', `a.b/${'s'.repeat(196)}`])(
      'accepts %s',
      (name) => expect(check({ name })).toEqual([]),
    );
    it.each([
      ['', /is required/],
      ['a/', /is 2 characters long; it must be 3 to 200/],
      [`a.b/${'s'.repeat(197)}`, /is 201 characters long/],
      ['io.github.acme.weather', /exactly one "\/"/],
      ['io.github/acme/weather', /exactly one "\/"/],
      ['acme/weather', /at least two dot-separated labels/],
      ['/weather', /at least two dot-separated labels/],
      ['io..acme/weather', /empty label/],
      ['.io.acme/weather', /empty label/],
      ['io.acme-/weather', /label "acme-" is not a DNS label/],
      ['io.-acme/weather', /label "-acme" is not a DNS label/],
      ['io.ac_me/weather', /label "ac_me" is not a DNS label/],
      ['io.acme/', /server id after "\/" is empty/],
      ['io.acme/wea ther', /server id "wea ther" may contain only/],
      ['io.acme/wéather', /server id "wéather" may contain only/],
    ])('rejects %j', (name, description) => expectOne({ name }, 'name', description));

    it('is not validated on update (it is immutable), even with a mask naming every field', () => {
      expect(check({ name: 'not a name' }, ['title', 'description', 'version', 'transport', 'repository_url', 'tags', 'tools'])).toEqual([]);
    });
  });

  describe('title', () => {
    it('accepts empty and 100 code points (emoji count as one)', () => {
      expect(check({ title: '' })).toEqual([]);
      expect(check({ title: '🌦'.repeat(100) })).toEqual([]);
    });
    it('rejects more than 100 characters and NUL', () => {
      expectOne({ title: 'x'.repeat(101) }, 'title', 'is 101 characters long; at most 100 are allowed');
      expectOne({ title: 'a\u0000b' }, 'title', /NUL/);
    });
  });

  describe('description', () => {
    it('accepts 1 to 100 code points, counting after trimming', () => {
      expect(check({ description: 'x' })).toEqual([]);
      expect(check({ description: '🌦'.repeat(100) })).toEqual([]);
      expect(check({ description: `  ${'x'.repeat(100)}  ` })).toEqual([]);
    });
    it.each([
      ['', /is required/],
      ['   \n\t', /is required/],
      ['x'.repeat(101), 'is 101 characters long; at most 100 are allowed'],
      ['a\u0000b', /NUL/],
    ])('rejects %j', (description, message) => expectOne({ description }, 'description', message));
  });

  describe('version', () => {
    it.each(['1.2.3', '0.0.0', '1.2.3-beta.1+build.5', '1.2.3-rc.1', '1.2.3+20260101', '2026.11.0', '2026.01.05', '2026.11.0-beta.1', '1.2', '1.2.3.4', '1.2.3-x'])(
      'accepts %s',
      (version) => expect(check({ version })).toEqual([]),
    );
    it.each([
      ['', /is required/],
      ['  ', /is required/],
      ['latest', /^"latest" is not an exact version; use e\.g\. 1\.2\.3/],
      ['LATEST', /^"LATEST" is not an exact version/],
      [' Latest ', /^"Latest" is not an exact version/],
      ['^1.2', /version range \("\^"\)/],
      ['~1', /version range \("~"\)/],
      ['>=1', /version range \(">="\)/],
      ['<2.0.0', /version range \("<"\)/],
      ['=1.2.3', /version range \("="\)/],
      ['1.x', /wildcard/],
      ['1.2.X', /wildcard/],
      ['1.*', /wildcard/],
      ['*', /wildcard/],
      ['1.2 - 1.4', /version range \("a - b"\)/],
      ['1.2.3 || 2.0.0', /version range \("\|\|"\)/],
      ['v1.2.3', /must not start with "v"; use 1\.2\.3/],
      ['1', /bare number.*use e\.g\. 1\.0\.0/],
      ['1.2.3 beta', /contains a space/],
      ['1.2.3-', /is not an exact version/],
      ['1..2', /is not an exact version/],
      ['banana', /is not an exact version/],
      [`1.2.3-${'a'.repeat(59)}`, 'is 65 characters long; at most 64 are allowed'],
    ])('rejects %j', (version, message) => expectOne({ version }, 'version', message));
    it('accepts exactly 64 characters', () => expect(check({ version: `1.2.3-${'a'.repeat(58)}` })).toEqual([]));
  });

  describe('transport', () => {
    it('is required', () => expectOne({ transport: undefined }, 'transport', 'is required: set stdio or streamable_http'));

    describe('stdio', () => {
      const S = 'transport.stdio';
      it.each(['npx', 'uvx', '/usr/local/bin/weather-mcp', 'node', 'python3.12', 'my_server', 'C:', '/opt/a+b/srv'])('accepts command %j', (command) =>
        expect(check({ transport: stdio({ command }) })).toEqual([]),
      );
      it.each([
        ['', /is required/],
        ['npx -y @acme/weather', /^contains a space: command is a program, not a shell command line: put arguments in args$/],
        ['node\tserver.js', /contains a tab: .*is a program, not a shell command line/],
        ['a\nb', /line break.*is a program, not a shell command line/],
        ['srv;rm', /contains ";": .*is a program, not a shell command line: put arguments in args/],
        ['a|b', /contains "\|"/],
        ['a&b', /contains "&"/],
        ['$HOME/bin/srv', /contains "\$"/],
        ['`id`', /contains "`"/],
        ['a<b', /contains "<"/],
        ['a>b', /contains ">"/],
        ['$(id)', /contains "\$"/],
        ['a(b', /contains "\("/],
        ['a{b}', /contains "\{"/],
        ['srv*', /contains "\*"/],
        ['srv?', /contains "\?"/],
        ['!srv', /contains "!"/],
        ['~/bin/srv', /contains "~"/],
        ["'srv'", /contains "'"/],
        ['"srv"', /contains """/],
        ['C:\\srv.exe', /contains "\\"/],
        ['a\u0000b', /contains a NUL character: .*is a program/],
        ['a\u00a0b', /U\+00A0.*is a program/],
        ['./server', /is a relative path; use an absolute path or a program name looked up on PATH/],
        ['bin/server', /is a relative path/],
        ['x'.repeat(1025), 'is 1025 characters long; at most 1024 are allowed'],
      ])('rejects command %j', (command, message) => expectOne({ transport: stdio({ command }) }, `${S}.command`, message));
      it('accepts a 1024-character command', () => expect(check({ transport: stdio({ command: 'x'.repeat(1024) }) })).toEqual([]));

      it('accepts up to 100 args of up to 4096 characters, with shell syntax passed verbatim', () => {
        expect(check({ transport: stdio({ args: Array.from({ length: 100 }, () => 'x'.repeat(4096)) }) })).toEqual([]);
        expect(check({ transport: stdio({ args: ['--query', 'a; b | c $(d)', ''] }) })).toEqual([]);
      });
      it('rejects more than 100 args, an over-long arg and a NUL in an arg', () => {
        expectOne({ transport: stdio({ args: Array.from({ length: 101 }, () => 'a') }) }, `${S}.args`, 'has 101 items; at most 100 are allowed');
        expectOne({ transport: stdio({ args: ['ok', 'x'.repeat(4097)] }) }, `${S}.args[1]`, 'is 4097 characters long; at most 4096 are allowed');
        expectOne({ transport: stdio({ args: ['ok', 'ok', 'a\u0000b'] }) }, `${S}.args[2]`, /NUL/);
      });

      it('accepts valid env names (case-sensitive, so FOO and foo may coexist) and values up to 8192', () => {
        const env = [pair('FOO'), pair('foo'), pair('_x1'), pair('A', 'x'.repeat(8192), true), pair('EMPTY', '')];
        expect(check({ transport: stdio({ env }) })).toEqual([]);
        expect(check({ transport: stdio({ env: Array.from({ length: 100 }, (_, i) => pair(`V${i}`)) }) })).toEqual([]);
      });
      it.each([
        ['', /is required/],
        ['1ABC', /not a valid environment variable name/],
        ['A-B', /not a valid environment variable name/],
        ['A B', /not a valid environment variable name/],
        ['A=B', /not a valid environment variable name/],
      ])('rejects env name %j', (name, message) =>
        expectOne({ transport: stdio({ env: [pair('OK'), pair(name)] }) }, `${S}.env[1].name`, message),
      );
      it('rejects duplicate env names, pointing at the first', () => {
        expectOne({ transport: stdio({ env: [pair('A'), pair('B'), pair('A')] }) }, `${S}.env[2].name`, 'duplicates env[0].name "A"');
      });
      it('rejects more than 100 env variables, long values and NUL, without quoting the value', () => {
        expectOne(
          { transport: stdio({ env: Array.from({ length: 101 }, (_, i) => pair(`V${i}`)) }) },
          `${S}.env`,
          'has 101 items; at most 100 are allowed',
        );
        expectOne({ transport: stdio({ env: [pair('A', 'x'.repeat(8193), true)] }) }, `${S}.env[0].value`, 'is 8193 characters long; at most 8192 are allowed');
        const v = check({ transport: stdio({ env: [pair('A', 'top\u0000secret', true)] }) });
        expect(v).toEqual([{ field: `${P}.${S}.env[0].value`, description: expect.stringMatching(/NUL/) }]);
        expect(JSON.stringify(v)).not.toContain('secret\\u0000');
        expect(JSON.stringify(v)).not.toContain('top');
      });
    });

    describe('streamable_http', () => {
      const H = 'transport.streamable_http';
      it.each(['https://mcp.example.com/mcp', 'http://localhost:8080/mcp', 'http://127.0.0.1:3000', 'https://[::1]/mcp?x=1#f', 'HTTPS://EXAMPLE.COM/'])(
        'accepts url %j',
        (url) => expect(check({ transport: http({ url }) })).toEqual([]),
      );
      it.each([
        ['', /is required: an http or https URL/],
        ['mcp.example.com/mcp', /is not an absolute URL/],
        ['https://', /is not an absolute URL/],
        ['https://exa mple.com', /whitespace/],
        [' https://example.com', /whitespace/],
        ['ftp://example.com/mcp', 'must be an http or https URL, not ftp'],
        ['ws://example.com/mcp', 'must be an http or https URL, not ws'],
        ['file:///etc/passwd', 'must be an http or https URL, not file'],
        ['https://user:pass@example.com/mcp', /must not contain credentials.*secret header/],
        ['https://token@example.com/mcp', /must not contain credentials/],
        [`https://example.com/${'x'.repeat(2029)}`, 'is 2049 characters long; at most 2048 are allowed'],
      ])('rejects url %j', (url, message) => expectOne({ transport: http({ url }) }, `${H}.url`, message));
      it('never quotes the url (it may carry a token)', () => {
        const v = check({ transport: http({ url: 'https://user:hunter2@example.com/' }) });
        expect(JSON.stringify(v)).not.toContain('hunter2');
      });
      it('accepts a 2048-character url', () => {
        expect(check({ transport: http({ url: `https://example.com/${'x'.repeat(2028)}` }) })).toEqual([]);
      });

      it('accepts token header names, Latin-1 values, tabs and empty values', () => {
        const headers = [pair('Authorization', 'Bearer x', true), pair('X-Api-Key', 'k\tv'), pair("x!#$%&'*+.^_`|~1", 'café'), pair('X-Empty', '')];
        expect(check({ transport: http({ headers }) })).toEqual([]);
      });
      it.each([
        ['', /is required/],
        ['X Api', /contains a space; a header name is an RFC 9110 token/],
        ['X:Api', /contains ":"/],
        ['X-Ä', /contains "Ä"/],
        ['Host', /"Host" is derived from the url and cannot be set/],
        ['content-length', /cannot be set/],
        ['Connection', /hop-by-hop.*cannot be set/],
        ['TRANSFER-ENCODING', /hop-by-hop.*cannot be set/],
        ['Keep-Alive', /hop-by-hop/],
        ['Upgrade', /hop-by-hop/],
        ['TE', /hop-by-hop/],
        ['Mcp-Session-Id', /assigned by the MCP server.*cannot be set/],
        ['MCP-Protocol-Version', /negotiated.*cannot be set/],
        ['Accept', /set by the MCP client/],
      ])('rejects header name %j', (name, message) =>
        expectOne({ transport: http({ headers: [pair('X-Ok'), pair(name)] }) }, `${H}.headers[1].name`, message),
      );
      it('rejects header names that collide case-insensitively', () => {
        expectOne(
          { transport: http({ headers: [pair('Authorization'), pair('X-A'), pair('authorization')] }) },
          `${H}.headers[2].name`,
          'duplicates headers[0].name (header names are case-insensitive)',
        );
      });
      it.each([
        ['a\r\nX-Injected: 1', /line break/],
        ['a\nb', /line break/],
        ['a\rb', /line break/],
        ['a\u0000b', /NUL/],
        ['a\u0007b', /control character U\+0007/],
        ['a\u007fb', /control character U\+007F/],
        ['€100', /U\+20AC; header values can carry only Latin-1/],
        ['x'.repeat(8193), 'is 8193 characters long; at most 8192 are allowed'],
      ])('rejects header value %j, without quoting it', (value, message) => {
        const violations = check({ transport: http({ headers: [pair('X-Secret', value, true)] }) });
        expect(violations).toEqual([{ field: `${P}.${H}.headers[0].value`, description: expect.stringMatching(message) }]);
        expect(violations[0]?.description).not.toContain(value);
      });
      it('rejects more than 100 headers', () => {
        const headers = Array.from({ length: 101 }, (_, i) => pair(`X-${i}`));
        expectOne({ transport: http({ headers }) }, `${H}.headers`, 'has 101 items; at most 100 are allowed');
      });
    });
  });

  describe('repository_url', () => {
    it.each(['', 'https://github.com/acme/weather', 'https://gitlab.example.com/a/b.git'])('accepts %j', (repositoryUrl) =>
      expect(check({ repositoryUrl })).toEqual([]),
    );
    it.each([
      ['http://github.com/acme/weather', 'must be an https URL, not http'],
      ['git@github.com:acme/weather.git', /is not an absolute URL|must be an https URL/],
      ['github.com/acme/weather', /is not an absolute URL/],
      ['ssh://git@github.com/acme/weather', 'must be an https URL, not ssh'],
      ['https://user:pw@github.com/acme', /must not contain credentials/],
    ])('rejects %j', (repositoryUrl, message) => expectOne({ repositoryUrl }, 'repository_url', message));
  });

  describe('tags', () => {
    it('accepts up to 20 unique lower-case tags of up to 50 characters', () => {
      expect(check({ tags: Array.from({ length: 20 }, (_, i) => `t${i}`) })).toEqual([]);
      expect(check({ tags: ['a', '0', 'a-b-', 'x'.repeat(50)] })).toEqual([]);
    });
    it.each([
      ['', 'is empty'],
      ['Weather', '"Weather" must be lower-case: use "weather"'],
      ['-a', /lower-case letters, digits and "-"/],
      ['a_b', /lower-case letters, digits and "-"/],
      ['a b', /lower-case letters, digits and "-"/],
      ['x'.repeat(51), 'is 51 characters long; at most 50 are allowed'],
    ])('rejects %j at its index', (tag, message) => expectOne({ tags: ['ok', 'fine', tag] }, 'tags[2]', message));
    it('rejects duplicates and more than 20 tags', () => {
      expectOne({ tags: ['a', 'b', 'a'] }, 'tags[2]', 'duplicates tags[0] "a"');
      expectOne({ tags: Array.from({ length: 21 }, (_, i) => `t${i}`) }, 'tags', 'has 21 tags; at most 20 are allowed');
    });
  });

  describe('tools', () => {
    const tool = (over: Partial<ToolDeclaration> = {}): ToolDeclaration => ({ name: 't', description: '', inputSchema: undefined, ...over });
    it('accepts up to 200 tools, names of 1 to 128 allowed characters, no schema or an object schema', () => {
      expect(check({ tools: Array.from({ length: 200 }, (_, i) => tool({ name: `tool_${i}` })) })).toEqual([]);
      expect(
        check({
          tools: [
            tool({ name: 'a' }),
            tool({ name: 'A.b-c_1', description: 'd'.repeat(1000) }),
            tool({ name: 'x'.repeat(128), inputSchema: { type: 'object' } }),
            tool({ name: 'get_Forecast' }),
            tool({ name: 'get_forecast' }),
          ],
        }),
      ).toEqual([]);
    });
    it.each([
      ['', 'is required'],
      ['get forecast', /must be 1 to 128 letters, digits/],
      ['get/forecast', /must be 1 to 128/],
      ['x'.repeat(129), /must be 1 to 128/],
    ])('rejects name %j', (name, message) => expectOne({ tools: [tool({ name: 'ok' }), tool({ name })] }, 'tools[1].name', message));
    it('rejects duplicate names, long descriptions and more than 200 tools', () => {
      expectOne({ tools: [tool({ name: 'a' }), tool({ name: 'a' })] }, 'tools[1].name', 'duplicates tools[0].name "a"');
      expectOne({ tools: [tool({ description: 'd'.repeat(1001) })] }, 'tools[0].description', 'is 1001 characters long; at most 1000 are allowed');
      expectOne({ tools: Array.from({ length: 201 }, (_, i) => tool({ name: `t${i}` })) }, 'tools', 'has 201 tools; at most 200 are allowed');
    });
    it.each([
      [{}, /must have "type": "object"/],
      [{ type: 'string' }, /must have "type": "object" .*not "string"/],
      [{ type: ['object', 'null'] }, /not \["object","null"\]/],
    ])('rejects input_schema %j', (inputSchema, message) =>
      expectOne({ tools: [tool({ inputSchema })] }, 'tools[0].input_schema', message),
    );
    it('rejects a non-object input_schema that slipped past the types', () => {
      const inputSchema = ['object'] as unknown as ToolDeclaration['inputSchema'];
      expectOne({ tools: [tool({ inputSchema })] }, 'tools[0].input_schema', 'must be a JSON object (a JSON Schema)');
    });
  });

  describe('update (fields)', () => {
    const broken: Partial<McpDefinitionInput> = {
      name: '',
      title: 'x'.repeat(101),
      description: '',
      version: '^1',
      transport: undefined,
      repositoryUrl: 'http://x.example',
      tags: ['A'],
      tools: [{ name: '', description: '', inputSchema: undefined }],
    };
    it('validates only the masked fields', () => {
      expect(check(broken, ['description']).map((v) => v.field)).toEqual([`${P}.description`]);
      expect(check(broken, ['transport', 'tags']).map((v) => v.field)).toEqual([`${P}.transport`, `${P}.tags[0]`]);
      expect(check(broken, []).map((v) => v.field)).toEqual([]);
    });
    it('validates every field but name when the mask lists them all', () => {
      expect(check(broken, ['title', 'description', 'version', 'transport', 'repository_url', 'tags', 'tools']).map((v) => v.field)).toEqual([
        `${P}.title`,
        `${P}.description`,
        `${P}.version`,
        `${P}.transport`,
        `${P}.repository_url`,
        `${P}.tags[0]`,
        `${P}.tools[0].name`,
      ]);
    });
  });
});

describe('assertValidMcpDefinitionInput', () => {
  it('returns when valid', () => {
    expect(() => assertValidMcpDefinitionInput(base, { prefix: P })).not.toThrow();
  });
  it('throws one InvalidArgumentError with every violation', () => {
    let error: unknown;
    try {
      assertValidMcpDefinitionInput({ ...base, version: 'latest', tags: ['a', 'a'] }, { prefix: P });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).violations.map((v) => v.field)).toEqual([`${P}.version`, `${P}.tags[1]`]);
  });
});
