import { equal, rejects } from "node:assert/strict";
import { createDenoAuditSink } from "./mod.ts";

Deno.test("deno audit sink appends 0600, sizes, renames and removes inside its dir", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const sink = createDenoAuditSink(dir);
    equal(await sink.size(`${dir}/a.log`), 0);
    await sink.append(`${dir}/a.log`, "one\n");
    await sink.append(`${dir}/a.log`, "two\n");
    equal(await sink.size(`${dir}/a.log`), 8);
    equal((await Deno.stat(`${dir}/a.log`)).mode! & 0o777, 0o600);
    await sink.rename(`${dir}/a.log`, `${dir}/a.log.1`);
    await sink.rename(`${dir}/missing`, `${dir}/x`);
    equal(await Deno.readTextFile(`${dir}/a.log.1`), "one\ntwo\n");
    await sink.remove(`${dir}/a.log.1`);
    await sink.remove(`${dir}/a.log.1`);
    equal(await sink.size(`${dir}/a.log.1`), 0);
    await rejects(sink.append(`${dir}/../escape.log`, "x"), { code: "WRITE_NOT_ALLOWED" });
    await rejects(sink.append("/tmp/elsewhere.log", "x"), { code: "WRITE_NOT_ALLOWED" });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
