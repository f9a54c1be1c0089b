import { deepEqual, throws } from "node:assert/strict";
import { ScoutError } from "../errors.ts";
import { parseNameServer } from "./mod.ts";

Deno.test("--dns-server HOST:PORT parses IPv4, [IPv6] and a default port of 53", () => {
  deepEqual(parseNameServer("127.0.0.1:5353"), { ipAddr: "127.0.0.1", port: 5353 });
  deepEqual(parseNameServer("10.0.0.2"), { ipAddr: "10.0.0.2", port: 53 });
  deepEqual(parseNameServer("[::1]:5353"), { ipAddr: "::1", port: 5353 });
  deepEqual(parseNameServer(" [fd00::53] "), { ipAddr: "fd00::53", port: 53 });
});

Deno.test("--dns-server refuses a bad port or shape with a usage error", () => {
  for (const bad of ["", "127.0.0.1:0", "127.0.0.1:70000", "127.0.0.1:x", "::1:53", "[::1"]) {
    throws(
      () => parseNameServer(bad),
      (e: unknown) => e instanceof ScoutError && e.code === "USAGE" && e.hint !== undefined,
      bad,
    );
  }
});
