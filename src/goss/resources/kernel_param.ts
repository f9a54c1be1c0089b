/**
 * goss `kernel-param`: a sysctl value as a string, surrounding whitespace trimmed (inner tabs
 * kept, e.g. "32768\t60999"). goss reads /proc/sys/<key>; Deno refuses /proc reads without
 * --allow-all, so this asks `sysctl -n <key>` (procps). A missing key is an error.
 * @module
 */
import type { Attrs, GossContext, GossResourceType, GossSystem } from "../types.ts";
import { firstLine, lazy, runTool, systemOf } from "./_util.ts";

function kernelParamSystem(target: string, _attrs: Attrs, ctx: GossContext): GossSystem {
  const value = lazy(async () => {
    if (!/^[A-Za-z0-9_.\/:@+-]+$/.test(target) || target.startsWith("-")) {
      throw new Error(`invalid kernel parameter name ${JSON.stringify(target)}`);
    }
    const r = await runTool(ctx, ["sysctl", "-n", target], {
      purpose: "to read kernel parameters",
    });
    if (r.code !== 0) {
      throw new Error(
        `kernel parameter ${target}: ${firstLine(r.stderr) || `sysctl exit ${r.code}`}`,
      );
    }
    return r.stdout.trim();
  });
  return systemOf("KernelParam", { value });
}

/** The `kernel-param` resource type. */
export const kernelParam: GossResourceType = {
  type: "kernel-param",
  resultType: "KernelParam",
  idAttr: "name",
  tested: ["value"],
  options: [],
  required: ["value"],
  system: kernelParamSystem,
};
