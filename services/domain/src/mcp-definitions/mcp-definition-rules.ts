/**
 * Validation of a caller-supplied McpDefinition (create, or the masked fields of an update).
 *
 * The rules are the ones documented in `proto/mcpbackend/mcp/v1/mcp_definition.proto`,
 * shaped after the official MCP Registry's `server.json`. Every violation is collected
 * (not just the first), so a client can fix a request in one round trip. Each is named by
 * its path in the request (`mcp_definition.transport.stdio.env[1].name`); the oneof is
 * spelled `transport.<case>` so the path starts with the update-mask field it belongs to.
 *
 * Messages never quote env/header values or URLs: they may carry secrets, and violations
 * travel to clients and logs.
 */
import type { JsonObject } from '@bufbuild/protobuf';
import { InvalidArgumentError, type FieldViolation } from '../../../../shared/errors/app-error';
import type { McpDefinitionInput, McpTransport, SecretablePair, ToolDeclaration } from './mcp-definition';
import { MCP_DEFINITION_MUTABLE_FIELDS } from './mcp-definition';

export interface ValidateMcpDefinitionOptions {
  /** Path of the definition in the request, e.g. `mcp_definition`. */
  readonly prefix: string;
  /**
   * On update: the mutable fields (proto names, see MCP_DEFINITION_MUTABLE_FIELDS) the update
   * mask writes. Only those are validated, and `name` (immutable) is not. Omit on create.
   */
  readonly fields?: readonly string[];
}

export const MCP_DEFINITION_LIMITS = {
  nameMinLength: 3,
  nameMaxLength: 200,
  titleMaxLength: 100,
  descriptionMaxLength: 100,
  versionMaxLength: 64,
  commandMaxLength: 1024,
  maxArgs: 100,
  argMaxLength: 4096,
  maxEnv: 100,
  envValueMaxLength: 8192,
  urlMaxLength: 2048,
  maxHeaders: 100,
  headerValueMaxLength: 8192,
  maxTags: 20,
  maxTools: 200,
  toolDescriptionMaxLength: 1000,
} as const;

/** Returns every violation of the input; empty when valid. */
export function validateMcpDefinitionInput(input: McpDefinitionInput, opts: ValidateMcpDefinitionOptions): FieldViolation[] {
  const v = new Violations(opts.prefix);
  const selected = new Set<string>(opts.fields ?? MCP_DEFINITION_MUTABLE_FIELDS);
  if (opts.fields === undefined) checkName(v, input.name);
  if (selected.has('title')) checkTitle(v, input.title);
  if (selected.has('description')) checkDescription(v, input.description);
  if (selected.has('version')) checkVersion(v, input.version);
  if (selected.has('transport')) checkTransport(v, input.transport);
  if (selected.has('repository_url')) checkRepositoryUrl(v, input.repositoryUrl);
  if (selected.has('tags')) checkTags(v, input.tags);
  if (selected.has('tools')) checkTools(v, input.tools);
  return v.list;
}

/** Throws InvalidArgumentError carrying every violation; returns normally when valid. */
export function assertValidMcpDefinitionInput(input: McpDefinitionInput, opts: ValidateMcpDefinitionOptions): void {
  const violations = validateMcpDefinitionInput(input, opts);
  if (violations.length > 0) throw new InvalidArgumentError(violations);
}

/** Throws INVALID_ARGUMENT unless `name` is a well-formed MCP definition name (reported as `prefix.name`). */
export function assertValidMcpDefinitionName(name: string, prefix = ''): void {
  const v = new Violations(prefix);
  checkName(v, name);
  if (v.list.length > 0) throw new InvalidArgumentError(v.list);
}

class Violations {
  readonly list: FieldViolation[] = [];
  constructor(private readonly prefix: string) {}
  add(path: string, description: string): void {
    this.list.push({ field: this.prefix === '' ? path : `${this.prefix}.${path}`, description });
  }
}

// ---------------------------------------------------------------------------------------------
// Shared helpers

/** Length in Unicode code points, so an emoji counts as one character as a user would expect. */
function length(s: string): number {
  return Array.from(s).length;
}

function tooLong(actual: number, max: number): string {
  return `is ${actual} characters long; at most ${max} are allowed`;
}

/** PostgreSQL text and jsonb cannot store U+0000, and no protocol here can carry it. */
const NUL = '\u0000';

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** Describes one character for a message without quoting the rest of the value. */
function describeChar(c: string): string {
  if (c === ' ') return 'a space';
  if (c === '\t') return 'a tab';
  if (c === '\n' || c === '\r') return 'a line break';
  if (c === NUL) return 'a NUL character';
  const cp = c.codePointAt(0) ?? 0;
  if (cp < 0x20 || cp === 0x7f || /\s/u.test(c)) return `the control or whitespace character U+${hex(cp)}`;
  return `"${c}"`;
}

function hex(cp: number): string {
  return cp.toString(16).toUpperCase().padStart(4, '0');
}

// ---------------------------------------------------------------------------------------------
// name

/** One DNS label, as the MCP Registry accepts it (letters case-insensitive). */
const NAMESPACE_LABEL = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/i;
const SERVER_ID = /^[a-zA-Z0-9._-]+$/;
const NAME_EXAMPLE = 'use a reverse-DNS namespace, "/", and a server id, e.g. io.github.acme/weather';

function checkName(v: Violations, name: string): void {
  if (name === '') return v.add('name', `is required; ${NAME_EXAMPLE}`);
  const n = length(name);
  if (n < MCP_DEFINITION_LIMITS.nameMinLength || n > MCP_DEFINITION_LIMITS.nameMaxLength) {
    return v.add('name', `is ${n} characters long; it must be ${MCP_DEFINITION_LIMITS.nameMinLength} to ${MCP_DEFINITION_LIMITS.nameMaxLength}`);
  }
  const slash = name.indexOf('/');
  if (slash < 0 || slash !== name.lastIndexOf('/')) {
    return v.add('name', `must contain exactly one "/" between namespace and server id; ${NAME_EXAMPLE}`);
  }
  const namespace = name.slice(0, slash);
  const serverId = name.slice(slash + 1);
  const labels = namespace.split('.');
  if (namespace === '' || labels.length < 2) {
    return v.add('name', `namespace "${namespace}" must be reverse-DNS with at least two dot-separated labels; ${NAME_EXAMPLE}`);
  }
  const bad = labels.find((label) => !NAMESPACE_LABEL.test(label));
  if (bad !== undefined) {
    return v.add(
      'name',
      bad === ''
        ? `namespace "${namespace}" has an empty label (leading, trailing or doubled "."); ${NAME_EXAMPLE}`
        : `namespace label "${bad}" is not a DNS label: use letters, digits and inner hyphens only`,
    );
  }
  if (!SERVER_ID.test(serverId)) {
    return v.add(
      'name',
      serverId === ''
        ? `server id after "/" is empty; ${NAME_EXAMPLE}`
        : `server id "${serverId}" may contain only letters, digits, ".", "_" and "-"`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// title, description

function checkTitle(v: Violations, title: string): void {
  const n = length(title);
  if (n > MCP_DEFINITION_LIMITS.titleMaxLength) v.add('title', tooLong(n, MCP_DEFINITION_LIMITS.titleMaxLength));
  else if (title.includes(NUL)) v.add('title', 'contains a NUL character');
}

function checkDescription(v: Violations, description: string): void {
  // Whitespace-only says nothing, so it counts as missing; the limit applies to what is shown.
  const n = length(description.trim());
  if (n === 0) v.add('description', 'is required (1 to 100 characters)');
  else if (n > MCP_DEFINITION_LIMITS.descriptionMaxLength) v.add('description', tooLong(n, MCP_DEFINITION_LIMITS.descriptionMaxLength));
  else if (description.includes(NUL)) v.add('description', 'contains a NUL character');
}

// ---------------------------------------------------------------------------------------------
// version

/**
 * An exact version: dot-separated numbers (at least two: `1.2.3`, `2026.11.0`, `2026.01.05`),
 * optionally followed by a semver pre-release (`-beta.1`) and build (`+build.5`). Every
 * semver 2.0 version matches; leading zeros are also allowed so that date versions work.
 */
const EXACT_VERSION = /^[0-9]+(\.[0-9]+)+(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$/;
const VERSION_EXAMPLE = 'use e.g. 1.2.3, 1.2.3-beta.1 or 2026.11.0';

function checkVersion(v: Violations, version: string): void {
  const reason = versionProblem(version);
  if (reason !== undefined) v.add('version', reason);
}

function versionProblem(version: string): string | undefined {
  if (version.trim() === '') return `is required: an exact version; ${VERSION_EXAMPLE}`;
  const n = length(version);
  if (n > MCP_DEFINITION_LIMITS.versionMaxLength) return tooLong(n, MCP_DEFINITION_LIMITS.versionMaxLength);
  if (EXACT_VERSION.test(version)) return undefined;
  // Not exact: say why, so the caller knows what to change.
  const trimmed = version.trim();
  if (/^latest$/i.test(trimmed)) return `"${trimmed}" is not an exact version; ${VERSION_EXAMPLE}`;
  if (version.includes('||')) return `"${version}" is a version range ("||"), not an exact version; ${VERSION_EXAMPLE}`;
  if (/\s-\s/.test(version)) return `"${version}" is a version range ("a - b"), not an exact version; ${VERSION_EXAMPLE}`;
  const operator = /[<>]=?|[\^~=]/.exec(version);
  if (operator) return `"${version}" is a version range ("${operator[0]}"), not an exact version; ${VERSION_EXAMPLE}`;
  if (/(^|\.)[xX*](?=$|[.+-])/.test(version) || version.includes('*')) {
    return `"${version}" has a wildcard ("x" or "*"), so it is a range, not an exact version; ${VERSION_EXAMPLE}`;
  }
  if (/^[vV][0-9]/.test(version)) return `"${version}" must not start with "v"; use ${version.slice(1)}`;
  if (/^[0-9]+$/.test(version)) return `"${version}" is a bare number, which reads as a range of versions; use e.g. ${version}.0.0`;
  const space = /\s/.exec(version);
  if (space) return `contains ${describeChar(space[0])}; give one exact version, ${VERSION_EXAMPLE}`;
  return `"${version}" is not an exact version: dot-separated numbers with an optional -pre-release and +build; ${VERSION_EXAMPLE}`;
}

// ---------------------------------------------------------------------------------------------
// transport

function checkTransport(v: Violations, transport: McpTransport | undefined): void {
  if (transport === undefined) return v.add('transport', 'is required: set stdio or streamable_http');
  switch (transport.kind) {
    case 'stdio':
      return checkStdio(v, transport);
    case 'streamable_http':
      return checkStreamableHttp(v, transport);
  }
}

/**
 * Characters a shell would interpret. The command is exec'd directly, never through a
 * shell, so any of these means the caller wrote a command line where a program belongs.
 */
const SHELL_METACHARACTERS = /[;|&$`<>(){}*?!~'"\\\n\r]/;
const NOT_A_COMMAND_LINE = 'command is a program, not a shell command line: put arguments in args';
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function checkStdio(v: Violations, t: Extract<McpTransport, { kind: 'stdio' }>): void {
  const base = 'transport.stdio';
  const command = t.command;
  const n = length(command);
  if (command === '') {
    v.add(`${base}.command`, 'is required: the program to run, an absolute path or a name looked up on PATH');
  } else if (n > MCP_DEFINITION_LIMITS.commandMaxLength) {
    v.add(`${base}.command`, tooLong(n, MCP_DEFINITION_LIMITS.commandMaxLength));
  } else {
    const bad = SHELL_METACHARACTERS.exec(command) ?? /[\s\u0000-\u001f\u007f]/u.exec(command);
    if (bad) v.add(`${base}.command`, `contains ${describeChar(bad[0])}: ${NOT_A_COMMAND_LINE}`);
    // A relative path would resolve against whatever directory the control plane runs in.
    else if (command.includes('/') && !command.startsWith('/')) {
      v.add(`${base}.command`, 'is a relative path; use an absolute path or a program name looked up on PATH');
    }
  }

  if (t.args.length > MCP_DEFINITION_LIMITS.maxArgs) {
    v.add(`${base}.args`, `has ${plural(t.args.length, 'item')}; at most ${MCP_DEFINITION_LIMITS.maxArgs} are allowed`);
  }
  t.args.forEach((arg, i) => {
    const len = length(arg);
    if (len > MCP_DEFINITION_LIMITS.argMaxLength) v.add(`${base}.args[${i}]`, tooLong(len, MCP_DEFINITION_LIMITS.argMaxLength));
    // execve() takes NUL-terminated strings: a NUL would silently truncate the argument.
    else if (arg.includes(NUL)) v.add(`${base}.args[${i}]`, 'contains a NUL character, which a process argument cannot carry');
  });

  if (t.env.length > MCP_DEFINITION_LIMITS.maxEnv) {
    v.add(`${base}.env`, `has ${plural(t.env.length, 'item')}; at most ${MCP_DEFINITION_LIMITS.maxEnv} are allowed`);
  }
  // Environment variable names are case-sensitive on POSIX, so `Foo` and `FOO` may coexist.
  const seen = new Map<string, number>();
  t.env.forEach((pair, i) => {
    const path = `${base}.env[${i}]`;
    if (pair.name === '') v.add(`${path}.name`, 'is required');
    else if (!ENV_NAME.test(pair.name)) {
      v.add(`${path}.name`, `"${pair.name}" is not a valid environment variable name: use letters, digits and "_", not starting with a digit`);
    } else {
      const first = seen.get(pair.name);
      if (first !== undefined) v.add(`${path}.name`, `duplicates env[${first}].name "${pair.name}"`);
      else seen.set(pair.name, i);
    }
    checkPairValue(v, `${path}.value`, pair, MCP_DEFINITION_LIMITS.envValueMaxLength, (value) =>
      value.includes(NUL) ? 'contains a NUL character, which an environment variable cannot carry' : undefined,
    );
  });
}

function checkPairValue(
  v: Violations,
  path: string,
  pair: SecretablePair,
  max: number,
  problem: (value: string) => string | undefined,
): void {
  const len = length(pair.value);
  if (len > max) return v.add(path, tooLong(len, max));
  const reason = problem(pair.value);
  if (reason !== undefined) v.add(path, reason);
}

/** RFC 9110 §5.6.2 token. */
const HTTP_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * Header names the caller may not set: hop-by-hop and framing headers (RFC 9110 §7.6.1,
 * §8.6; the HTTP client computes them and undici rejects several outright), and the headers
 * the MCP Streamable HTTP client itself manages (session, protocol version, content negotiation).
 */
const RESERVED_HEADERS: ReadonlyMap<string, string> = new Map([
  ['host', 'is derived from the url'],
  ['content-length', 'is computed by the HTTP client'],
  ['connection', 'is a hop-by-hop header managed by the HTTP client'],
  ['keep-alive', 'is a hop-by-hop header managed by the HTTP client'],
  ['proxy-connection', 'is a hop-by-hop header managed by the HTTP client'],
  ['te', 'is a hop-by-hop header managed by the HTTP client'],
  ['trailer', 'is a hop-by-hop header managed by the HTTP client'],
  ['transfer-encoding', 'is a hop-by-hop header managed by the HTTP client'],
  ['upgrade', 'is a hop-by-hop header managed by the HTTP client'],
  ['expect', 'is managed by the HTTP client'],
  ['mcp-session-id', 'is assigned by the MCP server and sent by the MCP client'],
  ['mcp-protocol-version', 'is negotiated and sent by the MCP client'],
  ['content-type', 'is set by the MCP client (application/json)'],
  ['accept', 'is set by the MCP client (application/json, text/event-stream)'],
]);

function checkStreamableHttp(v: Violations, t: Extract<McpTransport, { kind: 'streamable_http' }>): void {
  const base = 'transport.streamable_http';
  const urlProblem = httpUrlProblem(t.url, ['http:', 'https:']);
  if (urlProblem !== undefined) v.add(`${base}.url`, urlProblem);

  if (t.headers.length > MCP_DEFINITION_LIMITS.maxHeaders) {
    v.add(`${base}.headers`, `has ${plural(t.headers.length, 'item')}; at most ${MCP_DEFINITION_LIMITS.maxHeaders} are allowed`);
  }
  // Header names are case-insensitive (RFC 9110 §5.1): `Authorization` and `authorization` collide.
  const seen = new Map<string, number>();
  t.headers.forEach((pair, i) => {
    const path = `${base}.headers[${i}]`;
    const lower = pair.name.toLowerCase();
    if (pair.name === '') v.add(`${path}.name`, 'is required');
    else if (!HTTP_TOKEN.test(pair.name)) {
      const bad = [...pair.name].find((c) => !HTTP_TOKEN.test(c)) ?? '';
      v.add(`${path}.name`, `contains ${describeChar(bad)}; a header name is an RFC 9110 token (letters, digits and !#$%&'*+-.^_\`|~)`);
    } else if (RESERVED_HEADERS.has(lower)) {
      v.add(`${path}.name`, `"${pair.name}" ${RESERVED_HEADERS.get(lower)} and cannot be set`);
    } else {
      const first = seen.get(lower);
      if (first !== undefined) v.add(`${path}.name`, `duplicates headers[${first}].name (header names are case-insensitive)`);
      else seen.set(lower, i);
    }
    checkPairValue(v, `${path}.value`, pair, MCP_DEFINITION_LIMITS.headerValueMaxLength, headerValueProblem);
  });
}

function headerValueProblem(value: string): string | undefined {
  // CR/LF would let the value inject further headers (response splitting / request smuggling).
  if (/[\r\n]/.test(value)) return 'contains a line break (CR or LF), which would split the header';
  if (value.includes(NUL)) return 'contains a NUL character, which a header value cannot carry';
  // What Node's HTTP stack accepts (field-vchar, SP, HTAB, obs-text): anything else is rejected
  // at request time, so catch it here rather than on every call to the server.
  for (const c of value) {
    const cp = c.codePointAt(0) ?? 0;
    if ((cp < 0x20 && c !== '\t') || cp === 0x7f) return `contains the control character U+${hex(cp)}`;
    if (cp > 0xff) return `contains U+${hex(cp)}; header values can carry only Latin-1 characters`;
  }
  return undefined;
}

/** Problem with an http(s) URL, or undefined. Never quotes the URL: it may hold a token. */
function httpUrlProblem(raw: string, schemes: readonly string[]): string | undefined {
  const wanted = schemes.map((s) => s.slice(0, -1)).join(' or ');
  if (raw === '') return `is required: an ${wanted} URL`;
  const n = length(raw);
  if (n > MCP_DEFINITION_LIMITS.urlMaxLength) return tooLong(n, MCP_DEFINITION_LIMITS.urlMaxLength);
  // WHATWG URL silently strips leading/trailing spaces and tabs/newlines; a stored URL should be what is used.
  if (/[\s\u0000-\u001f\u007f]/u.test(raw)) return 'contains whitespace or a control character';
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return `is not an absolute URL; use e.g. ${schemes.includes('http:') ? 'https://mcp.example.com/mcp' : 'https://github.com/acme/weather'}`;
  }
  if (!schemes.includes(url.protocol)) return `must be an ${wanted} URL, not ${url.protocol.slice(0, -1)}`;
  if (url.hostname === '') return 'has no host';
  if (url.username !== '' || url.password !== '') {
    return schemes.includes('http:')
      ? 'must not contain credentials (user:password@); send them in a secret header (e.g. authorization) instead'
      : 'must not contain credentials (user:password@)';
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// repository_url, tags

function checkRepositoryUrl(v: Violations, repositoryUrl: string): void {
  if (repositoryUrl === '') return;
  const problem = httpUrlProblem(repositoryUrl, ['https:']);
  if (problem !== undefined) v.add('repository_url', problem);
}

const TAG = /^[a-z0-9][a-z0-9-]{0,49}$/;

function checkTags(v: Violations, tags: readonly string[]): void {
  if (tags.length > MCP_DEFINITION_LIMITS.maxTags) {
    v.add('tags', `has ${plural(tags.length, 'tag')}; at most ${MCP_DEFINITION_LIMITS.maxTags} are allowed`);
  }
  const seen = new Map<string, number>();
  tags.forEach((tag, i) => {
    const path = `tags[${i}]`;
    if (tag === '') return v.add(path, 'is empty');
    const n = length(tag);
    if (n > 50) return v.add(path, tooLong(n, 50));
    if (!TAG.test(tag)) {
      return v.add(
        path,
        TAG.test(tag.toLowerCase())
          ? `"${tag}" must be lower-case: use "${tag.toLowerCase()}"`
          : `"${tag}" must be lower-case letters, digits and "-", starting with a letter or digit`,
      );
    }
    const first = seen.get(tag);
    if (first !== undefined) v.add(path, `duplicates tags[${first}] "${tag}"`);
    else seen.set(tag, i);
  });
}

// ---------------------------------------------------------------------------------------------
// tools

const TOOL_NAME = /^[a-zA-Z0-9_.-]{1,128}$/;

function checkTools(v: Violations, tools: readonly ToolDeclaration[]): void {
  if (tools.length > MCP_DEFINITION_LIMITS.maxTools) {
    v.add('tools', `has ${plural(tools.length, 'tool')}; at most ${MCP_DEFINITION_LIMITS.maxTools} are allowed`);
  }
  const seen = new Map<string, number>();
  tools.forEach((tool, i) => {
    const path = `tools[${i}]`;
    if (tool.name === '') v.add(`${path}.name`, 'is required');
    else if (!TOOL_NAME.test(tool.name)) {
      v.add(`${path}.name`, 'must be 1 to 128 letters, digits, "_", "." or "-"');
    } else {
      // Tool names are matched exactly by MCP tools/call, so the check is case-sensitive.
      const first = seen.get(tool.name);
      if (first !== undefined) v.add(`${path}.name`, `duplicates tools[${first}].name "${tool.name}"`);
      else seen.set(tool.name, i);
    }
    const n = length(tool.description);
    if (n > MCP_DEFINITION_LIMITS.toolDescriptionMaxLength) {
      v.add(`${path}.description`, tooLong(n, MCP_DEFINITION_LIMITS.toolDescriptionMaxLength));
    } else if (tool.description.includes(NUL)) v.add(`${path}.description`, 'contains a NUL character');
    if (tool.inputSchema !== undefined) {
      const problem = inputSchemaProblem(tool.inputSchema);
      if (problem !== undefined) v.add(`${path}.input_schema`, problem);
    }
  });
}

/** MCP (tools/list): `inputSchema` is a JSON Schema whose `type` is "object", as arguments are an object. */
function inputSchemaProblem(schema: JsonObject): string | undefined {
  // The type says object, but a Struct decoded from JSON could still be anything at run time.
  const value: unknown = schema;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'must be a JSON object (a JSON Schema)';
  const type = schema['type'];
  if (type === undefined) return 'must have "type": "object" (MCP tool arguments are an object)';
  if (type !== 'object') return `must have "type": "object" (MCP tool arguments are an object), not ${JSON.stringify(type)}`;
  return undefined;
}
