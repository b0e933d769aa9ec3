import { create, fromJson } from '@bufbuild/protobuf';
import { timestampFromDate, ValueSchema, type Duration } from '@bufbuild/protobuf/wkt';
import { WorkflowDefinitionSchema, type WorkflowDefinition as WorkflowDefinitionMessage } from '../../../../shared/gen/mcpbackend/workflow/v1/workflow_definition_pb';
import {
  StepRunStatus,
  WorkflowRunSchema,
  WorkflowRunStatus,
  type WorkflowRun as WorkflowRunMessage,
} from '../../../../shared/gen/mcpbackend/workflow/v1/workflow_run_pb';
import {
  DEFAULT_RETRY_POLICY,
  DEFAULT_RUN_TIMEOUT_MS,
  DEFAULT_STEP_TIMEOUT_MS,
  type WorkflowDefinition,
  type WorkflowDefinitionInput,
} from './workflow-definition';
import { workflowDefinitionEtag, workflowRunEtag } from './workflow-json';
import { runName, type WorkflowRun } from './workflow-run';

const toMs = (d: Duration | undefined, fallback: number): number =>
  d ? Number(d.seconds) * 1000 + Math.trunc(d.nanos / 1e6) : fallback;

const toDuration = (ms: number) => ({ seconds: BigInt(Math.trunc(ms / 1000)), nanos: (ms % 1000) * 1e6 });

/** Proto → domain input, with documented defaults for unset policies; the rules check ranges. */
export function fromWorkflowDefinitionMessage(m: WorkflowDefinitionMessage | undefined): WorkflowDefinitionInput {
  return {
    name: m?.name ?? '',
    description: m?.description ?? '',
    parametersSchema: m?.parametersSchema ?? {},
    runTimeoutMs: toMs(m?.runTimeout, DEFAULT_RUN_TIMEOUT_MS),
    steps: (m?.steps ?? []).map((s) => ({
      id: s.id,
      mcpDefinition: s.mcpDefinition,
      tool: s.tool,
      arguments: s.arguments ?? {},
      dependsOn: s.dependsOn,
      retryPolicy: s.retryPolicy
        ? {
            maxAttempts: s.retryPolicy.maxAttempts || DEFAULT_RETRY_POLICY.maxAttempts,
            initialBackoffMs: toMs(s.retryPolicy.initialBackoff, DEFAULT_RETRY_POLICY.initialBackoffMs),
            backoffMultiplier: s.retryPolicy.backoffMultiplier || DEFAULT_RETRY_POLICY.backoffMultiplier,
            maxBackoffMs: toMs(s.retryPolicy.maxBackoff, DEFAULT_RETRY_POLICY.maxBackoffMs),
          }
        : DEFAULT_RETRY_POLICY,
      timeoutMs: toMs(s.timeout, DEFAULT_STEP_TIMEOUT_MS),
    })),
  };
}

export function toWorkflowDefinitionMessage(d: WorkflowDefinition): WorkflowDefinitionMessage {
  return create(WorkflowDefinitionSchema, {
    name: d.name,
    uid: d.uid,
    description: d.description,
    parametersSchema: d.parametersSchema,
    steps: d.steps.map((s) => ({
      id: s.id,
      mcpDefinition: s.mcpDefinition,
      tool: s.tool,
      arguments: s.arguments,
      dependsOn: [...s.dependsOn],
      retryPolicy: {
        maxAttempts: s.retryPolicy.maxAttempts,
        initialBackoff: toDuration(s.retryPolicy.initialBackoffMs),
        backoffMultiplier: s.retryPolicy.backoffMultiplier,
        maxBackoff: toDuration(s.retryPolicy.maxBackoffMs),
      },
      timeout: toDuration(s.timeoutMs),
    })),
    revision: BigInt(d.revision),
    runTimeout: toDuration(d.runTimeoutMs),
    createTime: timestampFromDate(d.createTime),
    updateTime: timestampFromDate(d.updateTime),
    etag: workflowDefinitionEtag(d),
  });
}

const ts = (d: Date | undefined) => (d ? timestampFromDate(d) : undefined);

export function toWorkflowRunMessage(r: WorkflowRun): WorkflowRunMessage {
  return create(WorkflowRunSchema, {
    name: runName(r.uid),
    workflowDefinition: r.workflowDefinition,
    workflowDefinitionRevision: BigInt(r.workflowDefinitionRevision),
    parameters: r.parameters,
    status: WorkflowRunStatus[r.status],
    steps: r.steps.map((s) => ({
      stepId: s.stepId,
      status: StepRunStatus[s.status],
      attempt: s.attempt,
      // google.protobuf.Value is a message in protobuf-es, unlike Struct fields.
      output: s.output === undefined ? undefined : fromJson(ValueSchema, s.output),
      error: s.error,
      startTime: ts(s.startTime),
      endTime: ts(s.endTime),
    })),
    error: r.error,
    failedStep: r.failedStep,
    actorId: r.actorId,
    traceId: r.traceId,
    createTime: timestampFromDate(r.createTime),
    startTime: ts(r.startTime),
    endTime: ts(r.endTime),
    updateTime: timestampFromDate(r.updateTime),
    etag: workflowRunEtag(r),
  });
}
