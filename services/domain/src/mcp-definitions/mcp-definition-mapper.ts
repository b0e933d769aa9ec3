import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import {
  McpDefinitionSchema,
  type McpDefinition as McpDefinitionMessage,
} from '../../../../shared/gen/mcpbackend/mcp/v1/mcp_definition_pb';
import type { McpDefinition, McpDefinitionInput, McpTransport } from './mcp-definition';
import { mcpDefinitionEtag } from './mcp-definition-json';
import { redactMcpDefinition } from './redact';

/** Proto → domain input. Shape only; the rules live in mcp-definition-rules.ts. */
export function fromMcpDefinitionMessage(m: McpDefinitionMessage | undefined): McpDefinitionInput {
  const t = m?.transport;
  const transport: McpTransport | undefined =
    t?.case === 'stdio'
      ? { kind: 'stdio', command: t.value.command, args: t.value.args, env: t.value.env.map(({ name, value, secret }) => ({ name, value, secret })) }
      : t?.case === 'streamableHttp'
        ? { kind: 'streamable_http', url: t.value.url, headers: t.value.headers.map(({ name, value, secret }) => ({ name, value, secret })) }
        : undefined;
  return {
    name: m?.name ?? '',
    title: m?.title ?? '',
    description: m?.description ?? '',
    version: m?.version ?? '',
    transport,
    repositoryUrl: m?.repositoryUrl ?? '',
    tags: m?.tags ?? [],
    tools: (m?.tools ?? []).map((tool) => ({ name: tool.name, description: tool.description, inputSchema: tool.inputSchema })),
  };
}

/** Domain → proto, always redacted: no code path can return a secret. */
export function toMcpDefinitionMessage(definition: McpDefinition): McpDefinitionMessage {
  const d = redactMcpDefinition(definition);
  const t = d.transport;
  return create(McpDefinitionSchema, {
    name: d.name,
    uid: d.uid,
    title: d.title,
    description: d.description,
    version: d.version,
    transport:
      t.kind === 'stdio'
        ? { case: 'stdio', value: { command: t.command, args: [...t.args], env: t.env.map((e) => ({ ...e })) } }
        : { case: 'streamableHttp', value: { url: t.url, headers: t.headers.map((h) => ({ ...h })) } },
    repositoryUrl: d.repositoryUrl,
    tags: [...d.tags],
    tools: d.tools.map((tool) => ({ name: tool.name, description: tool.description, inputSchema: tool.inputSchema })),
    createTime: timestampFromDate(d.createTime),
    updateTime: timestampFromDate(d.updateTime),
    etag: mcpDefinitionEtag(d),
  });
}
