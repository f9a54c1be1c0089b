/**
 * Hosted machines (FSM state plus watchers gated by state) and the manager that loads,
 * reloads, persists and controls them. Layer 4: may import config, fsm, events,
 * prometheus, watchers, runtime and errors.
 * @module
 */
export {
  type ControlOutcome,
  createMachine,
  type HostedMachine,
  type MachineDeps,
  type MachineInfo,
  type MachineSnapshot,
  type Maintenance,
} from "./machine.ts";
export {
  checkMachine,
  type ControlReply,
  createManager,
  type FileProblem,
  type LoadReport,
  type Manager,
  type ManagerOptions,
} from "./manager.ts";
