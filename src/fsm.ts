/**
 * The pure finite state machine: a spec of named transitions, and fire() that computes the
 * next state or says why it cannot. Layer 1: no I/O, no time, no library.
 * @module
 */

/** One named transition: valid from any of `from`, lands in `destination`. */
export interface FsmTransition {
  /** Event name a watcher or an operator fires. */
  name: string;
  /** States in which the event is valid. */
  from: readonly string[];
  /** State the machine enters. */
  destination: string;
}

/** An FSM spec: the start state and the transitions. */
export interface FsmSpec {
  /** State at start. */
  initialState: string;
  /** Every transition the machine knows. */
  transitions: readonly FsmTransition[];
}

/** What fire() decided: a discriminated union on `kind`. */
export type FireResult =
  | { kind: "moved"; from: string; to: string; transition: string }
  | { kind: "same"; state: string; transition: string }
  | { kind: "invalid"; state: string; transition: string; reason: string };

/** All states a spec mentions: the initial state, every `from` and every destination. */
export function knownStates(spec: FsmSpec): string[] {
  const states = new Set<string>([spec.initialState]);
  for (const t of spec.transitions) {
    for (const f of t.from) states.add(f);
    states.add(t.destination);
  }
  return [...states];
}

/** Problems of a spec as sentences: duplicate transition names; empty result when valid. */
export function checkSpec(spec: FsmSpec): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const t of spec.transitions) {
    if (seen.has(t.name)) problems.push(`transition "${t.name}" is defined twice`);
    seen.add(t.name);
    if (t.from.length === 0) problems.push(`transition "${t.name}" has no "from" states`);
  }
  if (spec.transitions.length === 0) problems.push("the machine has no transitions");
  return problems;
}

/**
 * Fires a transition from a state. Firing into the state the machine is already in is
 * "same" (no event, as in Choria); an unknown transition or a wrong source state is "invalid".
 */
export function fire(spec: FsmSpec, state: string, transition: string): FireResult {
  const t = spec.transitions.find((x) => x.name === transition);
  if (!t) {
    return { kind: "invalid", state, transition, reason: `no transition named "${transition}"` };
  }
  if (!t.from.includes(state)) {
    return {
      kind: "invalid",
      state,
      transition,
      reason: `transition "${transition}" is not allowed from state "${state}"`,
    };
  }
  if (t.destination === state) return { kind: "same", state, transition };
  return { kind: "moved", from: state, to: t.destination, transition };
}

/** Names of the transitions valid from a state. */
export function availableTransitions(spec: FsmSpec, state: string): string[] {
  return spec.transitions.filter((t) => t.from.includes(state)).map((t) => t.name);
}

/**
 * Choria's FiveSecStartGrace backoff against runaway machines, in ms: the n-th transition
 * within a busy period waits this long before it is applied (n starts at 0).
 */
export const TRANSITION_BACKOFF_MS: readonly number[] = [
  0,
  25,
  50,
  75,
  100,
  125,
  150,
  200,
  250,
  500,
  750,
  1000,
  1500,
  2000,
  2500,
  3000,
  3500,
  4000,
  4500,
  5000,
];

/** A busy period ends after this long without a transition, and the backoff starts over. */
export const BACKOFF_RESET_MS = 60_000;

/** State of the transition backoff: how many transitions in the current busy period. */
export interface BackoffState {
  /** Transitions counted since the last quiet minute. */
  count: number;
  /** When the last transition was counted, ms. */
  lastMs: number;
}

/** Counts one transition at nowMs and returns the delay to apply and the new backoff state. */
export function nextBackoff(
  state: BackoffState,
  nowMs: number,
): { delayMs: number; state: BackoffState } {
  const count = nowMs - state.lastMs > BACKOFF_RESET_MS ? 0 : state.count;
  const step = TRANSITION_BACKOFF_MS[Math.min(count, TRANSITION_BACKOFF_MS.length - 1)] ?? 5000;
  return { delayMs: step, state: { count: count + 1, lastMs: nowMs } };
}
