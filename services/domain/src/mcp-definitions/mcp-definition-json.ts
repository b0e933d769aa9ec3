import type { JsonObject } from '@bufbuild/protobuf';
import { computeEtag } from '../../../../shared/api/etag';
import type { McpDefinition } from './mcp-definition';
import { toolJson, transportJson } from './mcp-definition-diff';
import { redactMcpDefinition } from './redact';

export const mcpDefinitionEtag = (d: Pick<McpDefinition, 'uid' | 'revision'>): string => computeEtag({ uid: d.uid, revision: d.revision });

/**
 * The definition as the audit log records it: the API's JSON shape (camelCase, like the
 * proto JSON mapping), with every secret value emptied.
 */
export function mcpDefinitionJson(definition: McpDefinition): JsonObject {
  const d = redactMcpDefinition(definition);
  return {
    name: d.name,
    uid: d.uid,
    title: d.title,
    description: d.description,
    version: d.version,
    ...transportJson(d.transport),
    repositoryUrl: d.repositoryUrl,
    tags: [...d.tags],
    tools: d.tools.map(toolJson),
    createTime: d.createTime.toISOString(),
    updateTime: d.updateTime.toISOString(),
    etag: mcpDefinitionEtag(d),
  };
}
