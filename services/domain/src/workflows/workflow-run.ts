import type { JsonObject, JsonValue } from '@bufbuild/protobuf';
import type { WorkflowStep } from './workflow-definition';

export const RUN_STATUSES = ['PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
export type StepStatus = RunStatus;

/** Statuses a run can still leave; the others are final. */
export const ACTIVE_RUN_STATUSES: readonly RunStatus[] = ['PENDING', 'RUNNING'];

/** What a run executes: the definition as it was at start, immune to later edits. */
export interface DefinitionSnapshot {
  readonly steps: readonly WorkflowStep[];
  readonly parametersSchema: JsonObject;
  readonly runTimeoutMs: number;
}

export interface StepRun {
  readonly stepId: string;
  readonly status: StepStatus;
  readonly attempt: number;
  readonly output: JsonValue | undefined;
  readonly error: string;
  readonly startTime: Date | undefined;
  readonly endTime: Date | undefined;
  /**
   * For a PENDING step waiting out the backoff of a failed attempt: how long until it is due, as
   * of when the run was read (by the database's clock, so no two machines' clocks are compared).
   */
  readonly retryDueInMs: number | undefined;
}

export interface WorkflowRun {
  readonly uid: string;
  readonly workflowDefinition: string;
  readonly workflowDefinitionRevision: number;
  readonly definition: DefinitionSnapshot;
  readonly parameters: JsonObject;
  readonly status: RunStatus;
  readonly error: string;
  readonly failedStep: string;
  readonly actorId: string;
  readonly traceId: string;
  /** The starting request's trace context, so work done later joins the same trace. */
  readonly traceparent: string;
  readonly revision: number;
  readonly createTime: Date;
  readonly startTime: Date | undefined;
  readonly endTime: Date | undefined;
  readonly updateTime: Date;
  readonly steps: readonly StepRun[];
}

export const runName = (uid: string) => `workflowRuns/${uid}`;

const RUN_NAME = /^workflowRuns\/([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$/;

/** The uid in `workflowRuns/{uid}`, or undefined when the name is not of that form. */
export function parseRunName(name: string): string | undefined {
  return RUN_NAME.exec(name)?.[1]?.toLowerCase();
}
