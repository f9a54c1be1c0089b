/**
 * Runs the pure unit tests under an arm64 (aarch64) Deno emulated by qemu-user-static
 * (deno-environment.md §6). `deno task test:arm64` (or `deno run --allow-all scripts/test_arm64.ts`).
 *
 * 1. fetches @deno/linux-arm64-glibc@<version> with `npm pack` into .scout/arm64/ (once; cached)
 * 2. prints `Deno.build.arch` as reported by the emulated deno (must be aarch64)
 * 3. runs `qemu-aarch64-static -L /usr/aarch64-linux-gnu <arm64 deno> test --allow-all <files>`
 *    with DENO_DIR shared with the host deno, so npm packages are already cached
 *
 * Files: every src/**\/*_test.ts outside src/runtime/ (tests/ and src/runtime/ spawn processes:
 * under qemu a spawned child is a native x86 binary, and spawning is ~40x slower), or the files
 * given as arguments. Options: `--timeout <seconds>` (default 1800); `--no-check` skips the type
 * check (it is the same on every architecture and takes about half the emulated run time).
 * Exits with deno test's code.
 * Under emulation everything runs ~25x slower than native: expect minutes, not seconds.
 * @module
 */
import { parseArgs } from "node:util";

/** Deno version of the emulated binary (the project's pinned version). */
export const ARM64_DENO_VERSION = "2.9.6";
/** npm package that ships the linux arm64 (glibc) deno binary. */
export const ARM64_DENO_PACKAGE = "@deno/linux-arm64-glibc";
/** The user-mode emulator (Debian package qemu-user-static). */
export const QEMU = "/usr/bin/qemu-aarch64-static";
/** aarch64 sysroot (Debian packages libc6-arm64-cross, libgcc-s1-arm64-cross), for `qemu -L`. */
export const SYSROOT = "/usr/aarch64-linux-gnu";

const ROOT = decodeURIComponent(new URL("..", import.meta.url).pathname).replace(/\/$/, "");
/** Cache folder for the arm64 deno (git-ignored). */
export const ARM64_CACHE_DIR = `${ROOT}/.scout/arm64`;
/** Where the cached arm64 deno binary lives once fetched. */
export const ARM64_DENO_PATH = `${ARM64_CACHE_DIR}/deno-${ARM64_DENO_VERSION}/deno`;

const encoder = new TextEncoder();
function write(stream: { writeSync(p: Uint8Array): number }, text: string): void {
  let bytes = encoder.encode(text);
  while (bytes.length > 0) bytes = bytes.subarray(stream.writeSync(bytes));
}
function info(text: string): void {
  write(Deno.stderr, `${text}\n`);
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** True when `path` is an ELF executable for aarch64 (e_machine 183), checked without running it. */
export function isAarch64Elf(path: string): boolean {
  try {
    const file = Deno.openSync(path);
    try {
      const head = new Uint8Array(20);
      if (file.readSync(head) !== 20) return false;
      const elf = head[0] === 0x7f && head[1] === 0x45 && head[2] === 0x4c && head[3] === 0x46;
      return elf && head[18] === 183 && head[19] === 0;
    } finally {
      file.close();
    }
  } catch {
    return false;
  }
}

/** What is missing to run the emulated deno: the emulator and/or the sysroot (empty = nothing). */
export function missingEmulation(): string[] {
  const missing: string[] = [];
  if (!exists(QEMU)) missing.push(`${QEMU} (apt-get install qemu-user-static)`);
  if (!exists(`${SYSROOT}/lib/ld-linux-aarch64.so.1`)) {
    missing.push(`${SYSROOT}/lib/ld-linux-aarch64.so.1 (apt-get install libc6-arm64-cross)`);
  }
  if (!exists(`${SYSROOT}/lib/libgcc_s.so.1`)) {
    missing.push(`${SYSROOT}/lib/libgcc_s.so.1 (apt-get install libgcc-s1-arm64-cross)`);
  }
  return missing;
}

/** True when the arm64 deno is already in the cache. */
export function arm64DenoCached(): boolean {
  return isAarch64Elf(ARM64_DENO_PATH);
}

/**
 * Returns the path of the arm64 deno, fetching it first with `npm pack` when it is not cached.
 * The download is unpacked into a temporary folder and renamed into place, so an interrupted
 * fetch never leaves a half-written binary in the cache.
 *
 * @param log where progress lines go (default: stderr)
 * @returns the absolute path of the aarch64 deno binary
 * @throws Error when npm or tar fail or the package does not contain an aarch64 deno
 */
export async function ensureArm64Deno(log: (line: string) => void = info): Promise<string> {
  if (arm64DenoCached()) return ARM64_DENO_PATH;
  await Deno.mkdir(ARM64_CACHE_DIR, { recursive: true });
  const spec = `${ARM64_DENO_PACKAGE}@${ARM64_DENO_VERSION}`;
  log(`fetching ${spec} with npm pack into ${ARM64_CACHE_DIR} ...`);
  const tmp = await Deno.makeTempDir({ dir: ARM64_CACHE_DIR, prefix: ".fetch-" });
  try {
    const pack = await new Deno.Command("npm", {
      args: ["pack", spec, "--silent", "--pack-destination", tmp],
      cwd: tmp,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(600_000),
    }).output();
    const tgz = new TextDecoder().decode(pack.stdout).trim().split("\n").pop() ?? "";
    if (!pack.success || tgz === "") {
      throw new Error(
        `npm pack ${spec} failed (exit ${pack.code}): ${
          new TextDecoder().decode(pack.stderr).trim()
        }`,
      );
    }
    const tar = await new Deno.Command("tar", {
      args: ["xzf", `${tmp}/${tgz}`, "-C", tmp],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!tar.success) {
      throw new Error(`tar xzf ${tgz} failed: ${new TextDecoder().decode(tar.stderr).trim()}`);
    }
    if (!isAarch64Elf(`${tmp}/package/deno`)) {
      throw new Error(`${spec} does not contain an aarch64 ELF at package/deno`);
    }
    try {
      await Deno.rename(`${tmp}/package`, `${ARM64_CACHE_DIR}/deno-${ARM64_DENO_VERSION}`);
    } catch (e) {
      // Another process (e.g. a parallel test) finished the same fetch first: use its copy.
      if (!arm64DenoCached()) throw e;
    }
    log(`cached ${ARM64_DENO_PATH}`);
    return ARM64_DENO_PATH;
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

/** The host deno's cache folder (DENO_DIR), as the host deno itself reports it. */
export async function hostDenoDir(): Promise<string> {
  const fromEnv = Deno.env.get("DENO_DIR");
  if (fromEnv) return fromEnv;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
    env: { NO_COLOR: "1" },
  }).output();
  const parsed = JSON.parse(new TextDecoder().decode(out.stdout)) as { denoDir?: string };
  if (!parsed.denoDir) throw new Error("deno info --json did not report denoDir");
  return parsed.denoDir;
}

/**
 * Builds the command that runs the arm64 deno under qemu with `args`.
 *
 * @param denoPath the aarch64 deno binary (from {@link ensureArm64Deno})
 * @param args arguments for deno (e.g. `["eval", "..."]`)
 * @param denoDir DENO_DIR to share with the host deno
 * @param signal aborts (kills) the emulated process, e.g. `AbortSignal.timeout(ms)`
 * @returns a Deno.Command running in the repository root
 */
export function emulatedDeno(
  denoPath: string,
  args: string[],
  denoDir: string,
  signal?: AbortSignal,
): Deno.Command {
  return new Deno.Command(QEMU, {
    args: ["-L", SYSROOT, denoPath, ...args],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { DENO_DIR: denoDir, RUST_BACKTRACE: "0", NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
    ...(signal ? { signal } : {}),
  });
}

/** The emulated deno's `Deno.build.arch` (runs `deno eval` under qemu). */
export async function emulatedArch(
  denoPath: string,
  denoDir: string,
  timeoutMs = 300_000,
): Promise<string> {
  const out = await emulatedDeno(
    denoPath,
    ["eval", "console.log(Deno.build.arch)"],
    denoDir,
    AbortSignal.timeout(timeoutMs),
  ).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim();
    throw new Error(`emulated deno eval failed (exit ${out.code}, signal ${out.signal}): ${err}`);
  }
  return text;
}

/** src/**\/*_test.ts outside src/runtime/, relative to the repository root, sorted. */
export async function pureUnitTests(): Promise<string[]> {
  const found: string[] = [];
  async function walk(dir: string): Promise<void> {
    for await (const e of Deno.readDir(`${ROOT}/${dir}`)) {
      const rel = `${dir}/${e.name}`;
      if (e.isDirectory) {
        if (rel !== "src/runtime") await walk(rel);
      } else if (e.isFile && e.name.endsWith("_test.ts")) {
        found.push(rel);
      }
    }
  }
  await walk("src");
  return found.sort();
}

function fmtSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      timeout: { type: "string" },
      "no-check": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    allowPositionals: true,
  });
  if (values.help) {
    info("usage: deno task test:arm64 [--timeout SECONDS] [--no-check] [test files...]");
    return 0;
  }
  const timeoutS = Number(values.timeout ?? "1800");
  if (!Number.isFinite(timeoutS) || timeoutS <= 0) {
    info(`--timeout must be a positive number of seconds, got ${values.timeout}`);
    return 2;
  }

  const missing = missingEmulation();
  if (missing.length > 0) {
    info(`cannot emulate arm64, missing:\n  ${missing.join("\n  ")}`);
    return 1;
  }
  const started = performance.now();
  const deno = await ensureArm64Deno();
  const denoDir = await hostDenoDir();
  info(`arm64 deno: ${deno}\nDENO_DIR: ${denoDir}`);

  const archStart = performance.now();
  const arch = await emulatedArch(deno, denoDir);
  write(Deno.stdout, `emulated Deno.build.arch: ${arch}\n`);
  info(`(deno eval under qemu took ${fmtSeconds(performance.now() - archStart)})`);
  if (arch !== "aarch64") {
    info(`expected aarch64, got "${arch}"`);
    return 1;
  }

  const files = positionals.length > 0 ? positionals : await pureUnitTests();
  if (files.length === 0) {
    info("no test files found");
    return 1;
  }
  info(`running ${files.length} test file(s) under qemu: ${files.join(" ")}`);
  const testStart = performance.now();
  const child = new Deno.Command(QEMU, {
    args: [
      "-L",
      SYSROOT,
      deno,
      "test",
      "--allow-all",
      ...(values["no-check"] ? ["--no-check"] : []),
      ...files,
    ],
    cwd: ROOT,
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
    env: { DENO_DIR: denoDir, RUST_BACKTRACE: "0", DENO_NO_UPDATE_CHECK: "1" },
    signal: AbortSignal.timeout(timeoutS * 1000),
  }).spawn();
  const status = await child.status;
  const elapsed = performance.now() - testStart;
  if (status.signal !== null) {
    info(
      `arm64 deno test killed by ${status.signal} after ${fmtSeconds(elapsed)}` +
        ` (timeout ${timeoutS} s)`,
    );
    return 1;
  }
  write(
    Deno.stdout,
    `arm64 deno test: exit code ${status.code}, tests ${fmtSeconds(elapsed)}, ` +
      `total ${fmtSeconds(performance.now() - started)}\n`,
  );
  return status.code;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
