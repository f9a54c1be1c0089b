/**
 * Process-level check that Scout's textfile parses with Prometheus's own text parser
 * (`promtool check metrics`). Skipped only when promtool is missing and CI is unset; under CI a
 * missing promtool fails. promtool's lint remarks about Choria's legacy metric names are accepted,
 * parse errors and any other lint remark are not.
 * @module
 */
import { equal, ok } from "node:assert/strict";
import { type PromCheck, renderTextfile } from "../src/prometheus.ts";
import {
  assertParses,
  promtoolCheck,
  requirePromtool,
  SKIP_PROMTOOL,
  warnIfNoPromtool,
} from "./_promtool.ts";

warnIfNoPromtool("promtool_test");

/** Lint remarks promtool makes about Choria's legacy names; Scout keeps the names on purpose. */
const ACCEPTED_LINT = [
  /^choria_machine_nagios_watcher_checks_count counter metrics should have "_total" suffix$/,
  /^choria_machine_nagios_watcher_checks_count non-histogram and non-summary metrics should not have "_count" suffix$/,
];

const START_MS = Date.UTC(2026, 0, 1);

const CHECKS: PromCheck[] = [
  { name: "heartbeat", status: "OK", lastRunMs: START_MS + 30_000, checksCount: 12 },
  { name: "disk_root", status: "WARNING", lastRunMs: START_MS + 31_500, checksCount: 3 },
  { name: "web", status: "CRITICAL", lastRunMs: START_MS + 32_000, checksCount: 4 },
  { name: "dns", status: "UNKNOWN", lastRunMs: START_MS + 33_000, checksCount: 1 },
  { name: "db", status: "MAINTENANCE", lastRunMs: START_MS + 34_000, checksCount: 9 },
  { name: "never_ran", status: "UNKNOWN", lastRunMs: null, checksCount: 0 },
  { name: 'odd "name" \\ with\nnewline', status: "OK", lastRunMs: START_MS, checksCount: 1 },
  { name: "ünïcode-✓", status: "OK", lastRunMs: START_MS, checksCount: 1 },
];

Deno.test({
  name: "promtool parses the textfile of every status, escaped names and a never-run check",
  ignore: SKIP_PROMTOOL,
  async fn() {
    requirePromtool();
    assertParses(
      await promtoolCheck(renderTextfile(START_MS, CHECKS), ACCEPTED_LINT),
      "full textfile",
    );
  },
});

Deno.test({
  name: "promtool parses the textfile of an agent without checks",
  ignore: SKIP_PROMTOOL,
  async fn() {
    requirePromtool();
    const v = await promtoolCheck(renderTextfile(START_MS, []), ACCEPTED_LINT);
    assertParses(v, "empty textfile");
  },
});

Deno.test({
  name: "promtool check tells parse errors apart from accepted lint remarks",
  ignore: SKIP_PROMTOOL,
  async fn() {
    requirePromtool();
    const good = await promtoolCheck(renderTextfile(START_MS, CHECKS.slice(0, 1)), ACCEPTED_LINT);
    equal(good.problems.length, 0);
    ok(good.lint.length > 0, "promtool lints Choria's legacy counter name");
    const broken = await promtoolCheck(
      'choria_machine_nagios_watcher_status{name="a} 1\n',
      ACCEPTED_LINT,
    );
    ok(broken.code !== 0);
    ok(broken.problems.length > 0, "an unescaped label value is a problem");
  },
});
