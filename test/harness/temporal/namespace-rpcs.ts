/** GetSystemInfo (the capabilities the SDK checks) and the namespace RPCs. */
import type { Engine, NamespaceRecord } from './engine.js';
import { alreadyExists, invalidArgument, type Handler } from './grpc-service.js';
import { api, duration, durationMs, type Plain, type temporal } from './proto.js';


function describe(record: NamespaceRecord) {
  return {
    namespaceInfo: {
      name: record.name,
      id: record.id,
      state: api.enums.v1.NamespaceState.NAMESPACE_STATE_REGISTERED,
      description: record.description,
      data: record.data,
      capabilities: { eagerWorkflowStart: false, syncUpdate: false, asyncUpdate: false },
      supportsSchedules: true,
    },
    config: {
      workflowExecutionRetentionTtl: duration(record.retentionMs),
      historyArchivalState: api.enums.v1.ArchivalState.ARCHIVAL_STATE_DISABLED,
      visibilityArchivalState: api.enums.v1.ArchivalState.ARCHIVAL_STATE_DISABLED,
    },
    replicationConfig: { activeClusterName: 'active', clusters: [{ clusterName: 'active' }] },
    isGlobalNamespace: false,
  };
}

export function namespaceHandlers(engine: Engine): Record<string, Handler> {
  return {
    async GetSystemInfo() {
      return {
        serverVersion: '1.24.0-rotor-test-server',
        capabilities: {
          signalAndQueryHeader: true,
          internalErrorDifferentiation: true,
          activityFailureIncludeHeartbeat: true,
          supportsSchedules: true,
          encodedFailureAttributes: true,
          buildIdBasedVersioning: false,
          upsertMemo: true,
          eagerWorkflowStart: false,
          sdkMetadata: true,
          countGroupByExecutionStatus: true,
          nexus: false,
        },
      };
    },

    async DescribeNamespace(request: Plain<temporal.api.workflowservice.v1.IDescribeNamespaceRequest>) {
      const record = request.id ? [...engine.namespaces.values()].find((n) => n.id === request.id) : undefined;
      return describe(record ?? engine.namespace(request.namespace));
    },

    async ListNamespaces() {
      return { namespaces: [...engine.namespaces.values()].map(describe) };
    },

    async RegisterNamespace(request: Plain<temporal.api.workflowservice.v1.IRegisterNamespaceRequest>) {
      if (!request.namespace) throw invalidArgument('Namespace is not set on request.');
      if (engine.namespaces.has(request.namespace)) {
        throw alreadyExists('Namespace already exists.', [{ typeName: 'temporal.api.errordetails.v1.NamespaceAlreadyExistsFailure', value: {} }]);
      }
      engine.registerNamespace(request.namespace, request.description ?? '', durationMs(request.workflowExecutionRetentionPeriod) || 3 * 24 * 3600_000, request.data ?? {});
      return {};
    },
  };
}
