import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { ScoutError } from "../errors.ts";
import { type FakeFiles, fakeHost } from "../../tests/fixtures/goss/fake_host.ts";
import { loadGossfile, type LoadGossfileOptions, MAX_INCLUDE_DEPTH } from "./_spec.ts";
import { matchingType } from "./_matching.ts";
import type { GossSpec } from "./_model.ts";

async function load(
  files: FakeFiles,
  path = "/g/goss.yaml",
  more: Partial<LoadGossfileOptions> = {},
  env: Record<string, string> = {},
): Promise<GossSpec> {
  return await loadGossfile(path, { host: fakeHost(files, env), ...more });
}

async function loadError(
  files: FakeFiles,
  path = "/g/goss.yaml",
  more: Partial<LoadGossfileOptions> = {},
): Promise<ScoutError> {
  try {
    await load(files, path, more);
  } catch (e) {
    ok(e instanceof ScoutError, String(e));
    return e;
  }
  throw new Error("loaded without error");
}

function keys(spec: GossSpec): string[] {
  return spec.resources.map((r) => `${r.type}:${r.key}`);
}

Deno.test("a YAML gossfile loads into resources sorted by type and key, with their lines", async () => {
  const spec = await load({
    "/g/goss.yaml":
      "matching:\n  b:\n    content: 1\n    matches: 1\n  a:\n    content: 2\n    matches: 2\n",
  });
  deepEqual(keys(spec), ["matching:a", "matching:b"]);
  deepEqual(spec.resources.map((r) => r.line), [5, 2]);
  deepEqual(spec.resources[0]!.attrs, { content: 2, matches: 2 });
});

Deno.test("vars files deep-merge in order and inline vars replace top-level keys", async () => {
  const spec = await load(
    {
      "/g/v1.yaml": "a: {x: 1, y: 1}\nkeep: 1\noverwrite: foo\n",
      "/g/v2.json": '{"a": {"y": 2}}',
      "/g/goss.yaml":
        "matching:\n  m:\n    content: '{{ .Vars.a.x }}{{ .Vars.a.y }}{{ .Vars.keep }}{{ .Vars.overwrite }}{{ .Vars.inline }}'\n    matches: x\n",
    },
    "/g/goss.yaml",
    { vars: ["/g/v1.yaml", "/g/v2.json"], varsInline: "{inline: bar, overwrite: bar}" },
  );
  equal(spec.resources[0]!.attrs.content, "121barbar");
});

Deno.test("includes resolve relative to the including file, expand globs in order and honour skip", async () => {
  const spec = await load({
    "/it/goss/bullseye/goss.yaml":
      'gossfile:\n  "../goss-s*.yaml": {}\n  bypath:\n    file: ../dummy.yaml\n  never:\n    file: /nope.yaml\n    skip: true\n',
    "/it/goss/goss-serve.yaml": "matching:\n  serve: {content: 1, matches: 1}\n",
    "/it/goss/goss-shared.yaml": "matching:\n  shared: {content: 1, matches: 1}\n",
    "/it/goss/other.yaml": "matching:\n  other: {content: 1, matches: 1}\n",
    "/it/goss/dummy.yaml": "matching:\n  dummy: {content: 1, matches: 1}\n",
  }, "/it/goss/bullseye/goss.yaml");
  deepEqual(keys(spec), ["matching:dummy", "matching:serve", "matching:shared"]);
});

Deno.test("a later definition of the same type and key overrides the earlier one, with a warning", async () => {
  const spec = await load({
    "/g/goss.yaml": "matching:\n  m: {content: 1, matches: 1}\ngossfile:\n  inc.yaml: {}\n",
    "/g/inc.yaml": "matching:\n  m: {content: 2, matches: 2}\n",
  });
  equal(spec.resources.length, 1);
  equal(spec.resources[0]!.attrs.content, 2);
  equal(spec.resources[0]!.file, "/g/inc.yaml");
  ok(
    spec.warnings.some((w) => w.includes('matching "m" overrides the definition in /g/goss.yaml')),
  );
});

Deno.test("a missing include, an empty glob, a cycle and too deep nesting are load errors", async () => {
  const missing = await loadError({ "/g/goss.yaml": "gossfile:\n  nope.yaml: {}\n" });
  equal(missing.code, "CONFIG_INVALID");
  ok(missing.message.includes("cannot read gossfile /g/nope.yaml"), missing.message);
  const glob = await loadError({ "/g/goss.yaml": "gossfile:\n  'x*.yaml': {}\n" });
  equal(glob.message, 'No matched files were found: "/g/x*.yaml"');
  equal(glob.location?.line, 2);
  const cycle = await loadError({
    "/g/goss.yaml": "gossfile:\n  a.yaml: {}\n",
    "/g/a.yaml": "gossfile:\n  goss.yaml: {}\n",
  });
  equal(cycle.message, "gossfile include cycle: /g/goss.yaml -> /g/a.yaml -> /g/goss.yaml");
  const deep: FakeFiles = {};
  for (let i = 0; i < MAX_INCLUDE_DEPTH + 5; i++) {
    deep[`/d/${i}.yaml`] = `gossfile:\n  ${i + 1}.yaml: {}\n`;
  }
  const tooDeep = await loadError(deep, "/d/0.yaml");
  ok(tooDeep.message.includes("nested deeper than 50"), tooDeep.message);
});

Deno.test("invalid YAML is CONFIG_YAML with file:line:col", async () => {
  const e = await loadError({
    "/g/goss.yaml": "matching:\n  m:\n    content: [1, 2\n    matches: 1\n",
  });
  equal(e.code, "CONFIG_YAML");
  equal(e.location?.file, "/g/goss.yaml");
  ok((e.location?.line ?? 0) >= 3, JSON.stringify(e.location));
  const dup = await loadError({
    "/g/goss.yaml":
      "matching:\n  m: {content: 1, matches: 1}\nmatching:\n  n: {content: 1, matches: 1}\n",
  });
  equal(dup.code, "CONFIG_YAML");
  ok(dup.message.includes("mapping key already defined"), dup.message);
  equal(dup.location?.line, 3);
});

Deno.test("a broken template is CONFIG_INVALID at the action's position", async () => {
  const e = await loadError({
    "/g/goss.yaml": "matching:\n  m:\n    content: {{ .Vars.missing }}\n",
  });
  equal(e.code, "CONFIG_INVALID");
  equal(e.message, 'template: map has no entry for key "missing"');
  deepEqual(e.location, { file: "/g/goss.yaml", line: 3, col: 17 });
  const syntax = await loadError({ "/g/goss.yaml": "{{ if .Vars }}\nfile: {}\n" });
  equal(syntax.message, "template: unexpected EOF");
});

Deno.test("JSON gossfiles parse, and their syntax errors carry a line", async () => {
  const spec = await load(
    { "/g/goss.json": '{"matching": {"m": {"content": 1, "matches": 1}}}' },
    "/g/goss.json",
  );
  deepEqual(keys(spec), ["matching:m"]);
  const e = await loadError({ "/g/goss.json": '{"matching":\n {"m": }}' }, "/g/goss.json");
  equal(e.code, "CONFIG_YAML");
  equal(e.location?.line, 2);
});

Deno.test("unknown file extensions and non-map documents are refused", async () => {
  ok(
    (await loadError({ "/g/goss.txt": "a: 1" }, "/g/goss.txt")).message.includes(
      "unknown gossfile format",
    ),
  );
  ok(
    (await loadError({ "/g/goss.yaml": "- a\n- b\n" })).message.includes(
      "must be a map of resource types",
    ),
  );
  const notMap = await loadError({ "/g/goss.yaml": "matching:\n  m: 5\n" });
  equal(notMap.message, "Could not parse resource matching:m");
  equal(notMap.location?.line, 2);
});

Deno.test("with resource types, unknown attributes are goss's error and unknown types are ignored with a warning", async () => {
  const e = await loadError(
    { "/g/goss.yaml": "matching:\n  m:\n    content: 1\n    matches: 1\n    bogus: 2\n" },
    "/g/goss.yaml",
    { resources: [matchingType] },
  );
  equal(e.code, "CONFIG_INVALID");
  equal(e.message, "invalid Attribute for Matching:m: bogus");
  equal(e.location?.line, 5, "the line of the attribute itself");
  const spec = await load(
    { "/g/goss.yaml": "frobnicator:\n  x: {on: true}\nmatching:\n  m: {content: 1, matches: 1}\n" },
    "/g/goss.yaml",
    { resources: [matchingType] },
  );
  deepEqual(keys(spec), ["matching:m"]);
  ok(spec.warnings.some((w) => w.startsWith('unknown resource type "frobnicator" ignored')));
});

Deno.test("unquoted 0644 is octal as in Go's YAML decoder", async () => {
  const spec = await load({ "/g/goss.yaml": "matching:\n  m: {content: 0644, matches: 420}\n" });
  equal(spec.resources[0]!.attrs.content, 420);
});

Deno.test("untrusted rules may not include files or read them from templates", async () => {
  const inc = await loadError(
    { "/g/goss.yaml": "gossfile:\n  other.yaml: {}\n", "/g/other.yaml": "" },
    "/g/goss.yaml",
    { untrusted: true },
  );
  ok(inc.message.includes("includes are refused for untrusted rules"), inc.message);
  const rf = await loadError(
    {
      "/g/goss.yaml": "matching:\n  m: {content: '{{ readFile \"/etc/shadow\" }}', matches: x}\n",
      "/etc/shadow": "secret",
    },
    "/g/goss.yaml",
    { untrusted: true },
  );
  ok(rf.message.includes("readFile is refused for untrusted rules"), rf.message);
  const ok1 = await load(
    {
      "/g/goss.yaml":
        "gossfile:\n  other.yaml: {skip: true}\nmatching:\n  m: {content: 1, matches: 1}\n",
    },
    "/g/goss.yaml",
    { untrusted: true },
  );
  equal(ok1.untrusted, true);
});

Deno.test("the gossfile text can be given directly (stdin), with includes relative to the working directory", async () => {
  const spec = await loadGossfile("STDIN", {
    host: fakeHost({ "inc.yaml": "matching:\n  i: {content: 1, matches: 1}\n" }),
    text: "gossfile:\n  inc.yaml: {}\nmatching:\n  s: {content: 1, matches: 1}\n",
  });
  deepEqual(keys(spec), ["matching:i", "matching:s"]);
});

Deno.test(".Env comes from the host and a missing vars file is a clear error", async () => {
  const spec = await load(
    { "/g/goss.yaml": "matching:\n  m: {content: '{{ .Env.OS }}', matches: x}\n" },
    "/g/goss.yaml",
    {},
    { OS: "jammy" },
  );
  equal(spec.resources[0]!.attrs.content, "jammy");
  await rejects(
    load({ "/g/goss.yaml": "" }, "/g/goss.yaml", { vars: ["/g/none.yaml"] }),
    /cannot read vars file \/g\/none.yaml/,
  );
});
