/**
 * Config: check files and Choria machine definitions (YAML text -> typed specs or located errors),
 * durations, identities and command lines. Pure: no Deno.*, no I/O. Layer 1: imports errors.ts,
 * zod and yaml only.
 * @module
 */
export { joinArgs, splitArgs } from "./_args.ts";
export {
  BUILTINS,
  CHECK_DEFAULTS,
  loadCheckFile,
  RESULT_STATES,
  SCOUT_CHECK_STATES,
  scoutCheckMachine,
  type ScoutCheckWatcher,
} from "./_check.ts";
export { formatDuration, parseDuration } from "./_duration.ts";
export { canonicalJson, sha256Hex } from "./_hash.ts";
export { globMatch, GROUP_PATTERN, IDENTITY_PATTERN, parseIdentity } from "./_identity.ts";
export { loadMachineFile } from "./_machine.ts";
export type {
  CheckSpec,
  LoadOptions,
  LoadResult,
  MachineSpec,
  RemediateSpec,
  TransitionSpec,
  WatcherSpec,
} from "./_types.ts";
