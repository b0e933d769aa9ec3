import type { JsonObject } from '@bufbuild/protobuf';

export interface RetryPolicy {
  readonly maxAttempts: number;
  readonly initialBackoffMs: number;
  readonly backoffMultiplier: number;
  readonly maxBackoffMs: number;
}

export interface WorkflowStep {
  readonly id: string;
  /** The McpDefinition's name, e.g. `io.github.acme/weather`. */
  readonly mcpDefinition: string;
  readonly tool: string;
  /** Template: string values may hold `${params.…}` and `${steps.<id>.output…}` references. */
  readonly arguments: JsonObject;
  readonly dependsOn: readonly string[];
  readonly retryPolicy: RetryPolicy;
  readonly timeoutMs: number;
}

/** The fields a caller sets on create (and may change on update, except `name`). */
export interface WorkflowDefinitionInput {
  readonly name: string;
  readonly description: string;
  /** JSON Schema for run parameters; an empty object accepts any object. */
  readonly parametersSchema: JsonObject;
  readonly steps: readonly WorkflowStep[];
  readonly runTimeoutMs: number;
}

export interface WorkflowDefinition extends WorkflowDefinitionInput {
  readonly uid: string;
  readonly revision: number;
  readonly createTime: Date;
  readonly updateTime: Date;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxAttempts: 3, initialBackoffMs: 1_000, backoffMultiplier: 2, maxBackoffMs: 30_000 };
export const DEFAULT_STEP_TIMEOUT_MS = 60_000;
export const DEFAULT_RUN_TIMEOUT_MS = 3_600_000;

export const WORKFLOW_DEFINITION_MUTABLE_FIELDS = ['description', 'parameters_schema', 'steps', 'run_timeout'] as const;
export type WorkflowDefinitionMutableField = (typeof WORKFLOW_DEFINITION_MUTABLE_FIELDS)[number];
