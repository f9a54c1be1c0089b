/**
 * goss `group`: parsed natively from /etc/group (local groups only, as goss's static build).
 * @module
 */
import type { Attrs, GossContext, GossResourceType, GossSystem } from "../types.ts";
import { GROUP_PATH, loadGroups } from "./_passwd.ts";
import { lazy, systemOf } from "./_util.ts";

function groupSystem(target: string, _attrs: Attrs, ctx: GossContext): GossSystem {
  const entry = lazy(async () => (await loadGroups(ctx)).find((e) => e.name === target) ?? null);
  return systemOf("Group", {
    exists: async () => (await entry()) !== null,
    gid: async () => {
      const e = await entry();
      if (e === null) throw new Error(`group ${target} does not exist in ${GROUP_PATH}`);
      return e.gid;
    },
  });
}

/** The `group` resource type. */
export const group: GossResourceType = {
  type: "group",
  resultType: "Group",
  idAttr: "groupname",
  tested: ["exists", "gid"],
  options: [],
  required: ["exists"],
  gate: "exists",
  system: groupSystem,
};
