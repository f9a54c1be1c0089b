// deno-lint-ignore-file no-console -- a command-line script prints its findings
/**
 * Fails when an import in src/ points up a layer (architecture.md), when a module is
 * imported other than through its folder's mod.ts, or when Deno.* / Date.now() /
 * setTimeout is used in src/ outside the edges (runtime/, transport/, agent.ts, hub/, cli/).
 * Run: deno run --allow-read scripts/check_layers.ts
 * @module
 */

const LAYERS: [RegExp, number][] = [
  [/^src\/errors\.ts$/, 0],
  [/^src\/runtime\//, 0],
  [/^src\/(fsm|scheduler|events|prometheus|nagios)\.ts$/, 1],
  [/^src\/config\//, 1],
  [/^src\/pki\//, 1],
  [/^src\/transport\//, 1],
  [/^src\/goss\//, 2],
  [/^src\/watchers\//, 3],
  [/^src\/machine\//, 4],
  [/^src\/(api|provisioning|broker|rpc|push)\//, 5],
  [/^src\/agent\.ts$/, 6],
  [/^src\/hub\//, 6],
  [/^src\/cli\//, 7],
];

const EDGES = /^src\/(runtime|transport|cli|hub)\/|^src\/agent\.ts$/;
const EFFECTS = /\bDeno\.[a-zA-Z]+|\bDate\.now\(\)|\bsetTimeout\(|\bsetInterval\(/;

function layerOf(path: string): number | null {
  for (const [re, n] of LAYERS) if (re.test(path)) return n;
  return null;
}

function folderOf(path: string): string | null {
  const m = path.match(/^src\/([^/]+)\//);
  return m ? m[1]! : null;
}

async function* walk(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) yield* walk(p);
    else if (e.name.endsWith(".ts")) yield p;
  }
}

function normalize(from: string, spec: string): string {
  const parts = from.split("/").slice(0, -1);
  for (const seg of spec.split("/")) {
    if (seg === "..") parts.pop();
    else if (seg !== ".") parts.push(seg);
  }
  return parts.join("/");
}

const problems: string[] = [];
for await (const file of walk("src")) {
  const isTest = file.endsWith("_test.ts");
  const text = await Deno.readTextFile(file);
  const lines = text.split("\n");
  const mine = layerOf(file);
  lines.forEach((line, i) => {
    const at = `${file}:${i + 1}`;
    const m = line.match(/(?:import|export)\s.*?from\s+"(\.[^"]+)"|^import\s+"(\.[^"]+)"/);
    const spec = m?.[1] ?? m?.[2];
    if (spec && !isTest) {
      const target = normalize(file, spec);
      if (target.startsWith("tests/")) {
        problems.push(`${at}: src/ must not import tests/ (${spec})`);
      }
      const theirs = layerOf(target);
      if (mine !== null && theirs !== null && theirs > mine) {
        problems.push(
          `${at}: layer ${mine} imports layer ${theirs} (${spec}); imports may only point down`,
        );
      }
      const ff = folderOf(file), tf = folderOf(target);
      if (tf && tf !== ff && !target.endsWith("/mod.ts")) {
        problems.push(`${at}: import ${spec} through src/${tf}/mod.ts, the folder's only door`);
      }
    }
    const code = line.replace(/\/\/.*$/, "");
    if (!isTest && !EDGES.test(file) && !/^\s*\*/.test(line) && EFFECTS.test(code)) {
      problems.push(`${at}: effect outside the edges: ${code.trim()}`);
    }
  });
}

if (problems.length) {
  for (const p of problems) console.error(p);
  console.error(`${problems.length} layering problem(s)`);
  Deno.exit(1);
}
console.log("layers ok");
