import { deepEqual, equal } from "node:assert/strict";
import {
  availableTransitions,
  BACKOFF_RESET_MS,
  checkSpec,
  fire,
  type FsmSpec,
  knownStates,
  nextBackoff,
} from "./fsm.ts";

const spec: FsmSpec = {
  initialState: "UNKNOWN",
  transitions: [
    { name: "OK", from: ["UNKNOWN", "OK", "CRITICAL"], destination: "OK" },
    { name: "CRITICAL", from: ["UNKNOWN", "OK", "CRITICAL"], destination: "CRITICAL" },
    { name: "MAINTENANCE", from: ["UNKNOWN", "OK", "CRITICAL"], destination: "MAINTENANCE" },
    { name: "RESUME", from: ["MAINTENANCE"], destination: "UNKNOWN" },
  ],
};

Deno.test("fire() moves to the destination of a valid transition", () => {
  deepEqual(fire(spec, "OK", "CRITICAL"), {
    kind: "moved",
    from: "OK",
    to: "CRITICAL",
    transition: "CRITICAL",
  });
});

Deno.test("fire() into the current state is 'same', not a move", () => {
  equal(fire(spec, "OK", "OK").kind, "same");
});

Deno.test("fire() rejects an event not allowed from the current state", () => {
  const r = fire(spec, "MAINTENANCE", "OK");
  equal(r.kind, "invalid");
  if (r.kind === "invalid") {
    equal(r.reason, 'transition "OK" is not allowed from state "MAINTENANCE"');
  }
});

Deno.test("fire() rejects an unknown transition name", () => {
  equal(fire(spec, "OK", "NOPE").kind, "invalid");
});

Deno.test("knownStates lists initial, from and destination states once", () => {
  deepEqual(knownStates(spec).sort(), ["CRITICAL", "MAINTENANCE", "OK", "UNKNOWN"]);
});

Deno.test("checkSpec reports a transition defined twice", () => {
  const bad = { ...spec, transitions: [...spec.transitions, spec.transitions[0]!] };
  deepEqual(checkSpec(bad), ['transition "OK" is defined twice']);
  deepEqual(checkSpec(spec), []);
});

Deno.test("availableTransitions lists only RESUME in MAINTENANCE", () => {
  deepEqual(availableTransitions(spec, "MAINTENANCE"), ["RESUME"]);
});

Deno.test("transition backoff grows within a busy minute and resets after a quiet one", () => {
  let state = { count: 0, lastMs: -Infinity };
  const delays: number[] = [];
  for (let i = 0; i < 22; i++) {
    const r = nextBackoff(state, 1000 + i);
    delays.push(r.delayMs);
    state = r.state;
  }
  equal(delays[0], 0);
  equal(delays[1], 25);
  equal(delays[21], 5000);
  const after = nextBackoff(state, 1021 + BACKOFF_RESET_MS + 1);
  equal(after.delayMs, 0);
});
