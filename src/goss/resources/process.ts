/**
 * goss `process`: whether any process's comm (the kernel's executable name, cut to 15
 * characters; not its command line) equals the key. goss scans /proc/<pid>/stat; Deno
 * refuses /proc reads without --allow-all, so the list comes from `ps -e -o comm=` (procps).
 * @module
 */
import type { Attrs, GossContext, GossResourceType, GossSystem } from "../types.ts";
import { firstLine, lazy, runTool, systemOf } from "./_util.ts";

/** The comm names of `ps -e -o comm=` output, one per process. */
export function parsePsComm(stdout: string): string[] {
  return stdout.split("\n").map((l) => l.trim()).filter((l) => l !== "");
}

/** Comm names of all processes, via ps. */
export async function processNames(ctx: GossContext): Promise<string[]> {
  const r = await runTool(ctx, ["ps", "-e", "-o", "comm="], { purpose: "to list processes" });
  if (r.code !== 0) {
    throw new Error(`ps -e -o comm= failed (exit ${r.code}): ${firstLine(r.stderr)}`);
  }
  return parsePsComm(r.stdout);
}

function processSystem(target: string, _attrs: Attrs, ctx: GossContext): GossSystem {
  const names = lazy(() => processNames(ctx));
  return systemOf("Process", {
    running: async () => (await names()).includes(target),
  });
}

/** The `process` resource type. */
export const processType: GossResourceType = {
  type: "process",
  resultType: "Process",
  idAttr: "comm",
  tested: ["running"],
  options: [],
  required: ["running"],
  system: processSystem,
};
