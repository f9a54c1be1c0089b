/**
 * The hub's side of the broker's fleet file and of the operator's deny list.
 *
 * - `<state-dir>/fleet.json`: written by the hub (atomically, only when its text changes) from
 *   the provisioner's state each time it changes; `scout broker run --fleet` reads it and
 *   reloads nats-server when it changes. Enrolled nodes (with their enrolment's groups), the hub itself, operators
 *   and denied identities.
 * - `<state-dir>/provisioner/denied.json` (`{"denied": [...]}`): written only by
 *   `scout-hub hub deny|allow`, read by the running hub once a second (by its mtime) and at
 *   start, and applied to the provisioner. One writer per file: the provisioner alone writes
 *   its state.json (used single-use tokens must never be lost to a concurrent edit).
 * @module
 */
import { z } from "zod";
import type { Fleet } from "../broker/mod.ts";
import { GROUP_PATTERN, IDENTITY_PATTERN } from "../config/mod.ts";
import { ScoutError } from "../errors.ts";
import type { Fs, Logger } from "../runtime/mod.ts";
import type { Provisioner, ProvisionerState } from "./provisioner.ts";

/** The fleet file's name inside the state directory. */
export const FLEET_FILE = "fleet.json";
/** The deny list's name inside `<state-dir>/provisioner`. */
export const DENIED_FILE = "denied.json";

/** The identities with a fixed role, from the hub's flags. */
export interface FleetRoles {
  /** Hub identities (full access): the hub's own. */
  hubs: readonly string[];
  /** Operator identities. */
  operators: readonly string[];
}

/**
 * Builds the broker's fleet from the provisioner's state: each identity appears once, with
 * precedence hubs, then denied, then operators, then enrolled nodes (a denied node loses its
 * user; the hub never locks itself out). Invalid identities are left out. Pure.
 */
export function fleetFromState(
  state: Pick<ProvisionerState, "nodes" | "denied">,
  roles: FleetRoles,
): Fleet {
  const seen = new Set<string>();
  const take = (ids: Iterable<string>): string[] => {
    const out: string[] = [];
    for (const id of ids) {
      const key = id.toLowerCase();
      if (!IDENTITY_PATTERN.test(id) || seen.has(key)) continue;
      seen.add(key);
      out.push(id);
    }
    return out.sort();
  };
  const hubs = take(roles.hubs);
  const denied = take(state.denied);
  const operators = take(roles.operators);
  const nodes = take(Object.keys(state.nodes)).map((identity) => ({
    identity,
    groups: [...new Set(state.nodes[identity]?.groups ?? [])].filter((g) => GROUP_PATTERN.test(g))
      .sort(),
  }));
  return { nodes, hubs, operators, denied };
}

/** The fleet file's text (JSON, which `scout broker --fleet` reads). Pure. */
export function renderFleetFile(fleet: Fleet): string {
  return JSON.stringify(fleet, null, 2) + "\n";
}

/** Options of createFleetFileWriter. */
export interface FleetFileWriterOptions {
  /** The fleet file, `<state-dir>/fleet.json`. */
  path: string;
  /** Hub and operator identities. */
  roles: FleetRoles;
  /** Writes atomically. */
  fs: Fs;
  /** Where a written file is logged. */
  logger: Logger;
}

/**
 * Returns a function that writes the fleet file for a provisioner state, atomically and only
 * when its text differs from the last one written (a renewal changes nothing for the broker).
 */
export function createFleetFileWriter(
  opts: FleetFileWriterOptions,
): (state: Pick<ProvisionerState, "nodes" | "denied">) => Promise<void> {
  let last: string | null = null;
  return async (state) => {
    const fleet = fleetFromState(state, opts.roles);
    const text = renderFleetFile(fleet);
    if (text === last) return;
    await opts.fs.writeAtomic(opts.path, text, { mode: 0o644 });
    last = text;
    opts.logger.info("fleet file written", {
      file: opts.path,
      nodes: fleet.nodes.length,
      denied: fleet.denied.length,
    });
  };
}

const deniedSchema = z.strictObject({
  denied: z.array(z.string().regex(IDENTITY_PATTERN, { message: "invalid identity" })),
});

/** Parses the deny list file; throws CONFIG_INVALID naming the file when it is malformed. */
export function parseDeniedFile(text: string, file: string): string[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new ScoutError("CONFIG_INVALID", `${file}: not JSON: ${(e as Error).message}`, {
      hint: 'the deny list is {"denied": ["identity", ...]}; edit it with `scout-hub hub deny`',
      context: { file },
    });
  }
  const r = deniedSchema.safeParse(value);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new ScoutError(
      "CONFIG_INVALID",
      `${file}: ${i?.path.join(".") || "file"}: ${i?.message ?? "invalid"}`,
      {
        hint: 'the deny list is {"denied": ["identity", ...]}; edit it with `scout-hub hub deny`',
        context: { file },
      },
    );
  }
  return [...new Set(r.data.denied)].sort();
}

/** The deny list file's text. Pure. */
export function renderDeniedFile(denied: readonly string[]): string {
  return JSON.stringify({ denied: [...new Set(denied)].sort() }, null, 2) + "\n";
}

/**
 * Makes the provisioner's deny list equal to `desired` (denies the missing, allows the extra).
 * Returns what changed.
 */
export async function applyDenied(
  provisioner: Pick<Provisioner, "setDenied" | "state">,
  desired: readonly string[],
): Promise<{ denied: string[]; allowed: string[] }> {
  const want = new Set(desired);
  const have = new Set(provisioner.state().denied);
  const denied = [...want].filter((id) => !have.has(id)).sort();
  const allowed = [...have].filter((id) => !want.has(id)).sort();
  for (const id of denied) await provisioner.setDenied(id, true);
  for (const id of allowed) await provisioner.setDenied(id, false);
  return { denied, allowed };
}

/** A running file poller. */
export interface FilePoll {
  /** Stops polling; resolves once a running callback has finished. */
  stop(): Promise<void>;
}

/** The identity of a file's current version: mtime, size and inode ("" when absent). */
export async function fileVersion(path: string): Promise<string> {
  try {
    const s = await Deno.stat(path);
    return `${s.mtime?.getTime() ?? 0}:${s.size}:${s.ino ?? 0}`;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return "";
    throw e;
  }
}

/**
 * Polls a file's mtime, size and inode every `intervalMs` (default 1000) and calls `onChange`
 * when they differ from the previous look (the first look only records them). An atomic
 * rename always counts as a change. Calls never overlap; a failing callback is logged.
 */
export function pollFile(
  path: string,
  onChange: () => Promise<void>,
  opts: { intervalMs?: number; logger: Logger },
): FilePoll {
  const interval = opts.intervalMs ?? 1000;
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<void> = Promise.resolve();
  let last: string | null = null;
  const tick = async () => {
    try {
      const v = await fileVersion(path);
      const changed = last !== null && v !== last;
      last = v;
      if (changed && !stopped) await onChange();
    } catch (e) {
      opts.logger.warn("watching a file failed", { file: path, error: String(e) });
    }
  };
  const loop = () => {
    running = tick().then(() => {
      if (!stopped) timer = setTimeout(loop, interval);
    });
  };
  loop();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
