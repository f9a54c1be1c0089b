/**
 * The managed broker: renders the nats-server 2.9 configuration (mutual TLS with verify_and_map,
 * JetStream, one user per identity with role permissions) from validated options.
 * Layer 5: pure, no Deno.*; imports config/mod.ts, errors.ts and zod only.
 * @module
 */
export {
  type BrokerConfigInput,
  type BrokerConfigOptions,
  brokerConfigSchema,
  CHECKS_BUCKET,
  EVENTS_STREAM,
  type Fleet,
  fleetSchema,
  hubPermissions,
  nodeInboxPrefix,
  nodePermissions,
  operatorPermissions,
  parseBrokerConfig,
  parseFleet,
  type Permissions,
  quote,
  renderBrokerConfig,
  type Role,
  subjectToken,
} from "./config.ts";
