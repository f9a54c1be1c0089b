import { deepEqual, equal, ok, throws } from "node:assert/strict";
import { ScoutError } from "./errors.ts";
import {
  escapeLabelValue,
  PROM_STATUS_VALUES,
  type PromCheck,
  renderTextfile,
  TEXTFILE_NAME,
} from "./prometheus.ts";

const START_MS = Date.UTC(2026, 0, 1, 0, 0, 0, 900);
const START_S = 1767225600;

const FAMILIES = [
  ["choria_machine_nagios_start_time", "gauge"],
  ["choria_machine_nagios_watcher_status", "gauge"],
  ["choria_machine_nagios_watcher_last_run_seconds", "gauge"],
  ["choria_machine_nagios_watcher_checks_count", "counter"],
] as const;

function check(over: Partial<PromCheck> & { name: string }): PromCheck {
  return { status: "OK", lastRunMs: START_MS + 60_000, checksCount: 1, ...over };
}

const samples = (text: string): string[] =>
  text.split("\n").filter((l) => l !== "" && !l.startsWith("#"));

Deno.test("textfile has Choria's file name", () => {
  equal(TEXTFILE_NAME, "choria_machine_nagios_watcher_status.prom");
});

Deno.test("textfile has HELP and TYPE for all four families even without checks", () => {
  const text = renderTextfile(START_MS, []);
  for (const [family, type] of FAMILIES) {
    ok(new RegExp(`^# HELP ${family} \\S.*$`, "m").test(text), `HELP ${family}`);
    ok(new RegExp(`^# TYPE ${family} ${type}$`, "m").test(text), `TYPE ${family}`);
  }
  deepEqual(samples(text), [`choria_machine_nagios_start_time ${START_S}`]);
  ok(text.endsWith("\n"));
  ok(!text.endsWith("\n\n"));
});

Deno.test("textfile renders a full check set exactly", () => {
  const text = renderTextfile(START_MS, [
    check({ name: "web", status: "CRITICAL", lastRunMs: START_MS + 5_500, checksCount: 7 }),
    check({ name: "disk", status: "OK", lastRunMs: START_MS + 3_000, checksCount: 2 }),
  ]);
  equal(
    text,
    [
      "# HELP choria_machine_nagios_start_time Time the Scout check subsystem started, unix s",
      "# TYPE choria_machine_nagios_start_time gauge",
      `choria_machine_nagios_start_time ${START_S}`,
      "# HELP choria_machine_nagios_watcher_status Check status: 0 OK, 1 WARNING, 2 CRITICAL, " +
      "3 UNKNOWN, 4 MAINTENANCE",
      "# TYPE choria_machine_nagios_watcher_status gauge",
      'choria_machine_nagios_watcher_status{name="disk",status="OK"} 0',
      'choria_machine_nagios_watcher_status{name="web",status="CRITICAL"} 2',
      "# HELP choria_machine_nagios_watcher_last_run_seconds Time the check last ran, unix s",
      "# TYPE choria_machine_nagios_watcher_last_run_seconds gauge",
      `choria_machine_nagios_watcher_last_run_seconds{name="disk"} ${START_S + 3}`,
      `choria_machine_nagios_watcher_last_run_seconds{name="web"} ${START_S + 6}`,
      "# HELP choria_machine_nagios_watcher_checks_count Number of check runs",
      "# TYPE choria_machine_nagios_watcher_checks_count counter",
      'choria_machine_nagios_watcher_checks_count{name="disk"} 2',
      'choria_machine_nagios_watcher_checks_count{name="web"} 7',
      "",
    ].join("\n"),
  );
});

Deno.test("status values are 0..3 for OK..UNKNOWN", () => {
  const text = renderTextfile(START_MS, [
    check({ name: "a", status: "OK" }),
    check({ name: "b", status: "WARNING" }),
    check({ name: "c", status: "CRITICAL" }),
    check({ name: "d", status: "UNKNOWN" }),
  ]);
  const status = samples(text).filter((l) => l.startsWith("choria_machine_nagios_watcher_status"));
  deepEqual(status, [
    'choria_machine_nagios_watcher_status{name="a",status="OK"} 0',
    'choria_machine_nagios_watcher_status{name="b",status="WARNING"} 1',
    'choria_machine_nagios_watcher_status{name="c",status="CRITICAL"} 2',
    'choria_machine_nagios_watcher_status{name="d",status="UNKNOWN"} 3',
  ]);
});

Deno.test("a check in MAINTENANCE renders value 4 with status MAINTENANCE, never OK", () => {
  const text = renderTextfile(START_MS, [check({ name: "web", status: "MAINTENANCE" })]);
  ok(text.includes('choria_machine_nagios_watcher_status{name="web",status="MAINTENANCE"} 4\n'));
  ok(!text.includes('status="OK"'));
  ok(!/watcher_status\{name="web"[^}]*\} 0$/m.test(text));
  equal(PROM_STATUS_VALUES.MAINTENANCE, 4);
});

Deno.test("label values escape backslash, double quote and newline", () => {
  equal(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
  const text = renderTextfile(START_MS, [check({ name: 'we"ird\\na\nme' })]);
  ok(text.includes('choria_machine_nagios_watcher_checks_count{name="we\\"ird\\\\na\\nme"} 1\n'));
  // No raw newline inside a sample: every sample line is complete.
  for (const line of samples(text)) ok(/ \d+$/.test(line), line);
});

Deno.test("checks are sorted by name whatever the input order", () => {
  const text = renderTextfile(START_MS, [
    check({ name: "zeta" }),
    check({ name: "Alpha" }),
    check({ name: "mid" }),
    check({ name: "alpha" }),
  ]);
  const names = samples(text)
    .filter((l) => l.startsWith("choria_machine_nagios_watcher_checks_count"))
    .map((l) => /name="([^"]*)"/.exec(l)?.[1]);
  deepEqual(names, ["Alpha", "alpha", "mid", "zeta"]);
});

Deno.test("a check that never ran has no last_run series but does have status and count", () => {
  const text = renderTextfile(START_MS, [
    check({ name: "new", status: "UNKNOWN", lastRunMs: null, checksCount: 0 }),
  ]);
  ok(!text.includes("last_run_seconds{"));
  ok(text.includes('choria_machine_nagios_watcher_status{name="new",status="UNKNOWN"} 3\n'));
  ok(text.includes('choria_machine_nagios_watcher_checks_count{name="new"} 0\n'));
  ok(text.includes("# TYPE choria_machine_nagios_watcher_last_run_seconds gauge\n"));
});

Deno.test("checks_count is the real run count given, as a non-negative integer", () => {
  const text = renderTextfile(START_MS, [
    check({ name: "a", checksCount: 3 }),
    check({ name: "b", checksCount: -1 }),
    check({ name: "c", checksCount: Number.NaN }),
  ]);
  const counts = samples(text).filter((l) => l.includes("checks_count{"));
  deepEqual(counts, [
    'choria_machine_nagios_watcher_checks_count{name="a"} 3',
    'choria_machine_nagios_watcher_checks_count{name="b"} 0',
    'choria_machine_nagios_watcher_checks_count{name="c"} 0',
  ]);
});

Deno.test("a repeated check name keeps its last entry, so no series is duplicated", () => {
  const text = renderTextfile(START_MS, [
    check({ name: "web", status: "OK", checksCount: 1 }),
    check({ name: "web", status: "WARNING", checksCount: 2 }),
  ]);
  const status = samples(text).filter((l) => l.includes("watcher_status{"));
  deepEqual(status, ['choria_machine_nagios_watcher_status{name="web",status="WARNING"} 1']);
  ok(text.includes('checks_count{name="web"} 2\n'));
});

Deno.test("times are unix seconds rounded down", () => {
  const text = renderTextfile(Date.UTC(2026, 0, 1, 0, 0, 0, 999), [
    check({ name: "a", lastRunMs: Date.UTC(2026, 0, 1, 0, 1, 0, 999) }),
  ]);
  ok(text.includes(`\nchoria_machine_nagios_start_time ${START_S}\n`));
  ok(text.includes(`last_run_seconds{name="a"} ${START_S + 60}\n`));
});

Deno.test("rendering refuses a non-finite time", () => {
  throws(() => renderTextfile(Number.NaN, []), ScoutError);
  throws(
    () => renderTextfile(START_MS, [check({ name: "a", lastRunMs: Number.POSITIVE_INFINITY })]),
    (e: unknown) => e instanceof ScoutError && e.context["name"] === "a",
  );
});

Deno.test("rendering is pure: same input, same text, input untouched", () => {
  const checks = [check({ name: "b" }), check({ name: "a", status: "MAINTENANCE" })];
  const before = structuredClone(checks);
  equal(renderTextfile(START_MS, checks), renderTextfile(START_MS, checks));
  deepEqual(checks, before);
});
