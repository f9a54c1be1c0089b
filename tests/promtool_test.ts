/**
 * Process-level check that Scout's textfile parses with Prometheus's own text parser
 * (`promtool check metrics`). Skipped only when promtool is missing and CI is unset; under CI a
 * missing promtool fails. promtool's lint remarks about Choria's legacy metric names are accepted,
 * parse errors and any other lint remark are not.
 * @module
 */
import { deepEqual, equal, fail, ok } from "node:assert/strict";
import { type PromCheck, renderTextfile } from "../src/prometheus.ts";

const CI = (Deno.env.get("CI") ?? "") !== "";

async function promtoolPresent(): Promise<boolean> {
  try {
    const out = await new Deno.Command("promtool", {
      args: ["--version"],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output();
    return out.success;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

const HAVE_PROMTOOL = await promtoolPresent();
if (!HAVE_PROMTOOL) {
  const why = CI
    ? "promtool is missing and CI is set: the promtool tests will fail"
    : "skipping promtool tests: promtool not on PATH (install Debian package prometheus); " +
      "set CI=1 to make this a failure";
  // deno-lint-ignore no-console
  console.warn(`promtool_test: ${why}`);
}

/** Lint remarks promtool makes about Choria's legacy names; Scout keeps the names on purpose. */
const ACCEPTED_LINT = [
  /^choria_machine_nagios_watcher_checks_count counter metrics should have "_total" suffix$/,
  /^choria_machine_nagios_watcher_checks_count non-histogram and non-summary metrics should not have "_count" suffix$/,
];

interface Verdict {
  /** promtool's exit code. */
  code: number;
  /** Accepted lint remarks. */
  lint: string[];
  /** Everything else promtool said: parse errors, other lint problems. */
  problems: string[];
}

/** Runs `promtool check metrics` on the text and sorts its remarks. */
async function promtoolCheck(text: string): Promise<Verdict> {
  const child = new Deno.Command("promtool", {
    args: ["check", "metrics"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const out = await child.output();
  const said = new TextDecoder().decode(out.stdout) + "\n" + new TextDecoder().decode(out.stderr);
  const lines = said.split("\n").map((l) => l.trim()).filter((l) => l !== "");
  const lint = lines.filter((l) => ACCEPTED_LINT.some((re) => re.test(l)));
  const problems = lines.filter((l) => !ACCEPTED_LINT.some((re) => re.test(l)));
  return { code: out.code, lint, problems };
}

function assertParses(v: Verdict, what: string): void {
  deepEqual(v.problems, [], `${what}: promtool reported problems`);
  // Exit 0 = clean; 3 = lint remarks only (all of them accepted above). Anything else failed.
  ok(v.code === 0 || (v.code === 3 && v.lint.length > 0), `${what}: promtool exit ${v.code}`);
}

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

function requirePromtool(): void {
  if (!HAVE_PROMTOOL) fail("promtool is not on PATH and CI is set; install package prometheus");
}

Deno.test({
  name: "promtool parses the textfile of every status, escaped names and a never-run check",
  ignore: !HAVE_PROMTOOL && !CI,
  async fn() {
    requirePromtool();
    assertParses(await promtoolCheck(renderTextfile(START_MS, CHECKS)), "full textfile");
  },
});

Deno.test({
  name: "promtool parses the textfile of an agent without checks",
  ignore: !HAVE_PROMTOOL && !CI,
  async fn() {
    requirePromtool();
    const v = await promtoolCheck(renderTextfile(START_MS, []));
    assertParses(v, "empty textfile");
  },
});

Deno.test({
  name: "promtool check tells parse errors apart from accepted lint remarks",
  ignore: !HAVE_PROMTOOL && !CI,
  async fn() {
    requirePromtool();
    const good = await promtoolCheck(renderTextfile(START_MS, CHECKS.slice(0, 1)));
    equal(good.problems.length, 0);
    ok(good.lint.length > 0, "promtool lints Choria's legacy counter name");
    const broken = await promtoolCheck('choria_machine_nagios_watcher_status{name="a} 1\n');
    ok(broken.code !== 0);
    ok(broken.problems.length > 0, "an unescaped label value is a problem");
  },
});
