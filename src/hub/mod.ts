/**
 * The hub: composition root of the central services. For now the SCOUT_EVENTS archive stream,
 * the fleet state view fed by a durable consumer, republishing on Choria's subjects, and the
 * HTTP JSON API, Prometheus metrics and the live status page on loopback.
 * Layer 6: may import everything below it.
 * @module
 */
export {
  checkListen,
  DEFAULT_DUPLICATE_WINDOW_MS,
  EVENTS_STREAM,
  EVENTS_SUBJECTS,
  HUB_CONSUMER,
  type HubHandle,
  type HubOptions,
  isLoopback,
  parseListen,
  startHub,
} from "./hub.ts";
export { LiveFeed, type LiveFeedOptions } from "./live.ts";
export { pagePolicy, pageResponse, renderPage } from "./page.ts";
export {
  applyMetrics,
  createMetrics,
  FLEET_STATUSES,
  type FleetStatus,
  fleetStatus,
  type HubMetrics,
  type MetricsSnapshot,
  renderMetrics,
  restoreMetrics,
  snapshotMetrics,
  TALLY_PREFIX,
} from "./metrics.ts";
export {
  applyEvent,
  type CheckFilter,
  type CheckRow,
  type CheckView,
  createView,
  type FleetView,
  isStale,
  listNodes,
  type NodeRow,
  type NodeView,
  parseCheckFilter,
  queryChecks,
  type RejectReason,
  restoreView,
  snapshotView,
  type Verdict,
  verifyEvent,
  type ViewCounters,
  type ViewSnapshot,
} from "./view.ts";
export {
  type Attempt,
  DEADLETTER_PREFIX,
  DEADLETTER_REASON_HEADER,
  deliver,
  encodeBinary,
  type EncodedEvent,
  encodeHeaderValue,
  encodeStructured,
  GATEWAY_CONSUMER_PREFIX,
  GATEWAY_STREAM,
  type GatewayHandle,
  type GatewayOptions,
  isPermanent,
  type RetryOptions,
  type RuleStats,
  startGateway,
} from "./gateway.ts";
export {
  DEFAULT_TIMEOUT_MS,
  type DeliveryMode,
  type GatewayRule,
  globMatch,
  globToRegExp,
  matchesRule,
  parseGatewayRules,
  type RuleMatch,
} from "./_gateway_rules.ts";
export {
  createProvisioner,
  type EnrolListener,
  type EnrolReply,
  MAX_BODY_BYTES,
  type NodeConfig,
  type Provisioner,
  type ProvisionerOptions,
  type ProvisionerState,
  serveProvisioner,
} from "./provisioner.ts";
export {
  applyDenied,
  createFleetFileWriter,
  DENIED_FILE,
  type FilePoll,
  fileVersion,
  FLEET_FILE,
  type FleetFileWriterOptions,
  fleetFromState,
  type FleetRoles,
  parseDeniedFile,
  pollFile,
  renderDeniedFile,
  renderFleetFile,
} from "./fleet_file.ts";
export {
  defaultEnrolNames,
  type EnrolmentHandle,
  type EnrolmentOptions,
  startEnrolment,
} from "./enrolment.ts";
