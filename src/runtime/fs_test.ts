import { equal, ok, rejects } from "node:assert/strict";
import { ScoutError } from "../errors.ts";
import { createDenoFs } from "./fs.ts";

async function setup() {
  const base = await Deno.makeTempDir({ prefix: "scout-fs-" });
  const state = `${base}/state`;
  const outside = `${base}/outside`;
  await Deno.mkdir(state);
  await Deno.mkdir(outside);
  const fs = await createDenoFs({ writeRoots: [state, `${base}/events.jsonl`] });
  return { base, state, outside, fs };
}

const refused = (e: unknown) => e instanceof ScoutError && e.code === "WRITE_NOT_ALLOWED";

Deno.test("fs writes atomically inside a write root and leaves no temp file", async () => {
  const { base, state, fs } = await setup();
  await fs.writeAtomic(`${state}/a.json`, "{}\n");
  await fs.writeAtomic(`${state}/a.json`, '{"x":1}\n');
  equal(await Deno.readTextFile(`${state}/a.json`), '{"x":1}\n');
  const names = [...Deno.readDirSync(state)].map((e) => e.name);
  equal(names.join(","), "a.json");
  await fs.append(`${base}/events.jsonl`, "1\n");
  await fs.append(`${base}/events.jsonl`, "2\n");
  equal(await Deno.readTextFile(`${base}/events.jsonl`), "1\n2\n");
  await Deno.remove(base, { recursive: true });
});

Deno.test("fs refuses a write outside its roots", async () => {
  const { base, outside, fs } = await setup();
  await rejects(fs.writeAtomic(`${outside}/x`, "x"), refused);
  await rejects(fs.append(`${base}/other.jsonl`, "x"), refused);
  await rejects(fs.remove(`${outside}/x`), refused);
  ok(![...Deno.readDirSync(outside)].length);
  await Deno.remove(base, { recursive: true });
});

Deno.test("fs refuses a .. escape out of a root", async () => {
  const { base, state, fs } = await setup();
  await rejects(fs.writeAtomic(`${state}/../outside/x`, "x"), refused);
  await rejects(fs.writeAtomic(`${state}/..`, "x"), refused);
  await Deno.remove(base, { recursive: true });
});

Deno.test("fs refuses writing through a symlink in a root that points outside", async () => {
  const { base, state, outside, fs } = await setup();
  await Deno.symlink(outside, `${state}/link`);
  await Deno.symlink(`${outside}/target`, `${state}/file-link`);
  await rejects(fs.writeAtomic(`${state}/link/x`, "x"), refused);
  await rejects(fs.writeAtomic(`${state}/file-link`, "x"), refused);
  ok(![...Deno.readDirSync(outside)].length);
  await Deno.remove(base, { recursive: true });
});

Deno.test("fs lists a missing directory as empty and follows symlinked entries", async () => {
  const { base, state, fs } = await setup();
  equal((await fs.list(`${base}/nope`)).length, 0);
  await Deno.writeTextFile(`${base}/real.yaml`, "x");
  await Deno.symlink(`${base}/real.yaml`, `${state}/link.yaml`);
  const [entry] = await fs.list(state);
  equal(entry?.name, "link.yaml");
  equal(entry?.isFile, true);
  await Deno.remove(base, { recursive: true });
});
