import { type Command, parseFlags } from "./_common.ts";

import { VERSION } from "../agent.ts";

/** Answers a permission query without prompting (Deno.permissions.querySync by default). */
export type PermissionQuery = (d: Deno.PermissionDescriptor) => Deno.PermissionState;

/**
 * Which of deno.json's permission sets this process runs under, told apart by a grant only one
 * of them has: `hub` alone may read SCOUT_ENROL_LISTEN, `agent` alone may read the host name, and
 * neither grants FFI (a process that has it runs with more than either set, e.g. `-A`).
 */
export function permissionProfile(
  query: PermissionQuery = (d) => Deno.permissions.querySync(d).state,
): string {
  const granted = (d: Deno.PermissionDescriptor) => query(d) === "granted";
  if (granted({ name: "ffi" })) return "none (more than Scout's sets grant, e.g. -A)";
  if (granted({ name: "env", variable: "SCOUT_ENROL_LISTEN" })) return "hub";
  if (granted({ name: "sys", kind: "hostname" })) return "agent";
  return "unknown";
}

/** `scout version`: version, Deno version, target and permission profile. */
export const versionCommand: Command = {
  name: "version",
  summary: "print version, Deno version, target and permission profile",
  help: "scout version: print version information\n\nUsage: scout version [--json]\n",
  run(args, io) {
    const { values } = parseFlags(args, { json: { type: "boolean" } }, "version");
    const info = {
      version: VERSION,
      deno: Deno.version.deno,
      target: Deno.build.target,
      permissions: permissionProfile(),
    };
    io.out(
      values.json
        ? JSON.stringify(info) + "\n"
        : `scout ${info.version} (deno ${info.deno}, ${info.target}, permission set "${info.permissions}")\n`,
    );
    return Promise.resolve(0);
  },
};
