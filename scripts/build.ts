/**
 * Compiles the scout binary for Linux x86_64 and arm64 with `deno compile`
 * (`deno task compile`). Output: dist/scout-<target>.
 *
 * The binary gets the "agent" permission set of deno.json as explicit flags (permissionFlags),
 * the same flags the tests check, plus `--no-prompt` and a V8 heap cap for small devices.
 *
 * Type checking runs once, first, as `deno check main.ts`; the compile commands then pass
 * `--no-check`. Reason: `--v8-flags` given to `deno compile` is both embedded in the binary and
 * applied to the compiling deno itself, and deno's TypeScript checker needs more than 128 MB of
 * V8 heap for this project: with the 64 MB cap, `deno compile`'s own check dies with
 * "Fatal JavaScript out of memory: Reached heap limit" (measured with Deno 2.9.6).
 *
 * Options:
 *   --dry-run     print each target's exact command (one shell-quoted line per target), run nothing
 *   --target T    build only target T (x86_64-unknown-linux-gnu or aarch64-unknown-linux-gnu)
 *
 * `deno compile` needs the target's base binary (denort), which it downloads from dl.deno.land
 * on first use (cached in DENO_DIR). Without network access that fails; this script then says so
 * per target and carries on; it exits 1 when nothing could be built. DENORT_BIN=<denort> makes
 * deno use a local denort instead (one binary, so only together with --target).
 * @module
 */
import { parseArgs } from "node:util";
import { permissionFlags, readPermissionSet } from "./_permissions.ts";

/** Targets built by default, in build order. */
export const TARGETS = ["x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"] as const;
/** A supported compile target. */
export type Target = typeof TARGETS[number];

/** deno.json permission set baked into the binary. */
export const PERMISSION_SET = "agent";

/**
 * V8 old-space cap in MB, embedded in the binary. Measured (deno-environment.md §5): with every
 * package loaded the JS heap is ~20 MB (8 MB with NATS connected) at ~80 MB RSS, so 64 MB leaves
 * ~3x headroom, and the agent ran with checks.example under this cap without trouble. On a
 * 256-512 MB board the cap makes V8 collect early instead of growing towards its default limit
 * (which scales with physical memory); a genuine leak ends in a heap OOM the supervisor restarts
 * rather than in the kernel OOM killer picking a process.
 */
export const HEAP_CAP_MB = 64;

/**
 * V8 semi-space (young generation) cap in MB. The default lets the young generation grow to
 * 16 MB and more; at 1 MB the agent with 100 checks measured about 10 MB less RSS, for more
 * frequent (cheap) scavenges.
 */
export const SEMI_SPACE_MB = 1;

/**
 * V8's optimizing tiers (Maglev, TurboFan) switched off; the interpreter and the Sparkplug
 * baseline compiler stay. The agent's time goes into spawning plugins, not into JavaScript:
 * without the optimizers it delivered the same results per second (`deno task bench
 * throughput`) and 9 MiB less RSS with 100 checks (`deno task bench memory`): their code
 * pages in the deno binary and their compiled code are never touched.
 */
export const JIT_FLAGS = "--no-opt,--no-maglev";

/** The --v8-flags argument: heap caps and JIT tiers; deno.json's start and scout tasks use the same. */
export const V8_FLAGS =
  `--v8-flags=--max-old-space-size=${HEAP_CAP_MB},--max-semi-space-size=${SEMI_SPACE_MB},${JIT_FLAGS}`;

/** Repository root (the folder above scripts/), where the commands run. */
export const ROOT: string = decodeURIComponent(new URL("..", import.meta.url).pathname).replace(
  /\/$/,
  "",
);

/**
 * The `deno compile` arguments (without the program name) for one target.
 *
 * @param target the compile target
 * @param permFlags permission flags, from {@link permissionFlags}
 * @returns the argument list, relative to the repository root
 */
export function compileArgs(target: Target, permFlags: readonly string[]): string[] {
  return [
    "compile",
    "--no-check",
    "--no-prompt",
    ...permFlags,
    V8_FLAGS,
    "--target",
    target,
    "--output",
    `dist/scout-${target}`,
    "main.ts",
  ];
}

/** The type check run once before the compile commands (`deno check main.ts`). */
export const CHECK_ARGS: readonly string[] = ["check", "main.ts"];

/**
 * Quotes one word for a POSIX shell (single quotes; left bare when it is plainly safe).
 *
 * @param word the word to quote
 * @returns the word as it can be pasted into sh/bash
 */
export function shellQuote(word: string): string {
  if (word !== "" && /^[A-Za-z0-9_\-./=,:@%+]+$/.test(word)) return word;
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * True when deno compile's output says it could not download the base binary (denort).
 *
 * @param output the captured stderr/stdout of `deno compile`
 * @returns whether the failure is the denort download (and not e.g. a type error)
 */
export function isDenortDownloadError(output: string): boolean {
  return /Setting up base binary|dl\.deno\.land|denort-[\w-]+\.zip/.test(output) &&
    !/Could not find denort at/.test(output);
}

/** The last "Caused by" line of a deno error chain, e.g. `dns error: failed to lookup ...`. */
function rootCause(output: string): string {
  const lines = output.split("\n").map((l) => l.trim()).filter((l) => /^\d+: /.test(l));
  return lines.length > 0 ? lines[lines.length - 1]!.replace(/^\d+: /, "") : "";
}

/**
 * The message printed when `deno compile` could not download denort for `target`.
 *
 * @param target the target that was skipped
 * @param cause deno's own root cause (may be empty)
 * @returns a multi-line, human-readable explanation (no stack trace)
 */
export function denortUnavailableMessage(target: Target, cause: string): string {
  const v = Deno.version.deno;
  return [
    `SKIPPED ${target}: deno compile could not fetch its base binary (denort-${target}.zip):`,
    `  this machine has no access to dl.deno.land${cause ? ` (${cause})` : ""}.`,
    `  The command above works on a machine with network access, or here with`,
    `  DENORT_BIN=<path to a denort ${v} binary for ${target}> and --target ${target},`,
    `  or once denort-${target}.zip is placed in $DENO_DIR/dl/release/v${v}/ (deno's download cache).`,
  ].join("\n");
}

const encoder = new TextEncoder();
function write(stream: { writeSync(p: Uint8Array): number }, text: string): void {
  let bytes = encoder.encode(text);
  while (bytes.length > 0) bytes = bytes.subarray(stream.writeSync(bytes));
}
function say(text: string): void {
  write(Deno.stderr, `${text}\n`);
}

async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        "dry-run": { type: "boolean" },
        target: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (e) {
    say(`${(e as Error).message}\nusage: deno task compile [--dry-run] [--target T]`);
    return 2;
  }
  if (values.help) {
    say(`usage: deno task compile [--dry-run] [--target T]\ntargets: ${TARGETS.join(", ")}`);
    return 0;
  }
  const wanted = values.target;
  if (wanted !== undefined && !(TARGETS as readonly string[]).includes(wanted)) {
    say(`unknown target "${wanted}"; expected one of: ${TARGETS.join(", ")}`);
    return 2;
  }
  const targets: Target[] = wanted === undefined ? [...TARGETS] : [wanted as Target];

  let permFlags: string[];
  try {
    permFlags = permissionFlags(await readPermissionSet(PERMISSION_SET));
  } catch (e) {
    say(`cannot read permission set "${PERMISSION_SET}": ${(e as Error).message}`);
    return 1;
  }

  const deno = Deno.execPath();
  const commands = targets.map((target) => {
    const args = compileArgs(target, permFlags);
    return { target, args, line: [deno, ...args].map(shellQuote).join(" ") };
  });

  const checkLine = [deno, ...CHECK_ARGS].map(shellQuote).join(" ");
  if (values["dry-run"]) {
    say(`# type check first (the compile commands use --no-check): ${checkLine}`);
    for (const c of commands) write(Deno.stdout, `${c.line}\n`);
    return 0;
  }

  const denortBin = Deno.env.get("DENORT_BIN");
  if (denortBin && targets.length > 1) {
    say(
      `DENORT_BIN (${denortBin}) is one denort binary, so it serves one target only;` +
        ` run with --target <the target it was built for>.`,
    );
    return 1;
  }

  say(`== type check\n${checkLine}`);
  const check = await new Deno.Command(deno, {
    args: [...CHECK_ARGS],
    cwd: ROOT,
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
    env: { RUST_BACKTRACE: "0" },
  }).output();
  if (!check.success) {
    say(`type check failed (exit ${check.code}); nothing was built.`);
    return 1;
  }

  await Deno.mkdir(`${ROOT}/dist`, { recursive: true });
  const built: string[] = [];
  const skipped: string[] = [];
  const failed: string[] = [];
  for (const { target, args, line } of commands) {
    say(`== ${target}\n${line}`);
    const out = await new Deno.Command(deno, {
      args,
      cwd: ROOT,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { RUST_BACKTRACE: "0", NO_COLOR: "1" },
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    if (out.success) {
      write(Deno.stderr, text);
      say(`built dist/scout-${target}`);
      built.push(target);
    } else if (isDenortDownloadError(text)) {
      say(denortUnavailableMessage(target, rootCause(text)));
      skipped.push(target);
    } else {
      write(Deno.stderr, text);
      say(`FAILED ${target}: deno compile exited with code ${out.code}`);
      failed.push(target);
    }
  }

  say(
    `\nbuilt: ${built.join(", ") || "none"}` +
      (skipped.length ? `; skipped (no denort): ${skipped.join(", ")}` : "") +
      (failed.length ? `; failed: ${failed.join(", ")}` : ""),
  );
  if (built.length === 0) {
    say("nothing was built.");
    return 1;
  }
  return failed.length > 0 ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
