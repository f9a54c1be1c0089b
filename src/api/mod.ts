/**
 * The check-control API: request schemas and handlers over a narrow CheckControl port.
 * Layer 5: imports errors and zod only; it never imports machine/ (the manager satisfies
 * CheckControl structurally). Today it serves the local control socket; RPC comes later.
 * @module
 */
export {
  type AgentHooks,
  type CheckControl,
  type ControlRequest,
  controlRequest,
  type ControlResponse,
  type ControlResult,
  type FleetStatus,
  handleControl,
} from "./control.ts";
