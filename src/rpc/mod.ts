/**
 * RPC security core of the node API (`scout.api.<token>.<action>`): operator tokens, the signed
 * request envelope and its authentication, authorization by token grants and local policy, and
 * the audit log. Layer 5: may import errors.ts, runtime/ (types), config/, npm jose/zod/yaml; pure.
 * @module
 */
export {
  ACTIONS,
  CHECK_ACTIONS,
  globMatch,
  isAction,
  LISTING_ACTIONS,
  type RpcAction,
} from "./_actions.ts";
export {
  DEFAULT_TOKEN_SKEW_MS,
  type Ed25519Jwk,
  generateCallerKeyPair,
  importCallerPrivateKey,
  type IssueOperatorOptions,
  issueOperatorToken,
  JWKS_ALGORITHMS,
  OPERATOR_PURPOSE,
  type OperatorClaims,
  parseCallerPublicKey,
  toEd25519Jwk,
  type TrustedIssuer,
  type VerifyOperatorOptions,
  verifyOperatorToken,
} from "./token.ts";
export {
  ALL_NODES,
  ARGS_SCHEMAS,
  type AuthenticateOptions,
  authenticateRequest,
  type AuthResult,
  type AuthStep,
  DEFAULT_MAX_REQUEST_BYTES,
  DEFAULT_REQUEST_SKEW_MS,
  ReplayCache,
  type RequestBase,
  requestScope,
  type RpcArgs,
  type RpcRequest,
  SIGNATURE_CONTEXT,
  signedBytes,
  signRequest,
  type SignRequestOptions,
} from "./request.ts";
export {
  authorize,
  type AuthorizeInput,
  type Decision,
  type LocalPolicy,
  parsePolicy,
  type PolicyRule,
} from "./policy.ts";
export {
  type AuditEntry,
  type AuditLine,
  type AuditLog,
  type AuditLogOptions,
  type AuditSink,
  createAuditLog,
} from "./audit.ts";
export {
  createRpcService,
  type GossRequest,
  type MachineStateInfo,
  parseTrustedIssuer,
  RateLimiter,
  type RpcCheckInfo,
  type RpcControl,
  type RpcControlResult,
  type RpcErrorCode,
  type RpcReply,
  type RpcService,
  type RpcServiceOptions,
} from "./service.ts";
