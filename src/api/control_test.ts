import { deepEqual, equal } from "node:assert/strict";
import { type CheckControl, type ControlResult, handleControl } from "./mod.ts";

function fake(): CheckControl & { calls: unknown[] } {
  const calls: unknown[] = [];
  const result = (names: string[]): Promise<ControlResult> =>
    Promise.resolve({ transitioned: names, skipped: [], failed: [] });
  return {
    calls,
    list: () => [{ name: "web" }],
    trigger: (n) => (calls.push(["trigger", n]), result(n)),
    maintenance: (n, m) => (calls.push(["maintenance", n, m]), result(n)),
    resume: (n) => (calls.push(["resume", n]), result(n)),
  };
}

Deno.test("control API turns maintenance for_ms into an absolute expiry", async () => {
  const c = fake();
  const r = await handleControl(c, {
    action: "maintenance",
    checks: ["web"],
    for_ms: 60_000,
    reason: "r",
  }, 1_000);
  equal(r.ok, true);
  deepEqual(c.calls, [["maintenance", ["web"], { reason: "r", untilMs: 61_000 }]]);
});

Deno.test("control API defaults to all checks and no expiry", async () => {
  const c = fake();
  await handleControl(c, { action: "maintenance" }, 0);
  await handleControl(c, { action: "trigger" }, 0);
  deepEqual(c.calls, [["maintenance", [], { reason: "", untilMs: null }], ["trigger", []]]);
});

Deno.test("control API refuses an unknown action or field with a USAGE error", async () => {
  const c = fake();
  for (
    const bad of [{ action: "reboot" }, { action: "trigger", checks: "web" }, {
      action: "checks",
      x: 1,
    }, null]
  ) {
    const r = await handleControl(c, bad, 0);
    equal(r.ok, false);
    if (!r.ok) equal(r.error.code, "USAGE");
  }
  deepEqual(c.calls, []);
});

Deno.test("control API lists checks, with the fleet connection's spool counts when there is one", async () => {
  deepEqual(await handleControl(fake(), { action: "checks" }, 0), {
    ok: true,
    checks: [{ name: "web" }],
    fleet: null,
  });
  const fleet = { connected: false, waiting: 12, dropped: 3 };
  deepEqual(await handleControl(fake(), { action: "checks" }, 0, { fleet: () => fleet }), {
    ok: true,
    checks: [{ name: "web" }],
    fleet,
  });
});

Deno.test("control API forces re-provisioning only on an agent that enrols", async () => {
  let asked = 0;
  deepEqual(
    await handleControl(fake(), { action: "reprovision" }, 0, {
      reprovision: () => (asked++, true),
    }),
    { ok: true, reprovisioning: true },
  );
  equal(asked, 1);
  const r = await handleControl(fake(), { action: "reprovision" }, 0, {
    reprovision: () => false,
  });
  equal(r.ok, false);
  equal((await handleControl(fake(), { action: "reprovision" }, 0)).ok, false);
});
