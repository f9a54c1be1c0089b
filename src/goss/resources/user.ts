/**
 * goss `user`: parsed natively from /etc/passwd (and /etc/group for `groups`); like goss's
 * static build it sees local users only, not LDAP/sssd ones.
 * @module
 */
import type { Attrs, GossContext, GossResourceType, GossSystem } from "../types.ts";
import { groupsOf, loadGroups, loadPasswd, PASSWD_PATH, type PasswdEntry } from "./_passwd.ts";
import { lazy, systemOf } from "./_util.ts";

function userSystem(target: string, _attrs: Attrs, ctx: GossContext): GossSystem {
  const entry = lazy(async () => (await loadPasswd(ctx)).find((e) => e.name === target) ?? null);
  const existing = async (): Promise<PasswdEntry> => {
    const e = await entry();
    if (e === null) throw new Error(`user ${target} does not exist in ${PASSWD_PATH}`);
    return e;
  };
  return systemOf("User", {
    exists: async () => (await entry()) !== null,
    uid: async () => (await existing()).uid,
    gid: async () => (await existing()).gid,
    home: async () => (await existing()).home,
    shell: async () => (await existing()).shell,
    groups: async () => groupsOf(await existing(), await loadGroups(ctx)),
  });
}

/** The `user` resource type. */
export const user: GossResourceType = {
  type: "user",
  resultType: "User",
  idAttr: "username",
  tested: ["exists", "uid", "gid", "groups", "home", "shell"],
  options: [],
  required: ["exists"],
  gate: "exists",
  system: userSystem,
};
