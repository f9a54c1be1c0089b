import { deepEqual, equal, match, ok } from "node:assert/strict";
import { createHash } from "node:crypto";
import { createDenoGossHost } from "./goss_host.ts";
import { startDnsServer } from "../goss/resources/_testing.ts";

const MAIN = new URL("../../", import.meta.url).pathname;

async function rejects(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
  throw new Error("expected a rejection");
}

Deno.test("goss host stat describes symlinks with follow=false and their targets with follow=true", async () => {
  const dir = await Deno.makeTempDir({ prefix: "scout-goss-host-" });
  try {
    await Deno.writeTextFile(`${dir}/f`, "12345");
    await Deno.chmod(`${dir}/f`, 0o4751);
    await Deno.symlink("f", `${dir}/l`);
    const host = createDenoGossHost();
    const own = await host.stat(`${dir}/l`, false);
    equal(own?.filetype, "symlink");
    equal(own?.size, 1);
    const target = await host.stat(`${dir}/l`, true);
    equal(target?.filetype, "file");
    equal(target?.mode, 0o4751);
    equal(target?.size, 5);
    equal(typeof target?.uid, "number");
    equal(await host.stat(`${dir}/missing`, false), null);
    equal(await host.stat(`${dir}/f/below`, false), null, "a path through a file does not exist");
    equal(await host.readLink(`${dir}/l`), "f");
    equal(await host.realPath(`${dir}/l`), await Deno.realPath(`${dir}/f`));
    deepEqual((await host.readDir(dir)).sort(), ["f", "l"]);
    equal(new TextDecoder().decode(await host.readFile(`${dir}/l`)), "12345");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("goss host hashes files as a stream, matching node:crypto", async () => {
  const dir = await Deno.makeTempDir({ prefix: "scout-goss-host-" });
  try {
    const bytes = new Uint8Array(300_000).map((_, i) => i % 251);
    await Deno.writeFile(`${dir}/big`, bytes);
    const host = createDenoGossHost();
    for (const alg of ["md5", "sha256", "sha512"] as const) {
      equal(await host.hashFile(`${dir}/big`, alg), createHash(alg).update(bytes).digest("hex"));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("goss host which finds programs on the search path, sbin included", async () => {
  const host = createDenoGossHost({ searchDirs: ["/nonexistent", "/usr/bin", "/bin"] });
  equal(await host.which("sh") !== null, true);
  equal(await host.which("no-such-program-scout"), null);
  equal(await host.which("/etc/passwd"), null, "not executable");
  const dflt = createDenoGossHost();
  equal(await dflt.which("sysctl") !== null || await dflt.which("ls") !== null, true);
});

Deno.test("goss host runs programs with a minimal environment and reports exit codes", async () => {
  const host = createDenoGossHost();
  const r = await host.run(["sh", "-c", "echo $LC_ALL; echo err >&2; exit 7"], { timeoutMs: 5000 });
  deepEqual(r, { code: 7, stdout: "C.UTF-8\n", stderr: "err\n", timedOut: false });
  const custom = createDenoGossHost({ childEnv: { PATH: "/usr/bin:/bin", ONLY: "me" } });
  equal((await custom.run(["sh", "-c", "echo $ONLY$LC_ALL"], { timeoutMs: 5000 })).stdout, "me\n");
});

Deno.test("goss host kills a program at its timeout and says so", async () => {
  const start = performance.now();
  const r = await createDenoGossHost().run(["sleep", "10"], { timeoutMs: 200 });
  equal(r.timedOut, true);
  equal(r.code, null);
  ok(performance.now() - start < 3000);
});

Deno.test("goss host rejects running a program it cannot find", async () => {
  match(
    await rejects(createDenoGossHost().run(["no-such-program-scout"], { timeoutMs: 1000 })),
    /not found/,
  );
  match(await rejects(createDenoGossHost().run([], { timeoutMs: 1000 })), /empty argv/);
});

Deno.test("goss host env returns only allowed variables", () => {
  Deno.env.set("SCOUT_GOSS_HOST_TEST", "visible");
  try {
    equal(createDenoGossHost().env("SCOUT_GOSS_HOST_TEST"), undefined);
    equal(
      createDenoGossHost({ envAllow: ["SCOUT_GOSS_HOST_TEST"] }).env("SCOUT_GOSS_HOST_TEST"),
      "visible",
    );
    equal(typeof createDenoGossHost().env("PATH"), "string");
  } finally {
    Deno.env.delete("SCOUT_GOSS_HOST_TEST");
  }
});

Deno.test("goss host fetch returns lowercase headers, caps the body and refuses other schemes", async () => {
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} },
    () => new Response("0123456789", { headers: { "X-Thing": "a" } }),
  );
  try {
    const host = createDenoGossHost({ maxBodyBytes: 4 });
    const r = await host.fetch({
      url: `http://127.0.0.1:${server.addr.port}/`,
      method: "GET",
      headers: [],
      timeoutMs: 2000,
      followRedirects: true,
      insecure: false,
    });
    equal(r.status, 200);
    equal(r.body, "0123");
    equal(r.bodyTruncated, true);
    deepEqual(r.headers.find(([n]) => n === "x-thing"), ["x-thing", "a"]);
    match(
      await rejects(
        host.fetch({
          url: "ftp://x/",
          method: "GET",
          headers: [],
          timeoutMs: 1,
          followRedirects: true,
          insecure: false,
        }),
      ),
      /unsupported URL scheme/,
    );
  } finally {
    ac.abort();
    await server.finished;
  }
});

Deno.test("goss host resolveDns: records, [] for NXDOMAIN, an error on timeout", async () => {
  const srv = await startDnsServer({ "h.test|A": ["10.9.8.7"] }, ["mute.test"]);
  try {
    const host = createDenoGossHost();
    const server = { ip: "127.0.0.1", port: srv.port };
    deepEqual(await host.resolveDns("h.test", "A", { server, timeoutMs: 1000 }), ["10.9.8.7"]);
    deepEqual(await host.resolveDns("nx.test", "A", { server, timeoutMs: 1000 }), []);
    match(
      await rejects(host.resolveDns("mute.test", "A", { server, timeoutMs: 150 })),
      /timed out \(150 ms\)/,
    );
  } finally {
    await srv.close();
  }
});

Deno.test("goss host dialTcp connects, reports refusals and binds local-address", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  const peers: string[] = [];
  const accepting = (async () => {
    for await (const c of l) {
      peers.push((c.remoteAddr as Deno.NetAddr).hostname);
      c.close();
    }
  })();
  try {
    const host = createDenoGossHost();
    deepEqual(await host.dialTcp({ hostname: "127.0.0.1", port, timeoutMs: 1000 }), { ok: true });
    deepEqual(
      await host.dialTcp({
        hostname: "127.0.0.1",
        port,
        timeoutMs: 1000,
        localAddress: "127.0.0.2",
      }),
      { ok: true },
    );
    for (let i = 0; i < 50 && peers.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    deepEqual(peers, ["127.0.0.1", "127.0.0.2"]);
  } finally {
    l.close();
    await accepting.catch(() => {});
  }
  // Port 1 (tcpmux) has no listener; the closed listener's port could be taken by a test
  // running in parallel.
  const refused = await createDenoGossHost().dialTcp({
    hostname: "127.0.0.1",
    port: 1,
    timeoutMs: 1000,
  });
  equal(refused.ok, false);
});

Deno.test("goss resources work under the agent permission set (-P=agent, no --allow-all)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "scout-goss-agent-" });
  try {
    const script = `${dir}/probe.ts`;
    const src = (p: string) => new URL(`src/${p}`, `file://${MAIN}`).href;
    await Deno.writeTextFile(
      script,
      `
import { createDenoGossHost } from "${src("runtime/goss_host.ts")}";
import { RESOURCE_TYPES } from "${src("goss/resources/mod.ts")}";
const ctx = { host: createDenoGossHost(), deniedPaths: [] };
const type = (k: string) => RESOURCE_TYPES.find((t) => t.type === k)!;
const get = async (k: string, target: string, prop: string, attrs = {}) => {
  try { return await type(k).system(target, attrs, ctx).get(prop); } catch (e) { return "ERROR: " + (e as Error).message; }
};
const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
const port = (listener.addr as Deno.NetAddr).port;
const sleeper = new Deno.Command("sleep", { args: ["30"], stdout: "null", stderr: "null" }).spawn();
const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => new Response("agent ok"));
const out = {
  file: await get("file", "/etc/passwd", "mode"),
  user: await get("user", "root", "uid"),
  process: await get("process", "sleep", "running"),
  port: await get("port", "tcp:" + port, "listening"),
  addr: await get("addr", "tcp://127.0.0.1:" + port, "reachable"),
  kernel: await get("kernel-param", "kernel.ostype", "value"),
  mount: await get("mount", "/", "exists"),
  iface: await get("interface", "lo", "exists"),
  command: await get("command", "echo hi", "stdout"),
  http: await get("http", "http://127.0.0.1:" + server.addr.port + "/", "body"),
  dns: await get("dns", "localhost", "resolvable"),
  pkg: await get("package", "no-such-package-scout", "installed"),
  procRefused: await Deno.readTextFile("/proc/self/status").then(() => false, () => true),
};
sleeper.kill("SIGKILL"); await sleeper.status;
listener.close(); await server.shutdown();
console.log(JSON.stringify(out));
`,
    );
    const r = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", "--config", `${MAIN}deno.json`, "-P=agent", "--no-prompt", script],
      cwd: MAIN,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(r.stderr);
    equal(r.code, 0, stderr);
    deepEqual(JSON.parse(new TextDecoder().decode(r.stdout)), {
      file: "0644",
      user: 0,
      process: true,
      port: true,
      addr: true,
      kernel: "Linux",
      mount: true,
      iface: true,
      command: "hi\n",
      http: "agent ok",
      dns: true,
      pkg: false,
      procRefused: true,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
