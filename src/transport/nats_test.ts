import { deepEqual, equal, ok, rejects, throws } from "node:assert/strict";
import { ScoutError } from "../errors.ts";
import { checkBrokerOptions, connectBroker } from "./mod.ts";

function isCode(code: string, re?: RegExp): (e: unknown) => boolean {
  return (e) => {
    ok(e instanceof ScoutError, `not a ScoutError: ${e}`);
    equal(e.code, code);
    if (re) ok(re.test(e.message), `message ${JSON.stringify(e.message)} does not match ${re}`);
    return true;
  };
}

Deno.test("broker refuses a URL without TLS configuration before contacting anything", async () => {
  await rejects(
    connectBroker({ urls: ["nats://127.0.0.1:1"], tls: null, name: "t" }),
    (e) => {
      isCode("BROKER_TLS_REQUIRED", /no TLS configuration/)(e);
      ok(/--tls-ca/.test((e as ScoutError).hint!) && /--creds/.test((e as ScoutError).hint!));
      ok(/--tls-cert/.test((e as ScoutError).hint!) && /--tls-key/.test((e as ScoutError).hint!));
      return true;
    },
  );
  throws(
    () => checkBrokerOptions({ urls: ["tls://h:4222"], tls: { ca: "x" }, name: "t" }),
    isCode("BROKER_TLS_REQUIRED", /no client credentials/),
  );
  throws(
    () => checkBrokerOptions({ urls: ["tls://h:4222"], tls: { ca: "x", cert: "c" }, name: "t" }),
    isCode("BROKER_TLS_REQUIRED"),
  );
  throws(
    () => checkBrokerOptions({ urls: ["http://h:4222"], tls: { ca: "x" }, creds: "c", name: "t" }),
    isCode("BROKER_CONNECT", /unsupported scheme/),
  );
  deepEqual(
    checkBrokerOptions({ urls: ["nats://h:4222"], tls: { ca: "x" }, creds: "c", name: "t" }),
    { ca: "x" },
  );
});
