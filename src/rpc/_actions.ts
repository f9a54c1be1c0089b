/**
 * The node API's action names and the glob matcher shared by tokens, requests and policy.
 * @module
 */
import { globMatch as matchGlob } from "../config/mod.ts";

/** Every action of the node API (`scout.api.<token>.<action>`), Choria's names. */
export const ACTIONS = [
  "checks",
  "trigger",
  "maintenance",
  "resume",
  "goss_validate",
  "machine_states",
  "machine_transition",
] as const;

/** One node API action. */
export type RpcAction = typeof ACTIONS[number];

/**
 * Everything a token may grant: the RPC actions, and `push` (storing signed check bundles in
 * the SCOUT_CHECKS bucket; checked by the nodes that apply them, not by the RPC service).
 */
export const GRANTS: readonly string[] = [...ACTIONS, "push"];

/** Actions any authenticated caller may call (read-only listing), unless a local deny rule says no. */
export const LISTING_ACTIONS: readonly RpcAction[] = ["checks", "machine_states"];

/** Actions that act on named checks (machines); the checks globs apply to them. */
export const CHECK_ACTIONS: readonly RpcAction[] = [
  "trigger",
  "maintenance",
  "resume",
  "machine_transition",
];

/** True when `name` is one of ACTIONS. */
export function isAction(name: string): name is RpcAction {
  return (ACTIONS as readonly string[]).includes(name);
}

/** Longest glob pattern accepted anywhere (tokens, policy). */
export const MAX_GLOB = 256;

/**
 * True when `text` matches the glob `pattern` (config's globMatch: `*` matches any run of
 * characters); a pattern longer than MAX_GLOB never matches.
 */
export function globMatch(pattern: string, text: string): boolean {
  return pattern.length <= MAX_GLOB && matchGlob(pattern, text);
}
