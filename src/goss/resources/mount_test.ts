import { deepEqual, equal, match } from "node:assert/strict";
import { createDenoGossHost } from "../../runtime/goss_host.ts";
import { mount, parseFindmnt, parseUsage, splitOptions } from "./mount.ts";
import { actual, ctxOf, FakeHost, rejection } from "./_testing.ts";

/** Real tests may skip for a missing tool only outside CI (under CI=1 they must fail). */
const ignore = (await createDenoGossHost().which("findmnt")) === null && !Deno.env.get("CI");

const TABLE = JSON.stringify({
  filesystems: [
    {
      target: "/",
      source: "/dev/vda1",
      fstype: "ext4",
      "vfs-options": "rw,relatime",
      "fs-options": "rw,errors=remount-ro",
    },
    {
      target: "/data",
      source: "/dev/sdb1",
      fstype: "xfs",
      "vfs-options": "rw,noexec,nosuid,noexec",
      "fs-options": "rw,attr2,inode64",
    },
    { target: "/data", source: "tmpfs", fstype: "tmpfs", "vfs-options": "ro", "fs-options": "rw" },
    {
      target: "/srv/my share",
      source: "nas:/export",
      fstype: "nfs4",
      "vfs-options": "rw",
      "fs-options": 'rw,context="a,b",vers=4.2',
    },
  ],
});

Deno.test("mount options split on commas outside quotes and lose duplicates", () => {
  deepEqual(splitOptions('rw,context="system_u:object_r:x,s0",noexec,rw'), [
    "rw",
    'context="system_u:object_r:x,s0"',
    "noexec",
  ]);
  deepEqual(splitOptions(""), []);
});

Deno.test("findmnt JSON parser maps vfs-options to opts and fs-options to vfs-opts", () => {
  const [root, data] = parseFindmnt(TABLE);
  deepEqual(root, {
    target: "/",
    source: "/dev/vda1",
    fstype: "ext4",
    opts: ["rw", "relatime"],
    vfsOpts: ["rw", "errors=remount-ro"],
  });
  deepEqual(data!.opts, ["rw", "noexec", "nosuid"]);
});

Deno.test("mount usage is rounded used/size percent; old findmnt strings and empty sizes work", () => {
  equal(parseUsage(JSON.stringify({ filesystems: [{ target: "/", size: 1000, used: 125 }] })), 13);
  equal(
    parseUsage(JSON.stringify({ filesystems: [{ target: "/", size: "1000", used: "500" }] })),
    50,
  );
  equal(parseUsage(JSON.stringify({ filesystems: [{ target: "/proc", size: 0, used: 0 }] })), 0);
});

Deno.test("mount reports the first entry for a mount point and its properties", async () => {
  const host = new FakeHost({
    programs: {
      findmnt: (argv) =>
        argv.includes("--mountpoint")
          ? { stdout: JSON.stringify({ filesystems: [{ target: "/data", size: 200, used: 50 }] }) }
          : { stdout: TABLE },
    },
  });
  const ctx = ctxOf(host);
  const get = (p: string) => actual(mount, "/data", {}, ctx, p);
  equal(await get("exists"), true);
  equal(await get("source"), "/dev/sdb1");
  equal(await get("filesystem"), "xfs");
  deepEqual(await get("opts"), ["rw", "noexec", "nosuid"]);
  deepEqual(await get("vfs-opts"), ["rw", "attr2", "inode64"]);
  equal(await get("usage"), 25);
  equal(await actual(mount, "/srv/my share", {}, ctx, "source"), "nas:/export");
  equal(await actual(mount, "/nope", {}, ctx, "exists"), false);
  match(await rejection(actual(mount, "/nope", {}, ctx, "opts")), /Mountpoint not found/);
});

Deno.test("mount without findmnt is an error naming util-linux", async () => {
  match(
    await rejection(actual(mount, "/", {}, ctxOf(new FakeHost()), "exists")),
    /findmnt is not installed.*util-linux/,
  );
});

Deno.test({
  name: "mount reads the real mount table: / exists with a type, a source and a usage",
  ignore,
}, async () => {
  const ctx = ctxOf(createDenoGossHost());
  equal(await actual(mount, "/", {}, ctx, "exists"), true);
  match(String(await actual(mount, "/", {}, ctx, "filesystem")), /^[a-z0-9.]+$/);
  equal(String(await actual(mount, "/", {}, ctx, "source")) !== "", true);
  const opts = await actual(mount, "/", {}, ctx, "opts");
  equal(Array.isArray(opts) && (opts.includes("rw") || opts.includes("ro")), true);
  const usage = await actual(mount, "/", {}, ctx, "usage");
  equal(typeof usage === "number" && usage >= 0 && usage <= 100, true);
  equal(await actual(mount, "/no/such/mount/scout", {}, ctx, "exists"), false);
});

Deno.test(
  { name: "mount sees a real tmpfs it mounted: options, source, type and usage", ignore },
  async () => {
    const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "scout-goss-mnt-" }));
    const mounted = new Deno.Command("mount", {
      args: ["-t", "tmpfs", "-o", "size=1m,noexec,nosuid", "scouttmp", dir],
      stdout: "null",
      stderr: "null",
    }).outputSync().success;
    try {
      if (!mounted) return; // needs root with CAP_SYS_ADMIN; the / test above covers the rest
      await Deno.writeFile(`${dir}/half`, new Uint8Array(512 * 1024));
      const ctx = ctxOf(createDenoGossHost());
      equal(await actual(mount, dir, {}, ctx, "exists"), true);
      equal(await actual(mount, dir, {}, ctx, "source"), "scouttmp");
      equal(await actual(mount, dir, {}, ctx, "filesystem"), "tmpfs");
      const opts = await actual(mount, dir, {}, ctx, "opts") as string[];
      equal(opts.includes("noexec") && opts.includes("nosuid"), true);
      const vfs = await actual(mount, dir, {}, ctx, "vfs-opts") as string[];
      equal(vfs.includes("size=1024k"), true);
      equal(await actual(mount, dir, {}, ctx, "usage"), 50);
    } finally {
      if (mounted) new Deno.Command("umount", { args: [dir] }).outputSync();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
