/**
 * Provisioning: tokens (issue, verify on the hub, read on the agent), discovery of the token
 * and the hub (flag, env, embedded, file; DNS SRV), and the agent's enrolment and renewal. Layer 5: may import errors.ts, runtime/,
 * config/ and npm jose/zod; effects only through injected deps.
 * @module
 */
export {
  caFingerprint,
  identityAllowed,
  type IssueProvisioningOptions,
  issueProvisioningToken,
  pinnedCa,
  PROVISIONING_PURPOSE,
  type ProvisioningClaims,
  readProvisioningToken,
  SEARCH_DOMAINS,
  TOKEN_INVALID,
  type VerifyProvisioningOptions,
  verifyProvisioningToken,
} from "./token.ts";
export {
  DEFAULT_TOKEN_FILE,
  discoverProvisioning,
  type Discovery,
  type DiscoveryDeps,
  type DiscoverySources,
  PROVISIONER_NOT_FOUND,
  retrySchedule,
  searchDomains,
  SRV_SERVICE,
  type SrvRecord,
  srvUrls,
  type TokenSource,
} from "./discover.ts";
export {
  enrol,
  type EnrolDeps,
  type Enrolment,
  enrolmentSchema,
  EST_PATHS,
  renew,
  renewAtMs,
} from "./enrol.ts";
