/**
 * Events as an agent would send them, for the hub, gateway and watch tests.
 * @module
 */
import {
  type MachineRef,
  nagiosStateEvent,
  type NagiosStatus,
  type ScoutEvent,
} from "../src/events.ts";

/** The machine of a test event: version 1.0.0, instance id derived from the machine name. */
export function testRef(identity: string, machine: string): MachineRef {
  return { identity, machine, version: "1.0.0", instanceId: `i-${machine}` };
}

/** Options of testNagios. */
export interface TestNagiosOptions {
  /** Plugin output. @default "<machine> <status>" */
  output?: string;
  /** Check annotations. @default {} */
  annotations?: Record<string, string>;
  /** CloudEvent extension attributes. @default none */
  extensions?: Record<string, string | number | boolean>;
}

/** A nagios state event of a check run now. */
export function testNagios(
  identity: string,
  machine: string,
  status: NagiosStatus,
  options: TestNagiosOptions = {},
): ScoutEvent {
  const now = Date.now();
  return nagiosStateEvent(testRef(identity, machine), {
    watcher: "check",
    plugin: "/bin/check",
    status,
    output: options.output ?? `${machine} ${status}`,
    checkTimeMs: now,
    runtimeMs: 5,
    perfdata: [],
    history: [],
    annotations: options.annotations ?? {},
  }, {
    eventId: crypto.randomUUID(),
    timeMs: now,
    ...(options.extensions ? { extensions: options.extensions } : {}),
  });
}
