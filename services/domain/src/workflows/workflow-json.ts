import type { JsonObject } from '@bufbuild/protobuf';
import { computeEtag } from '../../../../shared/api/etag';
import type { WorkflowDefinition, WorkflowStep } from './workflow-definition';
import type { WorkflowRun } from './workflow-run';

/** Durations in the proto JSON mapping: seconds with a trailing "s". */
export const durationJson = (ms: number): string => `${ms / 1000}s`;

export const workflowDefinitionEtag = (d: Pick<WorkflowDefinition, 'uid' | 'revision'>): string => computeEtag({ uid: d.uid, revision: d.revision });
export const workflowRunEtag = (r: Pick<WorkflowRun, 'uid' | 'revision'>): string => computeEtag({ uid: r.uid, revision: r.revision });

export function stepJson(s: WorkflowStep): JsonObject {
  return {
    id: s.id,
    mcpDefinition: s.mcpDefinition,
    tool: s.tool,
    arguments: s.arguments,
    dependsOn: [...s.dependsOn],
    retryPolicy: {
      maxAttempts: s.retryPolicy.maxAttempts,
      initialBackoff: durationJson(s.retryPolicy.initialBackoffMs),
      backoffMultiplier: s.retryPolicy.backoffMultiplier,
      maxBackoff: durationJson(s.retryPolicy.maxBackoffMs),
    },
    timeout: durationJson(s.timeoutMs),
  };
}

/** The fields an update can change, in the API's JSON shape: what audit diffs compare. */
export function workflowFieldJson(d: WorkflowDefinition): Record<string, JsonObject[keyof JsonObject]> {
  return {
    description: d.description,
    parameters_schema: d.parametersSchema,
    steps: d.steps.map(stepJson),
    run_timeout: durationJson(d.runTimeoutMs),
  };
}

/** The definition as the audit log records it (API JSON shape). */
export function workflowDefinitionJson(d: WorkflowDefinition): JsonObject {
  return {
    name: d.name,
    uid: d.uid,
    description: d.description,
    parametersSchema: d.parametersSchema,
    steps: d.steps.map(stepJson),
    runTimeout: durationJson(d.runTimeoutMs),
    revision: String(d.revision),
    createTime: d.createTime.toISOString(),
    updateTime: d.updateTime.toISOString(),
    etag: workflowDefinitionEtag(d),
  };
}
