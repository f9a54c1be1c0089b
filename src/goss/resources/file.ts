/**
 * goss `file`: existence (lstat, symlinks not followed), mode, size, owner/group (names from
 * /etc/passwd and /etc/group, getent as fallback), uid/gid, filetype, link target, contents
 * and digests. All native (GossHost), no tool but `getent`/`id` for rare fallbacks.
 * @module
 */
import type { Attrs, GossContext, GossResourceType, GossStat, GossSystem } from "../types.ts";
import { loadPasswd, nameOfId } from "./_passwd.ts";
import { assertAllowed, lazy, normalizePath, runTool, systemOf } from "./_util.ts";

/** Home directory of the user the agent runs as: $HOME, else its passwd entry via `id -u`. */
async function ownHome(ctx: GossContext): Promise<string> {
  const home = ctx.host.env("HOME");
  if (home) return home;
  const r = await runTool(ctx, ["id", "-u"], { purpose: "to expand ~ to the agent's home" });
  const uid = Number(r.stdout.trim());
  const me = (await loadPasswd(ctx)).find((e) => e.uid === uid);
  if (r.code !== 0 || me === undefined) {
    throw new Error("cannot expand ~: the agent's home is unknown");
  }
  return me.home;
}

/** goss's path rules: `~` and `~user` expand to home directories; relative means from cwd. */
export async function resolveFilePath(ctx: GossContext, path: string): Promise<string> {
  let p = path;
  const m = /^~([^/]*)(\/.*)?$/.exec(p);
  if (m) {
    const user = m[1] ?? "";
    let home: string;
    if (user === "") home = await ownHome(ctx);
    else {
      const e = (await loadPasswd(ctx)).find((x) => x.name === user);
      if (e === undefined) throw new Error(`cannot expand ~${user}: no such user`);
      home = e.home;
    }
    p = home + (m[2] ?? "");
  }
  return normalizePath(p, ctx.host.cwd());
}

function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, "0");
}

function fileSystem(target: string, _attrs: Attrs, ctx: GossContext): GossSystem {
  const path = lazy(async () => {
    const p = await resolveFilePath(ctx, target);
    await assertAllowed(ctx, p, "file");
    return p;
  });
  const lstat = lazy(async () => ctx.host.stat(await path(), false));
  const existing = async (): Promise<GossStat> => {
    const s = await lstat();
    if (s === null) throw new Error(`file ${await path()} does not exist`);
    return s;
  };
  const contents = lazy(async () =>
    new TextDecoder().decode(await ctx.host.readFile(await path()))
  );
  const digest = (alg: "md5" | "sha256" | "sha512") =>
    lazy(async () => ctx.host.hashFile(await path(), alg));

  return systemOf("File", {
    exists: async () => (await lstat()) !== null,
    mode: async () => octal((await existing()).mode),
    size: async () => (await existing()).size,
    owner: async () => nameOfId(ctx, "user", (await existing()).uid),
    group: async () => nameOfId(ctx, "group", (await existing()).gid),
    uid: async () => (await existing()).uid,
    gid: async () => (await existing()).gid,
    filetype: async () => (await existing()).filetype,
    "linked-to": async () => {
      const s = await existing();
      if (s.filetype !== "symlink") throw new Error(`${await path()} is not a symlink`);
      return await ctx.host.readLink(await path());
    },
    contents,
    contains: contents,
    md5: digest("md5"),
    sha256: digest("sha256"),
    sha512: digest("sha512"),
  }, { linkedto: "linked-to" });
}

/** The `file` resource type. */
export const file: GossResourceType = {
  type: "file",
  resultType: "File",
  idAttr: "path",
  tested: [
    "exists",
    "mode",
    "owner",
    "group",
    "uid",
    "gid",
    "linked-to",
    "filetype",
    "contents",
    "contains",
    "size",
    "md5",
    "sha256",
    "sha512",
  ],
  options: [],
  required: ["exists"],
  streams: ["contents", "contains"],
  gate: "exists",
  system: fileSystem,
};
