/** Assembles every RPC handler of the WorkflowService the test server implements. */
import type { Engine } from './engine.js';
import type { Handler } from './grpc-service.js';
import { unimplemented } from './grpc-service.js';
import { namespaceHandlers } from './namespace-rpcs.js';
import { QueryRouter } from './queries.js';
import { ScheduleStore } from './schedules.js';
import { taskHandlers } from './task-rpcs.js';
import { workflowHandlers } from './workflow-rpcs.js';

export function workflowServiceHandlers(engine: Engine, extra: Record<string, Handler> = {}): Record<string, Handler> {
  const queries = new QueryRouter(engine);
  return {
    ...namespaceHandlers(engine),
    ...workflowHandlers(engine, queries),
    ...taskHandlers(engine, queries),
    ...new ScheduleStore(engine).handlers(),
    ...extra,
    async UpdateWorkflowExecution() {
      throw unimplemented('UpdateWorkflowExecution (workflow updates) is not implemented by the Rotor Temporal test server');
    },
  };
}
