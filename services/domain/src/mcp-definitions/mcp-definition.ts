import type { JsonObject } from '@bufbuild/protobuf';

/** A name/value pair whose value may be write-only. */
export interface SecretablePair {
  readonly name: string;
  readonly value: string;
  readonly secret: boolean;
}

export type McpTransport =
  | { readonly kind: 'stdio'; readonly command: string; readonly args: readonly string[]; readonly env: readonly SecretablePair[] }
  | { readonly kind: 'streamable_http'; readonly url: string; readonly headers: readonly SecretablePair[] };

export interface ToolDeclaration {
  readonly name: string;
  readonly description: string;
  readonly inputSchema: JsonObject | undefined;
}

/** The fields a caller sets on create (and may change on update, except `name`). */
export interface McpDefinitionInput {
  readonly name: string;
  readonly title: string;
  readonly description: string;
  readonly version: string;
  readonly transport: McpTransport | undefined;
  readonly repositoryUrl: string;
  readonly tags: readonly string[];
  readonly tools: readonly ToolDeclaration[];
}

/** As stored: secrets included. Never returned to callers or logged as is (see redact). */
export interface McpDefinition extends McpDefinitionInput {
  readonly uid: string;
  readonly transport: McpTransport;
  readonly revision: number;
  readonly createTime: Date;
  readonly updateTime: Date;
}

/** Fields an update mask may name. */
export const MCP_DEFINITION_MUTABLE_FIELDS = ['title', 'description', 'version', 'transport', 'repository_url', 'tags', 'tools'] as const;
export type McpDefinitionMutableField = (typeof MCP_DEFINITION_MUTABLE_FIELDS)[number];
