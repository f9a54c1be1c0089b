/**
 * Runs `promtool check metrics` for tests. A missing promtool skips the promtool tests with a
 * message, unless CI is set: then it fails them. promtool's lint remarks about legacy metric names
 * that Scout keeps on purpose (Choria's and tally's) are accepted; parse errors and any other
 * remark are problems.
 * @module
 */
import { deepEqual, fail, ok } from "node:assert/strict";

/** Whether CI is set (a missing promtool is then a failure). */
export const CI: boolean = (Deno.env.get("CI") ?? "") !== "";

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

/** Whether promtool is on PATH. */
export const HAVE_PROMTOOL: boolean = await promtoolPresent();

/** Ignore promtool tests only when promtool is missing and CI is unset. */
export const SKIP_PROMTOOL: boolean = !HAVE_PROMTOOL && !CI;

/** Says why promtool tests are skipped or will fail; call once per test module. */
export function warnIfNoPromtool(module: string): void {
  if (HAVE_PROMTOOL) return;
  const why = CI
    ? "promtool is missing and CI is set: the promtool tests will fail"
    : "skipping promtool tests: promtool not on PATH (install Debian package prometheus); " +
      "set CI=1 to make this a failure";
  // deno-lint-ignore no-console
  console.warn(`${module}: ${why}`);
}

/** Fails when promtool is missing (under CI). */
export function requirePromtool(): void {
  if (!HAVE_PROMTOOL) fail("promtool is not on PATH and CI is set; install package prometheus");
}

/** promtool's verdict on a text. */
export interface PromtoolVerdict {
  /** promtool's exit code. */
  code: number;
  /** Accepted lint remarks. */
  lint: string[];
  /** Everything else promtool said: parse errors, other lint problems. */
  problems: string[];
}

/** Runs `promtool check metrics` on the text, sorting its remarks by the accepted patterns. */
export async function promtoolCheck(text: string, accepted: RegExp[]): Promise<PromtoolVerdict> {
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
  const lint = lines.filter((l) => accepted.some((re) => re.test(l)));
  const problems = lines.filter((l) => !accepted.some((re) => re.test(l)));
  return { code: out.code, lint, problems };
}

/** Asserts promtool found no problem: exit 0, or 3 with accepted lint remarks only. */
export function assertParses(v: PromtoolVerdict, what: string): void {
  deepEqual(v.problems, [], `${what}: promtool reported problems`);
  ok(v.code === 0 || (v.code === 3 && v.lint.length > 0), `${what}: promtool exit ${v.code}`);
}
