import { deepEqual, equal, match } from "node:assert/strict";
import { createHash } from "node:crypto";
import { createDenoGossHost } from "../../runtime/goss_host.ts";
import { actual, ctxOf, FakeHost, rejection } from "./_testing.ts";
import { file } from "./file.ts";

const PASSWD = "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/sh\n";
const GROUP = "root:x:0:\nalice:x:1000:\nstaff:x:50:alice\n";

function fake(): FakeHost {
  return new FakeHost({
    cwd: "/srv",
    env: { HOME: "/root" },
    files: {
      "/etc/passwd": { content: PASSWD },
      "/etc/group": { content: GROUP },
      "/etc/app.conf": { content: "port=80\nname=web\n", mode: 0o640, uid: 1000, gid: 50 },
      "/srv/rel.txt": { content: "hello" },
      "/home/alice/.profile": { content: "x" },
      "/root/.bashrc": { content: "y" },
      "/tmp/sticky": { filetype: "directory", mode: 0o1777 },
      "/usr/bin/su": { content: "", mode: 0o4755 },
      "/etc/link": { link: "app.conf" },
      "/etc/orphan": { content: "z", uid: 4242, gid: 4343 },
      "/secret/key": { content: "k" },
      "/pub/into-secret": { link: "/secret/key" },
    },
    programs: {
      getent: (argv) => ({
        code: argv[2] === "4242" ? 0 : 2,
        stdout: "ldapuser:*:4242:1::/:/bin/sh\n",
      }),
    },
  });
}

Deno.test("file reports exists, mode as 4 octal digits, size, owner and group names", async () => {
  const ctx = ctxOf(fake());
  const get = (p: string) => actual(file, "/etc/app.conf", {}, ctx, p);
  equal(await get("exists"), true);
  equal(await get("mode"), "0640");
  equal(await get("size"), 17);
  equal(await get("owner"), "alice");
  equal(await get("group"), "staff");
  equal(await get("uid"), 1000);
  equal(await get("gid"), 50);
  equal(await get("filetype"), "file");
});

Deno.test("file mode keeps setuid and sticky bits", async () => {
  const ctx = ctxOf(fake());
  equal(await actual(file, "/tmp/sticky", {}, ctx, "mode"), "1777");
  equal(await actual(file, "/tmp/sticky", {}, ctx, "filetype"), "directory");
  equal(await actual(file, "/usr/bin/su", {}, ctx, "mode"), "4755");
});

Deno.test("file exists is false for a missing path and other properties reject", async () => {
  const ctx = ctxOf(fake());
  equal(await actual(file, "/nope", {}, ctx, "exists"), false);
  match(await rejection(actual(file, "/nope", {}, ctx, "mode")), /does not exist/);
});

Deno.test("file describes a symlink itself and reports its raw target as linked-to", async () => {
  const ctx = ctxOf(fake());
  equal(await actual(file, "/etc/link", {}, ctx, "filetype"), "symlink");
  equal(await actual(file, "/etc/link", {}, ctx, "linked-to"), "app.conf");
  equal(await actual(file, "/etc/link", {}, ctx, "linkedto"), "app.conf");
  match(await rejection(actual(file, "/etc/app.conf", {}, ctx, "linked-to")), /not a symlink/);
});

Deno.test("file contents and contains are the whole text; digests follow symlinks", async () => {
  const ctx = ctxOf(fake());
  equal(await actual(file, "/etc/app.conf", {}, ctx, "contents"), "port=80\nname=web\n");
  equal(await actual(file, "/etc/app.conf", {}, ctx, "contains"), "port=80\nname=web\n");
  const want = createHash("sha256").update("port=80\nname=web\n").digest("hex");
  equal(await actual(file, "/etc/link", {}, ctx, "sha256"), want);
  equal(
    await actual(file, "/etc/app.conf", {}, ctx, "md5"),
    createHash("md5").update("port=80\nname=web\n").digest("hex"),
  );
});

Deno.test("file resolves relative paths against cwd and expands ~ and ~user", async () => {
  const ctx = ctxOf(fake());
  equal(await actual(file, "rel.txt", {}, ctx, "contents"), "hello");
  equal(await actual(file, "~/.bashrc", {}, ctx, "contents"), "y");
  equal(await actual(file, "~alice/.profile", {}, ctx, "contents"), "x");
  match(await rejection(actual(file, "~bob/x", {}, ctx, "exists")), /no such user/);
});

Deno.test("file owner falls back to getent for ids missing from /etc/passwd", async () => {
  const host = fake();
  const ctx = ctxOf(host);
  equal(await actual(file, "/etc/orphan", {}, ctx, "owner"), "ldapuser");
  match(
    await rejection(actual(file, "/etc/orphan", {}, ctx, "group")),
    /group id 4343 has no name/,
  );
});

Deno.test("file refuses paths inside denied directories, also through a symlink", async () => {
  const ctx = ctxOf(fake(), ["/secret"]);
  match(await rejection(actual(file, "/secret/key", {}, ctx, "exists")), /inside \/secret/);
  match(await rejection(actual(file, "/pub/into-secret", {}, ctx, "contents")), /inside \/secret/);
  equal(await actual(file, "/etc/app.conf", {}, ctx, "exists"), true);
});

Deno.test("file rejects an unknown property", async () => {
  match(await rejection(actual(file, "/etc/app.conf", {}, ctxOf(fake()), "colour")), /no property/);
});

// ---- real files through createDenoGossHost ----------------------------------------------

const isRoot = new Deno.Command("id", { args: ["-u"] }).outputSync().stdout[0] === 0x30;

Deno.test("file on a real tree: modes, types, symlink, fifo, socket, digests", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "scout-goss-file-" }));
  try {
    const f = `${dir}/data.txt`;
    await Deno.writeTextFile(f, "alpha\nbeta\n");
    await Deno.chmod(f, 0o640);
    await Deno.mkdir(`${dir}/sticky`);
    await Deno.chmod(`${dir}/sticky`, 0o1777);
    await Deno.symlink("data.txt", `${dir}/link`);
    await Deno.symlink("missing", `${dir}/dangling`);
    new Deno.Command("mkfifo", { args: [`${dir}/fifo`] }).outputSync();
    const sock = Deno.listen({ transport: "unix", path: `${dir}/sock` });
    try {
      const ctx = ctxOf(createDenoGossHost());
      const get = (t: string, p: string) => actual(file, t, {}, ctx, p);
      equal(await get(f, "exists"), true);
      equal(await get(f, "mode"), "0640");
      equal(await get(f, "size"), 11);
      equal(await get(f, "filetype"), "file");
      equal(await get(f, "contents"), "alpha\nbeta\n");
      equal(await get(f, "md5"), createHash("md5").update("alpha\nbeta\n").digest("hex"));
      equal(await get(f, "sha512"), createHash("sha512").update("alpha\nbeta\n").digest("hex"));
      equal(await get(`${dir}/sticky`, "mode"), "1777");
      equal(await get(`${dir}/sticky`, "filetype"), "directory");
      equal(await get(`${dir}/link`, "filetype"), "symlink");
      equal(await get(`${dir}/link`, "linked-to"), "data.txt");
      equal(
        await get(`${dir}/link`, "sha256"),
        createHash("sha256").update("alpha\nbeta\n").digest("hex"),
      );
      equal(await get(`${dir}/dangling`, "exists"), true, "lstat sees a dangling symlink");
      equal(await get(`${dir}/fifo`, "filetype"), "pipe");
      equal(await get(`${dir}/sock`, "filetype"), "socket");
      equal(await get("/dev/null", "filetype"), "character-device");
      equal(await get(`${dir}/nothing`, "exists"), false);
    } finally {
      sock.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("file on a real file reports owner names and ids (chown needs root)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "scout-goss-file-" });
  try {
    const f = `${dir}/owned`;
    await Deno.writeTextFile(f, "x");
    const ctx = ctxOf(createDenoGossHost());
    if (isRoot) {
      await Deno.chown(f, 65534, 65534);
      equal(await actual(file, f, {}, ctx, "uid"), 65534);
      equal(await actual(file, f, {}, ctx, "owner"), "nobody");
      equal(await actual(file, f, {}, ctx, "group"), "nogroup");
    } else {
      const info = await Deno.stat(f);
      equal(await actual(file, f, {}, ctx, "uid"), info.uid);
    }
    equal(await actual(file, "/etc/passwd", {}, ctx, "owner"), "root");
    equal(await actual(file, "/etc/passwd", {}, ctx, "group"), "root");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("file on real paths refuses a symlink that leads into a denied directory", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "scout-goss-file-" }));
  try {
    await Deno.mkdir(`${dir}/secret`);
    await Deno.writeTextFile(`${dir}/secret/token`, "s3cret");
    await Deno.symlink(`${dir}/secret/token`, `${dir}/innocent`);
    const ctx = ctxOf(createDenoGossHost(), [`${dir}/secret`]);
    match(await rejection(actual(file, `${dir}/innocent`, {}, ctx, "contents")), /may not read/);
    match(
      await rejection(actual(file, `${dir}/secret/../secret/token`, {}, ctx, "exists")),
      /may not read/,
    );
    match(await rejection(actual(file, `${dir}/secret/absent`, {}, ctx, "exists")), /may not read/);
    deepEqual(await actual(file, `${dir}/other`, {}, ctx, "exists"), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
