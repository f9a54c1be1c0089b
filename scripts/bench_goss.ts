// deno-lint-ignore-file no-console -- a benchmark prints its numbers
/**
 * `deno task bench:goss`: how fast the embedded goss validates, with baselines from the same run.
 *
 * 1. 1,000 file resources (exists, filetype, mode, owner, size): goss's own duration (its json
 *    summary) through `scout goss validate` under the agent's permission set, and the whole
 *    command's wall time; baseline: a bare loop doing the same lstat calls plus one read of
 *    /etc/passwd. Target: under 0.5 s.
 * 2. 200 mixed local resources (files, users, groups, commands, ports, processes, kernel
 *    parameters, HTTP on loopback), same measures. Target: under 1 s.
 * 3. goss's bullseye integration gossfile (shared/goss-gossfiles) with its network-only resources
 *    (http, dns, addr) left out: reported. Skipped when ../shared is absent.
 *
 * Everything runs on this machine; servers listen on 127.0.0.1 only.
 * @module
 */
import { createDenoGossHost } from "../src/runtime/mod.ts";
import { loadGossfile, RESOURCE_TYPES, validate } from "../src/goss/mod.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const SHARED = new URL("../../shared/goss-gossfiles/", import.meta.url).pathname;
const REPS = Deno.args.includes("--quick") ? 3 : 7;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

interface CliRun {
  gossMs: number;
  wallMs: number;
  tests: number;
  failed: number;
  code: number;
}

async function cliValidate(gossfile: string): Promise<CliRun> {
  const started = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "-P=agent",
      "main.ts",
      "goss",
      "validate",
      "-g",
      gossfile,
      "-f",
      "json",
    ],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const wallMs = performance.now() - started;
  const text = new TextDecoder().decode(out.stdout);
  try {
    const doc = JSON.parse(text);
    return {
      gossMs: doc.summary["total-duration"] / 1e6,
      wallMs,
      tests: doc.summary["test-count"],
      failed: doc.summary["failed-count"],
      code: out.code,
    };
  } catch {
    throw new Error(
      `goss validate printed no JSON (exit ${out.code}): ${new TextDecoder().decode(out.stderr)}`,
    );
  }
}

async function emptyRun(): Promise<number> {
  const dir = await Deno.makeTempDir({ prefix: "scout-bench-goss-" });
  await Deno.writeTextFile(
    `${dir}/one.yaml`,
    "matching:\n  one:\n    content: 1\n    matches: 1\n",
  );
  const times: number[] = [];
  for (let i = 0; i < REPS; i++) times.push((await cliValidate(`${dir}/one.yaml`)).wallMs);
  await Deno.remove(dir, { recursive: true });
  return median(times);
}

async function fileBench(): Promise<Row[]> {
  const dir = await Deno.makeTempDir({ prefix: "scout-bench-goss-" });
  const files: string[] = [];
  for (let i = 0; i < 1000; i++) {
    const f = `${dir}/f${i}`;
    await Deno.writeTextFile(f, `file ${i}\n`);
    await Deno.chmod(f, 0o644);
    files.push(f);
  }
  const me = new TextDecoder().decode(
    (await new Deno.Command("id", { args: ["-un"], stdout: "piped" }).output()).stdout,
  ).trim();
  const yaml = "file:\n" +
    files.map((f, i) =>
      `  ${f}:\n    exists: true\n    filetype: file\n    mode: "0644"\n    owner: ${me}\n    size: ${
        `file ${i}\n`.length
      }\n`
    ).join("");
  await Deno.writeTextFile(`${dir}/goss.yaml`, yaml);
  const runs: CliRun[] = [];
  for (let i = 0; i < REPS; i++) runs.push(await cliValidate(`${dir}/goss.yaml`));
  const base: number[] = [];
  for (let i = 0; i < REPS; i++) {
    const t = performance.now();
    await Deno.readTextFile("/etc/passwd");
    for (const f of files) await Deno.lstat(f);
    base.push(performance.now() - t);
  }
  await Deno.remove(dir, { recursive: true });
  const goss = median(runs.map((r) => r.gossMs));
  const wall = median(runs.map((r) => r.wallMs));
  const b = median(base);
  return [
    {
      metric: `1,000 file resources (${runs[0]!.tests} tests, ${
        runs[0]!.failed
      } failed): goss duration`,
      value: `${goss.toFixed(0)} ms`,
      baseline: `${b.toFixed(0)} ms bare lstat loop`,
      target: `${(goss / b).toFixed(1)}x; < 500 ms`,
      pass: goss < 500 && runs[0]!.failed === 0,
    },
    {
      metric: "same, whole `scout goss validate` command (Deno start-up included)",
      value: `${wall.toFixed(0)} ms`,
      baseline: "",
      target: "info",
      pass: null,
    },
  ];
}

async function mixedBench(): Promise<Row[]> {
  const dir = await Deno.makeTempDir({ prefix: "scout-bench-goss-" });
  const listeners = Array.from(
    { length: 20 },
    () => Deno.listen({ hostname: "127.0.0.1", port: 0 }),
  );
  const http = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("ok"),
  );
  const sleeper = new Deno.Command("sleep", { args: ["300"] }).spawn();
  const users = (await Deno.readTextFile("/etc/passwd")).split("\n").filter(Boolean).slice(0, 20)
    .map((l) => l.split(":")[0]!);
  const groups = (await Deno.readTextFile("/etc/group")).split("\n").filter(Boolean).slice(0, 20)
    .map((l) => l.split(":")[0]!);
  const params = [
    "kernel.ostype",
    "kernel.hostname",
    "kernel.osrelease",
    "kernel.pid_max",
    "vm.swappiness",
  ];
  let yaml = "file:\n";
  for (let i = 0; i < 93; i++) {
    await Deno.writeTextFile(`${dir}/f${i}`, "x\n");
    yaml += `  ${dir}/f${i}:\n    exists: true\n    contents: [x]\n`;
  }
  yaml += "user:\n" + users.map((u) => `  ${u}:\n    exists: true\n`).join("");
  yaml += "group:\n" + groups.map((g) => `  ${g}:\n    exists: true\n`).join("");
  yaml += "command:\n" +
    Array.from({ length: 20 }, (_, i) => `  echo ${i}:\n    exit-status: 0\n    stdout: ["${i}"]\n`)
      .join("");
  yaml += "port:\n" +
    listeners.map((l) => `  tcp:${(l.addr as Deno.NetAddr).port}:\n    listening: true\n`).join("");
  yaml += "process:\n  sleep:\n    running: true\n  deno:\n    running: true\n";
  yaml += "kernel-param:\n" +
    params.map((p) => `  ${p}:\n    value:\n      not: ""\n`).join("");
  yaml += "http:\n" +
    Array.from(
      { length: 20 },
      (_, i) => `  http://127.0.0.1:${http.addr.port}/${i}:\n    status: 200\n    body: [ok]\n`,
    ).join("");
  await Deno.writeTextFile(`${dir}/goss.yaml`, yaml);
  const spec = await loadGossfile(`${dir}/goss.yaml`, {
    host: await createDenoGossHost(),
    resources: RESOURCE_TYPES,
  });
  const runs: CliRun[] = [];
  try {
    for (let i = 0; i < REPS; i++) runs.push(await cliValidate(`${dir}/goss.yaml`));
  } finally {
    for (const l of listeners) l.close();
    await http.shutdown();
    sleeper.kill("SIGKILL");
    await sleeper.status;
    await Deno.remove(dir, { recursive: true });
  }
  const goss = median(runs.map((r) => r.gossMs));
  const wall = median(runs.map((r) => r.wallMs));
  return [{
    metric: `${spec.resources.length} mixed local resources (${runs[0]!.tests} tests, ${
      runs[0]!.failed
    } failed): goss duration`,
    value: `${goss.toFixed(0)} ms`,
    baseline: `${wall.toFixed(0)} ms whole command`,
    target: "< 1000 ms",
    pass: goss < 1000 && runs[0]!.failed === 0,
  }];
}

async function bullseyeBench(): Promise<Row[]> {
  try {
    await Deno.stat(SHARED);
  } catch {
    console.log("bullseye: skipped, ../shared/goss-gossfiles is absent");
    return [];
  }
  // The integration gossfiles use goss's folder layout; rebuild it in a temp dir.
  const dir = await Deno.makeTempDir({ prefix: "scout-bench-goss-" });
  await Deno.mkdir(`${dir}/bullseye`);
  for await (const e of Deno.readDir(SHARED)) {
    const m = e.name.match(/^integration-tests__goss__(.*)$/);
    if (m) await Deno.copyFile(`${SHARED}${e.name}`, `${dir}/${m[1]!.replace("__", "/")}`);
  }
  const host = await createDenoGossHost({ envAllow: ["OS"] });
  const envHost = { ...host, env: (n: string) => (n === "OS" ? "bullseye" : host.env(n)) };
  const spec = await loadGossfile(`${dir}/bullseye/goss.yaml`, {
    host: envHost,
    resources: RESOURCE_TYPES,
    vars: [`${dir}/vars.yaml`],
    varsInline: "{inline: bar, overwrite: bar}",
  });
  const all = spec.resources.length;
  // Network-only resources would reach hosts outside this machine: left out.
  spec.resources = spec.resources.filter((r) => !["http", "dns", "addr"].includes(r.type));
  const times: number[] = [];
  let tests = 0;
  for (let i = 0; i < REPS; i++) {
    const t = performance.now();
    const r = await validate(spec, { resources: RESOURCE_TYPES, host: envHost });
    times.push(performance.now() - t);
    tests = r.summary["test-count"];
  }
  await Deno.remove(dir, { recursive: true });
  return [{
    metric:
      `bullseye gossfile, ${spec.resources.length} of ${all} resources (http, dns, addr left out), ${tests} tests`,
    value: `${median(times).toFixed(0)} ms`,
    baseline: "",
    target: "reported",
    pass: null,
  }];
}

interface Row {
  metric: string;
  value: string;
  baseline: string;
  target: string;
  pass: boolean | null;
}

const empty = await emptyRun();
const rows: Row[] = [
  ...(await fileBench()),
  ...(await mixedBench()),
  ...(await bullseyeBench()),
  {
    metric: "`scout goss validate` of a 1-test gossfile (Deno start-up, for reference)",
    value: `${empty.toFixed(0)} ms`,
    baseline: "",
    target: "info",
    pass: null,
  },
];
console.log(
  `\n\`\`\`sh\ncd ${ROOT.replace(/\/$/, "")} && deno task bench:goss${
    REPS === 3 ? " --quick" : ""
  }\n\`\`\`\n`,
);
console.log("| Metric | Value | Baseline (same run) | Ratio / target | Result |");
console.log("|---|---|---|---|---|");
for (const r of rows) {
  console.log(
    `| ${r.metric} | ${r.value} | ${r.baseline || "—"} | ${r.target} | ${
      r.pass === null ? "info" : r.pass ? "PASS" : "FAIL"
    } |`,
  );
}
Deno.exit(rows.some((r) => r.pass === false) ? 1 : 0);
