import { deepEqual, equal, ok } from "node:assert/strict";
import { createCachedResolver, resolveProgram } from "./programs.ts";
import { ScoutError } from "../errors.ts";

/** A temp tree: allowed/ (plugins), outside/ (not allowed), allowed-evil/ (prefix sibling). */
async function tree(): Promise<{ root: string; allowed: string; cleanup: () => Promise<void> }> {
  const root = await Deno.realPath(await Deno.makeTempDir({ prefix: "scout-programs-" }));
  const allowed = `${root}/allowed`;
  for (const d of ["allowed", "allowed/sub", "outside", "allowed-evil", "search"]) {
    await Deno.mkdir(`${root}/${d}`);
  }
  const script = "#!/bin/sh\necho OK\n";
  for (
    const f of ["allowed/check_a", "allowed/sub/check_b", "outside/check_x", "allowed-evil/check_e"]
  ) {
    await Deno.writeTextFile(`${root}/${f}`, script, { mode: 0o755 });
    await Deno.chmod(`${root}/${f}`, 0o755);
  }
  await Deno.writeTextFile(`${allowed}/check_noexec`, script);
  await Deno.chmod(`${allowed}/check_noexec`, 0o644);
  await Deno.symlink(`${root}/outside/check_x`, `${allowed}/check_link_out`);
  await Deno.symlink(`${allowed}/check_a`, `${allowed}/check_link_in`);
  return { root, allowed, cleanup: () => Deno.remove(root, { recursive: true }) };
}

Deno.test("resolver finds a bare name in the search dirs, first match wins", async () => {
  const t = await tree();
  try {
    await Deno.writeTextFile(`${t.root}/search/check_a`, "#!/bin/sh\n", { mode: 0o755 });
    const r = await resolveProgram("check_a", {
      searchDirs: [`${t.root}/nonexistent`, t.allowed, `${t.root}/search`],
      allowedDirs: [t.allowed],
    });
    deepEqual(r, { ok: true, path: `${t.allowed}/check_a` });
  } finally {
    await t.cleanup();
  }
});

Deno.test("resolver keeps the name a symlinked plugin is called by", async () => {
  const t = await tree();
  try {
    const r = await resolveProgram("check_link_in", {
      searchDirs: [t.allowed],
      allowedDirs: [t.allowed],
    });
    deepEqual(r, { ok: true, path: `${t.allowed}/check_link_in` });
  } finally {
    await t.cleanup();
  }
});

Deno.test("resolver accepts absolute and relative paths inside an allowed dir", async () => {
  const t = await tree();
  try {
    const abs = await resolveProgram(`${t.allowed}/sub/check_b`, {
      searchDirs: [],
      allowedDirs: [t.allowed],
    });
    deepEqual(abs, { ok: true, path: `${t.allowed}/sub/check_b` });
    const rel = await resolveProgram(`${t.allowed}/sub/../check_a`, {
      searchDirs: [],
      allowedDirs: [`${t.root}/./allowed/`],
    });
    deepEqual(rel, { ok: true, path: `${t.allowed}/check_a` });
  } finally {
    await t.cleanup();
  }
});

Deno.test("resolver resolves a relative path against the working directory", async () => {
  const t = await tree();
  const cwd = Deno.cwd();
  try {
    Deno.chdir(t.root);
    const r = await resolveProgram("allowed/check_a", { searchDirs: [], allowedDirs: ["allowed"] });
    deepEqual(r, { ok: true, path: `${t.allowed}/check_a` });
    const bare = await resolveProgram("check_a", {
      searchDirs: ["allowed"],
      allowedDirs: ["allowed"],
    });
    deepEqual(bare, { ok: true, path: `${t.allowed}/check_a` });
  } finally {
    Deno.chdir(cwd);
    await t.cleanup();
  }
});

Deno.test("resolver refuses an absolute path outside the allowed dirs", async () => {
  const t = await tree();
  try {
    const r = await resolveProgram(`${t.root}/outside/check_x`, {
      searchDirs: [],
      allowedDirs: [t.allowed],
    });
    ok(!r.ok);
    if (r.ok) return;
    equal(r.error.code, "PLUGIN_NOT_ALLOWED");
    equal(
      r.error.message,
      `Cannot run plugin "${t.root}/outside/check_x": ${t.root}/outside/check_x is outside the allowed plugin directories`,
    );
    ok(r.error.hint?.includes(t.allowed));
    ok(r.error.hint?.includes("--plugin-dir"));
  } finally {
    await t.cleanup();
  }
});

Deno.test("resolver refuses a .. escape out of an allowed dir", async () => {
  const t = await tree();
  try {
    const viaPath = await resolveProgram(`${t.allowed}/../outside/check_x`, {
      searchDirs: [],
      allowedDirs: [t.allowed],
    });
    equal(viaPath.ok ? "ok" : viaPath.error.code, "PLUGIN_NOT_ALLOWED");
    const viaSearch = await resolveProgram("../outside/check_x", {
      searchDirs: [t.allowed],
      allowedDirs: [t.allowed],
    });
    ok(!viaSearch.ok); // contains "/": a path relative to cwd, not a search-dir name
    const dotdot = await resolveProgram("..", {
      searchDirs: [t.allowed],
      allowedDirs: [t.allowed],
    });
    equal(dotdot.ok ? "ok" : dotdot.error.code, "PLUGIN_NOT_ALLOWED");
  } finally {
    await t.cleanup();
  }
});

Deno.test("resolver refuses a symlink inside an allowed dir that points outside", async () => {
  const t = await tree();
  try {
    const r = await resolveProgram("check_link_out", {
      searchDirs: [t.allowed],
      allowedDirs: [t.allowed],
    });
    ok(!r.ok);
    if (r.ok) return;
    equal(r.error.code, "PLUGIN_NOT_ALLOWED");
    ok(r.error.message.includes(`${t.root}/outside/check_x`));
  } finally {
    await t.cleanup();
  }
});

Deno.test("resolver refuses a plugin in a prefix-sibling dir of an allowed dir", async () => {
  const t = await tree();
  try {
    const r = await resolveProgram(`${t.root}/allowed-evil/check_e`, {
      searchDirs: [],
      allowedDirs: [t.allowed, `${t.allowed}/`],
    });
    equal(r.ok ? "ok" : r.error.code, "PLUGIN_NOT_ALLOWED");
  } finally {
    await t.cleanup();
  }
});

Deno.test("resolver ignores allowed dirs that do not exist", async () => {
  const t = await tree();
  try {
    const r = await resolveProgram(`${t.allowed}/check_a`, {
      searchDirs: [],
      allowedDirs: [`${t.root}/gone`, t.allowed],
    });
    deepEqual(r, { ok: true, path: `${t.allowed}/check_a` });
    const none = await resolveProgram(`${t.allowed}/check_a`, {
      searchDirs: [],
      allowedDirs: [`${t.root}/gone`],
    });
    equal(none.ok ? "ok" : none.error.code, "PLUGIN_NOT_ALLOWED");
  } finally {
    await t.cleanup();
  }
});

Deno.test("resolver reports a missing plugin with the dirs it searched", async () => {
  const t = await tree();
  try {
    const r = await resolveProgram("check_nope", {
      searchDirs: [t.allowed, `${t.root}/search`],
      allowedDirs: [t.allowed],
    });
    ok(!r.ok);
    if (r.ok) return;
    equal(r.error.code, "PLUGIN_NOT_FOUND");
    equal(
      r.error.message,
      `Cannot run plugin "check_nope": not found in ${t.allowed}, ${t.root}/search`,
    );
    ok(r.error.hint?.includes("monitoring-plugins-basic"));
    ok(r.error.hint?.includes("--plugin-dir"));

    const path = await resolveProgram(`${t.allowed}/check_nope`, {
      searchDirs: [],
      allowedDirs: [t.allowed],
    });
    equal(path.ok ? "ok" : path.error.code, "PLUGIN_NOT_FOUND");
  } finally {
    await t.cleanup();
  }
});

Deno.test("resolver refuses a file without execute bit and a directory", async () => {
  const t = await tree();
  try {
    const r = await resolveProgram("check_noexec", {
      searchDirs: [t.allowed],
      allowedDirs: [t.allowed],
    });
    ok(!r.ok);
    if (r.ok) return;
    equal(r.error.code, "PLUGIN_NOT_EXECUTABLE");
    equal(
      r.error.message,
      `Cannot run plugin "check_noexec": ${t.allowed}/check_noexec is not executable`,
    );
    ok(r.error.hint?.includes("chmod +x"));

    const dir = await resolveProgram("sub", { searchDirs: [t.allowed], allowedDirs: [t.allowed] });
    equal(dir.ok ? "ok" : dir.error.code, "PLUGIN_NOT_EXECUTABLE");
  } finally {
    await t.cleanup();
  }
});

const PLUGINS = "/usr/lib/nagios/plugins";
let havePlugins = false;
try {
  havePlugins = Deno.statSync(`${PLUGINS}/check_dummy`).isFile;
} catch {
  // monitoring-plugins not installed
}

Deno.test({
  name: "resolver finds the installed check_dummy plugin",
  ignore: !havePlugins,
}, async () => {
  const dir = PLUGINS;
  const r = await resolveProgram("check_dummy", { searchDirs: [dir], allowedDirs: [dir] });
  deepEqual(r, { ok: true, path: `${dir}/check_dummy` });
});

Deno.test("cached resolver reuses a success within its ttl and never caches a failure", async () => {
  let calls = 0;
  let exists = true;
  let t = 0;
  const fake = (name: string) => {
    calls++;
    return Promise.resolve(
      exists
        ? { ok: true as const, path: `/p/${name}` }
        : { ok: false as const, error: new ScoutError("PLUGIN_NOT_FOUND", "gone") },
    );
  };
  const cached = createCachedResolver(1000, fake, () => t);
  const opts = { searchDirs: ["/p"], allowedDirs: ["/p"] };
  await cached("x", opts);
  await cached("x", opts);
  equal(calls, 1);
  t = 1001;
  exists = false;
  equal((await cached("x", opts)).ok, false);
  equal((await cached("x", opts)).ok, false);
  equal(calls, 3);
});
