import { create } from '@bufbuild/protobuf';
import type { ServiceImpl } from '@connectrpc/connect';
import { InvalidArgumentError } from '../../../../shared/errors/app-error';
import {
  CancelWorkflowRunResponseSchema,
  CreateWorkflowDefinitionResponseSchema,
  DeleteWorkflowDefinitionResponseSchema,
  GetWorkflowDefinitionResponseSchema,
  GetWorkflowRunResponseSchema,
  ListWorkflowDefinitionsResponseSchema,
  ListWorkflowRunsResponseSchema,
  StartWorkflowRunResponseSchema,
  UpdateWorkflowDefinitionResponseSchema,
  WatchWorkflowRunResponseSchema,
  WorkflowService,
} from '../../../../shared/gen/mcpbackend/workflow/v1/workflow_service_pb';
import type { DomainDeps } from '../domain-deps';
import {
  createWorkflowDefinition,
  deleteWorkflowDefinition,
  getWorkflowDefinition,
  listWorkflowDefinitions,
  updateWorkflowDefinition,
} from './workflow-definition-use-cases';
import { fromWorkflowDefinitionMessage, toWorkflowDefinitionMessage, toWorkflowRunMessage } from './workflow-mapper';
import { cancelWorkflowRun, getWorkflowRun, listWorkflowRuns, startWorkflowRun, watchWorkflowRun } from './workflow-run-use-cases';

/** Proto in, proto out; the use cases tell the story. */
export function createWorkflowHandler(deps: DomainDeps): ServiceImpl<typeof WorkflowService> {
  return {
    async createWorkflowDefinition(req) {
      if (!req.workflowDefinition) throw InvalidArgumentError.field('workflow_definition', 'is required');
      const created = await createWorkflowDefinition(deps, fromWorkflowDefinitionMessage(req.workflowDefinition), req.requestId);
      return create(CreateWorkflowDefinitionResponseSchema, { workflowDefinition: toWorkflowDefinitionMessage(created) });
    },
    async getWorkflowDefinition(req) {
      if (!req.name) throw InvalidArgumentError.field('name', 'is required');
      return create(GetWorkflowDefinitionResponseSchema, {
        workflowDefinition: toWorkflowDefinitionMessage(await getWorkflowDefinition(deps, req.name)),
      });
    },
    async listWorkflowDefinitions(req) {
      const page = await listWorkflowDefinitions(deps, { filter: req.filter, pageSize: req.pageSize, pageToken: req.pageToken });
      return create(ListWorkflowDefinitionsResponseSchema, {
        workflowDefinitions: page.definitions.map(toWorkflowDefinitionMessage),
        nextPageToken: page.nextPageToken,
      });
    },
    async updateWorkflowDefinition(req) {
      if (!req.workflowDefinition) throw InvalidArgumentError.field('workflow_definition', 'is required');
      if (!req.workflowDefinition.name) throw InvalidArgumentError.field('workflow_definition.name', 'is required');
      const updated = await updateWorkflowDefinition(deps, {
        patch: fromWorkflowDefinitionMessage(req.workflowDefinition),
        updateMask: req.updateMask?.paths ?? [],
        etag: req.workflowDefinition.etag,
      });
      return create(UpdateWorkflowDefinitionResponseSchema, { workflowDefinition: toWorkflowDefinitionMessage(updated) });
    },
    async deleteWorkflowDefinition(req) {
      if (!req.name) throw InvalidArgumentError.field('name', 'is required');
      await deleteWorkflowDefinition(deps, { name: req.name, etag: req.etag });
      return create(DeleteWorkflowDefinitionResponseSchema, {});
    },
    async startWorkflowRun(req) {
      const run = await startWorkflowRun(deps, {
        workflowDefinition: req.workflowDefinition,
        parameters: req.parameters ?? {},
        requestId: req.requestId,
      });
      return create(StartWorkflowRunResponseSchema, { workflowRun: toWorkflowRunMessage(run) });
    },
    async getWorkflowRun(req) {
      return create(GetWorkflowRunResponseSchema, { workflowRun: toWorkflowRunMessage(await getWorkflowRun(deps, req.name)) });
    },
    async listWorkflowRuns(req) {
      const page = await listWorkflowRuns(deps, { filter: req.filter, pageSize: req.pageSize, pageToken: req.pageToken });
      return create(ListWorkflowRunsResponseSchema, { workflowRuns: page.runs.map(toWorkflowRunMessage), nextPageToken: page.nextPageToken });
    },
    async cancelWorkflowRun(req) {
      const run = await cancelWorkflowRun(deps, { name: req.name, reason: req.reason });
      return create(CancelWorkflowRunResponseSchema, { workflowRun: toWorkflowRunMessage(run) });
    },
    async *watchWorkflowRun(req, ctx) {
      for await (const run of watchWorkflowRun(deps, req.name, ctx.signal)) {
        yield create(WatchWorkflowRunResponseSchema, { workflowRun: toWorkflowRunMessage(run) });
      }
    },
  };
}
