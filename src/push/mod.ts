/**
 * Network push of checks: signed check bundles (sign, verify against the operator tokens of the
 * node API) and the node-side applier that verifies and applies them through ports.
 * Layer 5: may import errors.ts, config/, rpc/ and npm zod; pure, no Deno.*.
 * @module
 */
export {
  type Bundle,
  BUNDLE_VERSION,
  DEFAULT_MAX_BUNDLE_LIFE_MS,
  DEFAULT_PUSH_SKEW_MS,
  groupKey,
  MAX_BUNDLE_BYTES,
  nodeKey,
  parseBundle,
  PUSH_ACTION,
  PUSH_SIGNATURE_CONTEXT,
  type RefusalStep,
  signBundle,
  type SignBundleOptions,
  signedText,
  type VerifiedBundle,
  verifyBundle,
  type VerifyBundleOptions,
  type VerifyResult,
} from "./bundle.ts";
export {
  type AppliedBundle,
  createPushApplier,
  type PushApplier,
  type PushApplierOptions,
  type PushEntry,
  type PushOutcome,
  type PushPorts,
  type PushState,
  type RefusedBundle,
} from "./applier.ts";

/** The JetStream KV bucket of pushed checks. */
export const CHECKS_BUCKET = "SCOUT_CHECKS";
