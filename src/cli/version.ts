import { type Command, parseFlags } from "./_common.ts";

import { VERSION } from "../agent.ts";

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
      permissions: "agent",
    };
    io.out(
      values.json
        ? JSON.stringify(info) + "\n"
        : `scout ${info.version} (deno ${info.deno}, ${info.target}, permission set "${info.permissions}")\n`,
    );
    return Promise.resolve(0);
  },
};
