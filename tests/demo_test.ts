/**
 * `deno task demo` end to end: broker, hub and three agents holding only a provisioning token;
 * all three enrol and appear in the hub's fleet view. Needs nats-server (skipped with a message
 * only when it is missing and CI is unset).
 */
import { equal, match } from "node:assert/strict";
import { SKIP_NATS } from "./_nats.ts";

const ROOT = new URL("../", import.meta.url).pathname;

Deno.test({
  name: "the fleet demo enrols three agents that then show up in the hub's fleet view",
  ignore: SKIP_NATS,
  async fn() {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", "scripts/demo.ts", "--exit"],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    equal(out.code, 0, text);
    match(text, /All 3 agents enrolled and report to the hub/);
    for (const id of ["demo-1", "demo-2", "demo-3"]) {
      match(text, new RegExp(`${id}\\s+\\d+ checks`));
    }
    // Every agent got its certificate through enrolment, and its key stayed 0600.
    for (const id of ["demo-1", "demo-2", "demo-3"]) {
      const mode = (await Deno.stat(`${ROOT}.scout/demo/${id}/tls/key.pem`)).mode! & 0o777;
      equal(mode, 0o600, id);
    }
  },
});
