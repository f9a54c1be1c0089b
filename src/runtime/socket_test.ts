import { deepEqual, equal, rejects } from "node:assert/strict";
import { ScoutError } from "../errors.ts";
import { requestSocket, serveSocket } from "./socket.ts";

Deno.test("control socket answers JSON requests and is owner-only", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/scout.sock`;
  const server = await serveSocket(path, (req) => Promise.resolve({ echo: req }));
  equal((await Deno.stat(path)).mode! & 0o777, 0o600);
  deepEqual(await requestSocket(path, { action: "checks" }), { echo: { action: "checks" } });
  await server.stop();
  await rejects(Deno.stat(path));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("control socket client says NO_AGENT when nothing listens", async () => {
  const dir = await Deno.makeTempDir();
  await rejects(
    requestSocket(`${dir}/scout.sock`, {}),
    (e) => e instanceof ScoutError && e.code === "NO_AGENT" && !!e.hint,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("control socket replaces a stale socket file but refuses a live one", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/scout.sock`;
  const stale = Deno.listen({ transport: "unix", path });
  stale.close(); // the file may stay behind, as after a crash
  await Deno.writeTextFile(path, "").catch(() => {});
  const server = await serveSocket(path, () => Promise.resolve({ ok: true }));
  await rejects(serveSocket(path, () => Promise.resolve({})), (e) => e instanceof ScoutError);
  deepEqual(await requestSocket(path, {}), { ok: true });
  await server.stop();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("control socket replies with an error to a request that is not JSON", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/scout.sock`;
  const server = await serveSocket(path, () => Promise.resolve({ ok: true }));
  const conn = await Deno.connect({ transport: "unix", path });
  await conn.write(new TextEncoder().encode("not json\n"));
  const buf = new Uint8Array(1024);
  const n = await conn.read(buf);
  conn.close();
  const reply = JSON.parse(new TextDecoder().decode(buf.subarray(0, n ?? 0)));
  equal(reply.ok, false);
  await server.stop();
  await Deno.remove(dir, { recursive: true });
});
