/**
 * Runtime ports (Clock, ProcessRunner, Fs, Logger) and their Deno implementations.
 * Layer 0: imports only errors.ts. Everything above gets these through one deps object.
 * @module
 */
export { type Clock, sleepOn, systemClock, type Timer } from "./clock.ts";
export {
  createConsoleLogger,
  type LogFields,
  type Logger,
  type LogLevel,
  nullLogger,
} from "./log.ts";
export { createDenoFs, type DenoFsOptions, type DirEntry, ensureDir, type Fs } from "./fs.ts";
export {
  createDenoRunner,
  type DenoRunnerOptions,
  limitConcurrency,
  type ProcessRunner,
  type RunRequest,
  type RunResult,
} from "./process.ts";
export {
  createCachedResolver,
  type ProgramResolverFn,
  resolveProgram,
  type ResolveProgramOptions,
  type ResolveProgramResult,
} from "./programs.ts";
export { requestSocket, serveSocket, type SocketHandler, type SocketServer } from "./socket.ts";
export type {
  DenoGossHost,
  DenoGossHostOptions,
  HostDialOptions,
  HostDialResult,
  HostDnsRecord,
  HostDnsType,
  HostHashAlgorithm,
  HostHttpRequest,
  HostHttpResponse,
  HostRun,
  HostStat,
} from "./goss_host.ts";

/**
 * Creates the Deno GossHost, loading its module on first use: an agent without goss checks
 * never loads it (nor the goss engine).
 */
export async function createDenoGossHost(
  options?: import("./goss_host.ts").DenoGossHostOptions,
): Promise<import("./goss_host.ts").DenoGossHost> {
  const { createDenoGossHost: create } = await import("./goss_host.ts");
  return create(options);
}
export { openSpool, type Spool, type SpoolOptions, type SpoolRecord } from "./spool.ts";
export { createDenoSrvResolver, type DnsSrvRecord, parseNameServer } from "./dns.ts";
export {
  createDenoStdinRunner,
  type DenoStdinRunnerOptions,
  type StdinRunner,
  type StdinRunRequest,
  type StdinRunResult,
} from "./stdin_runner.ts";
export { createPinnedHttps, type JsonReply, type PinnedHttps } from "./https.ts";
export { createDenoAuditSink, type DenoAuditSink } from "./audit_file.ts";
