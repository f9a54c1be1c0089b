/**
 * The node API's action names and the glob matcher shared by tokens, requests and policy.
 * @module
 */

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
 * True when `text` matches the glob `pattern`: `*` matches any run of characters (including
 * none, including dots); every other character matches itself, case-sensitive. Linear time.
 */
export function globMatch(pattern: string, text: string): boolean {
  if (pattern.length > MAX_GLOB) return false;
  let p = 0, i = 0, star = -1, mark = 0;
  while (i < text.length) {
    if (p < pattern.length && pattern[p] !== "*" && pattern[p] === text[i]) {
      p++;
      i++;
    } else if (p < pattern.length && pattern[p] === "*") {
      star = p++;
      mark = i;
    } else if (star !== -1) {
      p = star + 1;
      i = ++mark;
    } else return false;
  }
  while (p < pattern.length && pattern[p] === "*") p++;
  return p === pattern.length;
}
