import { deepEqual, equal, rejects } from "node:assert/strict";
import { type AuditEntry, type AuditSink, createAuditLog } from "./mod.ts";

function memorySink(): AuditSink & { files: Map<string, string> } {
  const files = new Map<string, string>();
  return {
    files,
    append: (p, d) => Promise.resolve(void files.set(p, (files.get(p) ?? "") + d)),
    size: (p) => Promise.resolve(new TextEncoder().encode(files.get(p) ?? "").byteLength),
    rename(from, to) {
      const v = files.get(from);
      if (v !== undefined) {
        files.set(to, v);
        files.delete(from);
      }
      return Promise.resolve();
    },
    remove: (p) => Promise.resolve(void files.delete(p)),
  };
}

const entry = (id: string, decision: "allow" | "deny" = "allow"): AuditEntry => ({
  id,
  caller: "alice",
  issuer: "scout",
  action: "trigger",
  target: "web-1",
  checks: ["web-http"],
  decision,
  reason: decision === "deny" ? "bad signature" : "",
  outcome: decision === "deny" ? "refused" : "ok",
});

Deno.test("audit log writes one JSON line per request with the clock's time", async () => {
  const sink = memorySink();
  const log = createAuditLog({ sink, path: "/a/audit.log", clock: { now: () => 0 } });
  await log.record(entry("r1"));
  await log.record(entry("r2", "deny"));
  const lines = sink.files.get("/a/audit.log")!.trimEnd().split("\n").map((l) => JSON.parse(l));
  equal(lines.length, 2);
  deepEqual(lines[1], { time: "1970-01-01T00:00:00.000Z", ...entry("r2", "deny") });
});

Deno.test("audit log rotates by size and keeps `keep` old files", async () => {
  const sink = memorySink();
  const one = JSON.stringify({ time: "1970-01-01T00:00:00.000Z", ...entry("r0") }).length + 1;
  const log = createAuditLog({
    sink,
    path: "audit.log",
    maxBytes: one * 2,
    keep: 2,
    clock: { now: () => 0 },
  });
  await Promise.all(["r0", "r1", "r2", "r3", "r4", "r5", "r6"].map((id) => log.record(entry(id))));
  const ids = (p: string) =>
    (sink.files.get(p) ?? "").trimEnd().split("\n").map((l) => JSON.parse(l).id);
  deepEqual([...sink.files.keys()].sort(), ["audit.log", "audit.log.1", "audit.log.2"]);
  deepEqual(ids("audit.log"), ["r6"]);
  deepEqual(ids("audit.log.1"), ["r4", "r5"]);
  deepEqual(ids("audit.log.2"), ["r2", "r3"]);
});

Deno.test("audit log reports a failing sink as AUDIT_FAILED and keeps working", async () => {
  const sink = memorySink();
  let fail = true;
  const log = createAuditLog({
    sink: {
      ...sink,
      append: (p, d) => fail ? Promise.reject(new Error("disk full")) : sink.append(p, d),
    },
    path: "audit.log",
    clock: { now: () => 0 },
  });
  await rejects(log.record(entry("r1")), { code: "AUDIT_FAILED" });
  fail = false;
  await log.record(entry("r2"));
  equal(sink.files.get("audit.log")!.split("\n").length, 2);
});
