import { deepEqual, equal, throws } from "node:assert/strict";
import { nagiosStateEvent, transitionEvent } from "../events.ts";
import { ago, fleetTable, nodeTable } from "./status.ts";
import { clockText, firstLine, formatItem, matches, parseStatuses, watchItem } from "./watch.ts";

const T = Date.UTC(2026, 0, 2, 3, 4, 5);
const ref = { identity: "web1.example", machine: "disk", version: "1", instanceId: "i" };

Deno.test("watch: items from a transition and a nagios result, others ignored", () => {
  const tr = transitionEvent(ref, { transition: "critical", from: "OK", to: "CRITICAL" }, {
    eventId: "e1",
    timeMs: T,
  });
  deepEqual(watchItem(tr), {
    kind: "transition",
    timeMs: T,
    node: "web1.example",
    check: "disk",
    from: "OK",
    to: "CRITICAL",
  });
  const res = nagiosStateEvent(ref, {
    watcher: "check",
    plugin: "/bin/x",
    status: "CRITICAL",
    output: "DISK CRITICAL - 95% | used=95%\nmore",
    checkTimeMs: T,
    runtimeMs: 1,
    perfdata: [],
    history: [],
    annotations: {},
  }, { eventId: "e2", timeMs: T });
  const item = watchItem(res)!;
  equal(item.kind, "result");
  const at = clockText(T);
  equal(formatItem(item, false), `${at} CRITICAL web1.example disk: DISK CRITICAL - 95%`);
  equal(formatItem(watchItem(tr)!, false), `${at} web1.example disk OK => CRITICAL`);
  equal(
    formatItem(watchItem(tr)!, true),
    `${at} web1.example disk \x1b[32mOK\x1b[0m => \x1b[31mCRITICAL\x1b[0m`,
  );
  equal(formatItem(item, true).includes("\x1b[31mCRITICAL\x1b[0m"), true);
});

Deno.test("watch: clock, first line, filters and statuses", () => {
  const d = new Date(T);
  const two = (n: number) => String(n).padStart(2, "0");
  equal(clockText(T), `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`);
  equal(firstLine("a | b\nc"), "a");
  equal(firstLine(""), "");
  const r = {
    kind: "result",
    timeMs: T,
    node: "web1",
    check: "disk",
    status: "OK",
    output: "",
  } as const;
  const t = {
    kind: "transition",
    timeMs: T,
    node: "db1",
    check: "load",
    from: "OK",
    to: "OK",
  } as const;
  equal(matches(r, {}), true);
  equal(matches(r, { node: "eb" }), true);
  equal(matches(r, { node: "db" }), false);
  equal(matches(r, { check: "loa" }), false);
  equal(matches(r, { status: ["CRITICAL"] }), false);
  equal(matches(t, { status: ["CRITICAL"] }), true);
  equal(matches(r, { transitionsOnly: true }), false);
  equal(matches(t, { transitionsOnly: true, check: "lo" }), true);
  deepEqual(parseStatuses(["ok,Warning", "CRITICAL"]), ["OK", "WARNING", "CRITICAL"]);
  throws(() => parseStatuses(["FINE"]), /unknown status "FINE"/);
});

Deno.test("status: ago and tables", () => {
  const now = 10_000_000;
  equal(ago(null, now), "never");
  equal(ago(now - 5_000, now), "5s ago");
  equal(ago(now - 120_000, now), "2m ago");
  equal(ago(now - 7_200_000, now), "2h ago");
  equal(ago(now + 5_000, now), "0s ago");
  equal(
    fleetTable([
      {
        identity: "web1",
        lastSeenMs: now - 3000,
        stale: false,
        lifecycle: null,
        checks: 3,
        statuses: { OK: 2, CRITICAL: 1 },
      },
    ], now),
    "NODE  CHECKS  OK  WARNING  CRITICAL  UNKNOWN  LAST SEEN  STALE\n" +
      "web1  3       2   0        1         0        3s ago     no\n",
  );
  equal(
    nodeTable([
      {
        node: "web1",
        check: "disk",
        stale: false,
        status: "CRITICAL",
        output: "full | used=1\nx",
        lastResultMs: now - 60_000,
        state: "CRITICAL",
      },
      {
        node: "web1",
        check: "new",
        stale: false,
        status: null,
        output: "",
        lastResultMs: null,
        state: null,
      },
    ], now),
    "NAME  STATE     STATUS    LAST RESULT  OUTPUT\n" +
      "disk  CRITICAL  CRITICAL  1m ago       full\n" +
      "new   -         PENDING   never\n",
  );
});
