/**
 * Compiles the two Scout binaries for Linux x86_64 and arm64 with `deno compile`
 * (`deno task compile`), both from main.ts:
 *
 * - `dist/scout-<target>`: the agent and operator commands, deno.json's "agent" permission set,
 *   `--no-prompt` and {@link V8_FLAGS} (heap caps and no optimizing JIT, for small devices);
 * - `dist/scout-hub-<target>`: hub, broker, ca and token, deno.json's "hub" permission set,
 *   `--no-prompt` and no `--v8-flags` at all (see {@link HUB_V8_FLAGS}).
 *
 * Permission sets become explicit flags (permissionFlags), the same flags the tests check.
 *
 * Type checking runs once, first, as `deno check main.ts`; the compile commands then pass
 * `--no-check`. Reason: `--v8-flags` given to `deno compile` is both embedded in the binary and
 * applied to the compiling deno itself, and deno's TypeScript checker needs more than 128 MB of
 * V8 heap for this project: with the 64 MB cap, `deno compile`'s own check dies with
 * "Fatal JavaScript out of memory: Reached heap limit" (measured with Deno 2.9.6).
 *
 * Options:
 *   --dry-run     print the exact compile commands on stdout, one shell-quoted line per binary
 *                 per target (per target: scout, then scout-hub), and run and write nothing;
 *                 notes and the type-check command go to stderr
 *   --target T    build only target T (x86_64-unknown-linux-gnu or aarch64-unknown-linux-gnu)
 *   --binary B    build only binary B (scout or scout-hub)
 *   --provisioning-token FILE
 *                 embed a provisioning token in the scout binaries (never in scout-hub).
 *                 FILE must hold exactly one JWT-looking line: three non-empty base64url parts
 *                 joined by dots whose first part decodes to a JSON object; anything else is
 *                 refused with exit code 2 (also under --dry-run). The token is copied to
 *                 dist/provisioning.jwt (mode 0600) and the scout commands get
 *                 `--include dist/provisioning.jwt`; src/cli/agent.ts reads it at run time from
 *                 `new URL("../../dist/provisioning.jwt", import.meta.url)`, which inside the
 *                 binary resolves to the embedded copy. The copy stays in dist/ after the build.
 *
 * A stale token is never embedded: a build of the scout binary without --provisioning-token
 * removes a dist/provisioning.jwt left by an earlier build and says so (it is only a copy of the
 * operator's FILE; nothing is lost). The compile commands without the option carry no
 * `--include`, so the file would not be embedded anyway; it is removed because the agent run from
 * source (`deno task scout agent`) reads the same path and would otherwise enrol with an old
 * token. `--dry-run` only reports that a build would remove it. Building only scout-hub
 * leaves dist/provisioning.jwt alone, and --provisioning-token with `--binary scout-hub` is a
 * usage error.
 *
 * `deno compile` needs the target's base binary (denort), which it downloads from dl.deno.land
 * on first use (cached in DENO_DIR). Without network access that fails; this script then says so
 * per target (once; the target's other binary is skipped without a second attempt) and carries
 * on; it exits 1 when nothing could be built. DENORT_BIN=<denort> makes deno use a local denort
 * instead (one binary, so only together with --target).
 * @module
 */
import { parseArgs } from "node:util";
import { permissionFlags, readPermissionSet } from "./_permissions.ts";

/** Targets built by default, in build order. */
export const TARGETS = ["x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"] as const;
/** A supported compile target. */
export type Target = typeof TARGETS[number];

/** The binaries built by default, in build order (per target). */
export const BINARIES = ["scout", "scout-hub"] as const;
/** One of the compiled binaries (also the file name prefix under dist/). */
export type Binary = typeof BINARIES[number];

/** deno.json permission set baked into the scout (agent) binary. */
export const PERMISSION_SET = "agent";

/** deno.json permission set baked into the scout-hub binary. */
export const HUB_PERMISSION_SET = "hub";

/** The deno.json permission set of each binary. */
export const BINARY_PERMISSION_SETS: Readonly<Record<Binary, string>> = {
  scout: PERMISSION_SET,
  "scout-hub": HUB_PERMISSION_SET,
};

/** Where the embedded provisioning token is staged, relative to the repository root. */
export const PROVISIONING_TOKEN_PATH = "dist/provisioning.jwt";

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

/**
 * The scout binary's --v8-flags argument: heap caps and JIT tiers; deno.json's start and scout
 * tasks use the same.
 */
export const V8_FLAGS =
  `--v8-flags=--max-old-space-size=${HEAP_CAP_MB},--max-semi-space-size=${SEMI_SPACE_MB},${JIT_FLAGS}`;

/**
 * The scout-hub binary's V8 arguments: none. The agent's caps are sized for one node's ~20 MB
 * heap; the hub holds the fleet view (up to 100k nodes), the archive index and the gateway, so a
 * 64 MB old space would end in a heap OOM, and its time goes into JavaScript (merging state,
 * JSON), where Maglev and TurboFan pay off. V8's defaults (heap limit scaled to the machine's
 * memory, all JIT tiers) fit a server process; deno.json's scout-hub task passes no V8 flags
 * either. A deployment that wants a cap sets it outside the binary (container memory limit).
 */
export const HUB_V8_FLAGS: readonly string[] = [];

/** The output path of `binary` for `target`, relative to the repository root. */
export function outputPath(binary: Binary, target: Target): string {
  return `dist/${binary}-${target}`;
}

/** Repository root (the folder above scripts/), where the commands run. */
export const ROOT: string = decodeURIComponent(new URL("..", import.meta.url).pathname).replace(
  /\/$/,
  "",
);

/** Options of {@link compileArgs}. */
export interface CompileOptions {
  /** The binary to build (default `"scout"`). */
  binary?: Binary;
  /** Add `--include dist/provisioning.jwt` (scout only; throws for scout-hub). */
  embedToken?: boolean;
}

/**
 * The `deno compile` arguments (without the program name) for one binary and target.
 *
 * @param target the compile target
 * @param permFlags permission flags of the binary's set, from {@link permissionFlags}
 * @param options which binary, and whether to embed the provisioning token
 * @returns the argument list, relative to the repository root
 * @throws Error when asked to embed the token in scout-hub
 */
export function compileArgs(
  target: Target,
  permFlags: readonly string[],
  options: CompileOptions = {},
): string[] {
  const binary = options.binary ?? "scout";
  if (options.embedToken && binary !== "scout") {
    throw new Error(`the provisioning token is embedded only in scout, not in ${binary}`);
  }
  return [
    "compile",
    "--no-check",
    "--no-prompt",
    ...permFlags,
    ...(binary === "scout" ? [V8_FLAGS] : HUB_V8_FLAGS),
    ...(options.embedToken ? ["--include", PROVISIONING_TOKEN_PATH] : []),
    "--target",
    target,
    "--output",
    outputPath(binary, target),
    "main.ts",
  ];
}

const BASE64URL_PART = /^[A-Za-z0-9_-]+$/;

/**
 * Checks that `text` (a token file's content) is one JWT-looking line and returns the token.
 * The reasons never quote the token itself.
 *
 * @param text the file's content
 * @returns the token without surrounding whitespace
 * @throws Error with the reason when it is not three non-empty base64url parts joined by dots
 *   on a single line, with a first part that decodes to a JSON object
 */
export function parseProvisioningToken(text: string): string {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== "");
  if (lines.length === 0) throw new Error("it is empty");
  if (lines.length > 1) {
    throw new Error(`it has ${lines.length} non-empty lines, expected exactly one (the JWT)`);
  }
  const token = lines[0]!;
  const parts = token.split(".");
  if (parts.length !== 3) {
    throw new Error(
      `its line has ${parts.length} dot-separated part(s), expected 3 (header.payload.signature)`,
    );
  }
  parts.forEach((part, i) => {
    if (!BASE64URL_PART.test(part)) {
      throw new Error(
        `part ${i + 1} of 3 is ${part === "" ? "empty" : "not base64url (A-Z a-z 0-9 - _)"}`,
      );
    }
  });
  let header: unknown;
  try {
    const b64 = parts[0]!.replaceAll("-", "+").replaceAll("_", "/");
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(
      Uint8Array.from(atob(b64 + "=".repeat((4 - b64.length % 4) % 4)), (c) => c.charCodeAt(0)),
    ));
  } catch {
    header = undefined;
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    throw new Error("its first part (the JWT header) does not decode to a JSON object");
  }
  return token;
}

/**
 * Reads and checks a provisioning token file (see {@link parseProvisioningToken}).
 *
 * @param file the path given to --provisioning-token
 * @returns the token
 * @throws Error with a message naming the file when it cannot be read or is no JWT
 */
export async function readProvisioningToken(file: string): Promise<string> {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(await Deno.readFile(file));
  } catch (e) {
    throw new Error(`cannot read provisioning token ${file}: ${(e as Error).message}`);
  }
  try {
    return parseProvisioningToken(text);
  } catch (e) {
    throw new Error(
      `--provisioning-token ${file} does not hold one JWT line: ${(e as Error).message}`,
    );
  }
}

/**
 * Puts the token to embed in place before the scout binaries are compiled: with a token,
 * writes it to `<root>/dist/provisioning.jwt` with mode 0600 (replacing an earlier file);
 * without, removes a stale `<root>/dist/provisioning.jwt`, so nothing old can be embedded or
 * read by the agent run from source.
 *
 * @param token the checked token, or undefined when --provisioning-token was not given
 * @param root the repository root (tests pass a temporary folder)
 * @returns what was done, for the build log; null when there was nothing to do
 */
export async function stageProvisioningToken(
  token: string | undefined,
  root: string = ROOT,
): Promise<string | null> {
  const path = `${root}/${PROVISIONING_TOKEN_PATH}`;
  let existed = true;
  try {
    await Deno.remove(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    existed = false;
  }
  if (token === undefined) {
    return existed
      ? `removed stale ${PROVISIONING_TOKEN_PATH} from an earlier build: a token is embedded` +
        ` only with --provisioning-token FILE`
      : null;
  }
  await Deno.mkdir(`${root}/dist`, { recursive: true });
  await Deno.writeTextFile(path, `${token}\n`, { mode: 0o600, createNew: true });
  await Deno.chmod(path, 0o600); // the umask cannot widen it, but be explicit
  return `wrote ${PROVISIONING_TOKEN_PATH} (mode 0600); scout binaries embed it with --include`;
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

const USAGE = "usage: deno task compile [--dry-run] [--target T] [--binary scout|scout-hub]" +
  " [--provisioning-token FILE]";

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        "dry-run": { type: "boolean" },
        target: { type: "string" },
        binary: { type: "string" },
        "provisioning-token": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (e) {
    say(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    say(`${USAGE}\ntargets: ${TARGETS.join(", ")}\nbinaries: ${BINARIES.join(", ")}`);
    return 0;
  }
  const wanted = values.target;
  if (wanted !== undefined && !(TARGETS as readonly string[]).includes(wanted)) {
    say(`unknown target "${wanted}"; expected one of: ${TARGETS.join(", ")}`);
    return 2;
  }
  const targets: Target[] = wanted === undefined ? [...TARGETS] : [wanted as Target];
  const wantedBinary = values.binary;
  if (wantedBinary !== undefined && !(BINARIES as readonly string[]).includes(wantedBinary)) {
    say(`unknown binary "${wantedBinary}"; expected one of: ${BINARIES.join(", ")}`);
    return 2;
  }
  const binaries: Binary[] = wantedBinary === undefined ? [...BINARIES] : [wantedBinary as Binary];
  const buildsScout = binaries.includes("scout");

  const tokenFile = values["provisioning-token"];
  let token: string | undefined;
  if (tokenFile !== undefined) {
    if (!buildsScout) {
      say(
        `--provisioning-token is embedded only in the scout binary, not in scout-hub;` +
          ` drop it or build scout too.`,
      );
      return 2;
    }
    try {
      token = await readProvisioningToken(tokenFile);
    } catch (e) {
      say(`${(e as Error).message}\nnothing was built.`);
      return 2;
    }
  }

  const permFlags = new Map<Binary, string[]>();
  for (const binary of binaries) {
    const set = BINARY_PERMISSION_SETS[binary];
    try {
      permFlags.set(binary, permissionFlags(await readPermissionSet(set)));
    } catch (e) {
      say(`cannot read permission set "${set}" (for ${binary}): ${(e as Error).message}`);
      return 1;
    }
  }

  const deno = Deno.execPath();
  const commands = targets.flatMap((target) =>
    binaries.map((binary) => {
      const args = compileArgs(target, permFlags.get(binary)!, {
        binary,
        embedToken: binary === "scout" && token !== undefined,
      });
      const output = outputPath(binary, target);
      return { target, binary, output, args, line: [deno, ...args].map(shellQuote).join(" ") };
    })
  );

  const checkLine = [deno, ...CHECK_ARGS].map(shellQuote).join(" ");
  if (values["dry-run"]) {
    say(`# type check first (the compile commands use --no-check): ${checkLine}`);
    if (token !== undefined) {
      say(`# a build copies ${tokenFile} to ${PROVISIONING_TOKEN_PATH} (mode 0600) first`);
    } else if (buildsScout && await exists(`${ROOT}/${PROVISIONING_TOKEN_PATH}`)) {
      say(`# a build removes the stale ${PROVISIONING_TOKEN_PATH} first (no --provisioning-token)`);
    }
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
  if (buildsScout) {
    try {
      const done = await stageProvisioningToken(token);
      if (done !== null) say(done);
    } catch (e) {
      say(`cannot stage ${PROVISIONING_TOKEN_PATH}: ${(e as Error).message}\nnothing was built.`);
      return 1;
    }
  }

  const built: string[] = [];
  const skipped: string[] = [];
  const failed: string[] = [];
  const noDenort = new Set<Target>();
  for (const { target, output, args, line } of commands) {
    if (noDenort.has(target)) {
      say(`== ${output}\nSKIPPED ${output}: no denort for ${target} (see above)`);
      skipped.push(output);
      continue;
    }
    say(`== ${output}\n${line}`);
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
      if (args.includes(PROVISIONING_TOKEN_PATH) && !text.includes("provisioning.jwt")) {
        // deno compile lists what it embedded ("Embedded Files"); the token should be there.
        say(`WARNING: deno compile's list of embedded files does not name provisioning.jwt`);
      }
      say(`built ${output}`);
      built.push(output);
    } else if (isDenortDownloadError(text)) {
      say(denortUnavailableMessage(target, rootCause(text)));
      noDenort.add(target);
      skipped.push(output);
    } else {
      write(Deno.stderr, text);
      say(`FAILED ${output}: deno compile exited with code ${out.code}`);
      failed.push(output);
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
