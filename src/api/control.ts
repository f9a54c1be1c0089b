import { z } from "zod";
import { errorToJson } from "../errors.ts";

/** The check operations the API needs; the machine manager satisfies it. */
export interface CheckControl {
  /** Every check's summary. */
  list(checksOnly?: boolean): readonly object[];
  /** FORCE_CHECK. */
  trigger(names: string[]): Promise<ControlResult>;
  /** MAINTENANCE with optional expiry (epoch ms) and reason. */
  maintenance(
    names: string[],
    m: { reason: string; untilMs: number | null },
  ): Promise<ControlResult>;
  /** RESUME. */
  resume(names: string[]): Promise<ControlResult>;
}

/** Per-check outcome lists, as Choria's scout agent replies. */
export interface ControlResult {
  /** Checks that moved. */
  transitioned: string[];
  /** Checks the request did not apply to. */
  skipped: { name: string; reason: string }[];
  /** Unknown checks and failures. */
  failed: { name: string; reason: string }[];
}

/** A local control request, parsed at the socket boundary. */
export const controlRequest = z.discriminatedUnion("action", [
  z.strictObject({ action: z.literal("checks") }),
  z.strictObject({ action: z.literal("trigger"), checks: z.array(z.string()).default([]) }),
  z.strictObject({
    action: z.literal("maintenance"),
    checks: z.array(z.string()).default([]),
    for_ms: z.number().int().positive().nullable().default(null),
    reason: z.string().max(1024).default(""),
  }),
  z.strictObject({ action: z.literal("resume"), checks: z.array(z.string()).default([]) }),
  z.strictObject({ action: z.literal("reprovision") }),
]);

/** A parsed control request. */
export type ControlRequest = z.infer<typeof controlRequest>;

/** The fleet connection as `scout checks` shows it; null when the agent is standalone. */
export interface FleetStatus {
  /** Whether the broker connection is up. */
  connected: boolean;
  /** Events in the spool waiting for JetStream's acknowledgement. */
  waiting: number;
  /** Events dropped from a full spool since it was created. */
  dropped: number;
}

/** What the agent adds to the check operations. */
export interface AgentHooks {
  /** The fleet connection, or null when standalone. */
  fleet?: () => FleetStatus | null;
  /** Drops the enrolment and enrols again; false when the agent does not enrol. */
  reprovision?: () => boolean;
}

/** Reply to a control request. */
export type ControlResponse =
  | { ok: true; checks: readonly object[]; fleet: FleetStatus | null }
  | { ok: true; reprovisioning: true }
  | ({ ok: true } & ControlResult)
  | { ok: false; error: { code: string; message: string; hint?: string } };

/** Handles one control request against a CheckControl; never throws. */
export async function handleControl(
  control: CheckControl,
  raw: unknown,
  nowMs: number,
  agent: AgentHooks = {},
): Promise<ControlResponse> {
  const parsed = controlRequest.safeParse(raw);
  if (!parsed.success) {
    return {
      ok: false,
      error: { code: "USAGE", message: `bad control request: ${parsed.error.issues[0]?.message}` },
    };
  }
  const req = parsed.data;
  try {
    switch (req.action) {
      case "checks":
        return { ok: true, checks: control.list(true), fleet: agent.fleet?.() ?? null };
      case "trigger":
        return { ok: true, ...(await control.trigger(req.checks)) };
      case "maintenance":
        return {
          ok: true,
          ...(await control.maintenance(req.checks, {
            reason: req.reason,
            untilMs: req.for_ms === null ? null : nowMs + req.for_ms,
          })),
        };
      case "resume":
        return { ok: true, ...(await control.resume(req.checks)) };
      case "reprovision":
        if (agent.reprovision?.() !== true) {
          return {
            ok: false,
            error: {
              code: "USAGE",
              message: "this agent does not enrol (it was started with --broker or --standalone)",
              hint: "restart it without --broker and --standalone, with a provisioning token",
            },
          };
        }
        return { ok: true, reprovisioning: true };
    }
  } catch (e) {
    return { ok: false, error: errorToJson(e) };
  }
}
