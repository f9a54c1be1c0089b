import { deepEqual, equal, match } from "node:assert/strict";
import { createDenoGossHost } from "../../runtime/goss_host.ts";
import {
  buildRequest,
  canonicalHeader,
  httpType,
  parseRequestHeaders,
  renderHeaders,
  USER_AGENT,
} from "./http.ts";
import { actual, ctxOf, FakeHost, rejection } from "./_testing.ts";

Deno.test("http header names are canonicalised as Go does", () => {
  deepEqual(
    ["content-type", "x-request-id", "ETAG", "www-authenticate", "bad name"].map(canonicalHeader),
    ["Content-Type", "X-Request-Id", "Etag", "Www-Authenticate", "bad name"],
  );
});

Deno.test("http response headers render as sorted Name: value lines, one per value", () => {
  equal(
    renderHeaders([["x-b", "2"], ["content-type", "text/plain"], ["set-cookie", "b=2"], [
      "set-cookie",
      "a=1",
    ]]),
    "Content-Type: text/plain\nSet-Cookie: a=1\nSet-Cookie: b=2\nX-B: 2",
  );
});

Deno.test("http request headers split on the first colon-space; other shapes are errors", () => {
  deepEqual(parseRequestHeaders(["X-A: b: c", "Host: example.org"]), [["X-A", "b: c"], [
    "Host",
    "example.org",
  ]]);
  let threw = false;
  try {
    parseRequestHeaders(["NoColon"]);
  } catch {
    threw = true;
  }
  equal(threw, true);
});

Deno.test("http builds GET with goss's User-Agent and 5 s timeout, following redirects", async () => {
  const req = await buildRequest(ctxOf(new FakeHost()), "http://x/", {});
  deepEqual(req, {
    url: "http://x/",
    method: "GET",
    headers: [["User-Agent", USER_AGENT]],
    timeoutMs: 5000,
    followRedirects: true,
    insecure: false,
  });
});

Deno.test("http builds method, body, own headers, basic auth, TLS files and proxy", async () => {
  const host = new FakeHost({
    cwd: "/etc/scout",
    files: {
      "/etc/scout/ca.pem": { content: "CA" },
      "/etc/scout/c.pem": { content: "C" },
      "/etc/scout/k.pem": { content: "K" },
    },
  });
  const req = await buildRequest(ctxOf(host), "https://x/", {
    method: "post",
    "request-body": '{"a":1}',
    "request-headers": ["User-Agent: probe/1", "Content-Type: application/json"],
    username: "ops",
    password: "pässword",
    "ca-file": "ca.pem",
    "cert-file": "/etc/scout/c.pem",
    "key-file": "/etc/scout/k.pem",
    "no-follow-redirects": true,
    "allow-insecure": true,
    timeout: 250,
    proxy: "http://proxy:3128",
  });
  equal(req.method, "POST");
  equal(req.body, '{"a":1}');
  deepEqual(req.headers, [
    ["User-Agent", "probe/1"],
    ["Content-Type", "application/json"],
    ["Authorization", "Basic b3BzOnDDpHNzd29yZA=="],
  ]);
  equal(req.caCert, "CA");
  deepEqual(req.clientCert, { cert: "C", key: "K" });
  equal(req.followRedirects, false);
  equal(req.insecure, true);
  equal(req.timeoutMs, 250);
  equal(req.proxy, "http://proxy:3128");
});

Deno.test("http refuses a ca-file inside a denied directory and a cert without its key", async () => {
  const host = new FakeHost({
    files: { "/secret/ca.pem": { content: "CA" }, "/c.pem": { content: "C" } },
  });
  match(
    await rejection(
      buildRequest(ctxOf(host, ["/secret"]), "https://x/", { "ca-file": "/secret/ca.pem" }),
    ),
    /may not read/,
  );
  match(
    await rejection(buildRequest(ctxOf(host), "https://x/", { "cert-file": "/c.pem" })),
    /go together/,
  );
});

Deno.test("http reports status, headers and body of one request (Headers/Body aliases too)", async () => {
  const host = new FakeHost({
    fetch: () => ({
      status: 201,
      headers: [["content-type", "text/plain"]],
      body: "ok\n",
      bodyTruncated: false,
    }),
  });
  const sys = httpType.system("http://x/", {}, ctxOf(host));
  equal(await sys.get("status"), 201);
  equal(await sys.get("headers"), "Content-Type: text/plain");
  equal(await sys.get("Headers"), "Content-Type: text/plain");
  equal(await sys.get("body"), "ok\n");
  equal(await sys.get("Body"), "ok\n");
  equal(host.requests.length, 1, "one request per resource");
});

Deno.test("http body over the host's cap is an error; a failed request errors every property", async () => {
  const big = new FakeHost({
    fetch: () => ({ status: 200, headers: [], body: "x", bodyTruncated: true }),
  });
  equal(await actual(httpType, "http://x/", {}, ctxOf(big), "status"), 200);
  match(await rejection(actual(httpType, "http://x/", {}, ctxOf(big), "body")), /larger than/);
  match(
    await rejection(actual(httpType, "http://x/", {}, ctxOf(new FakeHost()), "status")),
    /connection refused/,
  );
});

// ---- real servers on loopback -------------------------------------------------------------

function handler(req: Request): Response | Promise<Response> {
  const url = new URL(req.url);
  switch (url.pathname) {
    case "/redirect":
      return new Response(null, { status: 302, headers: { location: "/target" } });
    case "/target":
      return new Response("landed\n");
    case "/slow":
      return new Promise((r) => setTimeout(() => r(new Response("late")), 3000));
    case "/echo":
      return req.text().then((body) =>
        Response.json({
          method: req.method,
          body,
          host: req.headers.get("host"),
          ua: req.headers.get("user-agent"),
          auth: req.headers.get("authorization"),
          custom: req.headers.get("x-custom"),
        })
      );
    default:
      return new Response("hello\nworld\n", {
        headers: { "x-served-by": "scout-test", "set-cookie": "a=1" },
      });
  }
}

async function withServer(
  fn: (base: string) => Promise<void>,
  tls?: { cert: string; key: string },
): Promise<void> {
  const ac = new AbortController();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    signal: ac.signal,
    onListen() {},
    ...(tls ?? {}),
  }, handler);
  try {
    await fn(`${tls ? "https" : "http"}://127.0.0.1:${server.addr.port}`);
  } finally {
    ac.abort();
    await server.finished;
  }
}

Deno.test("http against a real server: status, headers, body lines, 404", async () => {
  await withServer(async (base) => {
    const ctx = ctxOf(createDenoGossHost());
    const sys = httpType.system(`${base}/`, {}, ctx);
    equal(await sys.get("status"), 200);
    equal(await sys.get("body"), "hello\nworld\n");
    const headers = String(await sys.get("headers"));
    match(headers, /^X-Served-By: scout-test$/m);
    match(headers, /^Set-Cookie: a=1$/m);
    match(headers, /^Content-Type: text\/plain/m);
  });
});

Deno.test("http against a real server: redirects followed by default, reported with no-follow-redirects", async () => {
  await withServer(async (base) => {
    const ctx = ctxOf(createDenoGossHost());
    equal(await actual(httpType, `${base}/redirect`, {}, ctx, "status"), 200);
    equal(await actual(httpType, `${base}/redirect`, {}, ctx, "body"), "landed\n");
    equal(
      await actual(httpType, `${base}/redirect`, { "no-follow-redirects": true }, ctx, "status"),
      302,
    );
    match(
      String(
        await actual(httpType, `${base}/redirect`, { "no-follow-redirects": true }, ctx, "headers"),
      ),
      /^Location: \/target$/m,
    );
  });
});

Deno.test("http against a real server: method, body, Host, User-Agent, basic auth and custom headers arrive", async () => {
  await withServer(async (base) => {
    const ctx = ctxOf(createDenoGossHost());
    const body = await actual(
      httpType,
      `${base}/echo`,
      {
        method: "PUT",
        "request-body": "payload",
        "request-headers": ["Host: virtual.example", "X-Custom: 42"],
        username: "ops",
        password: "secret",
      },
      ctx,
      "body",
    );
    deepEqual(JSON.parse(String(body)), {
      method: "PUT",
      body: "payload",
      host: "virtual.example",
      ua: USER_AGENT,
      auth: `Basic ${btoa("ops:secret")}`,
      custom: "42",
    });
  });
});

Deno.test("http against a real server: a GET may carry a request-body, as in goss", async () => {
  // Deno.serve drops GET bodies, so a raw server shows what went over the wire.
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serving = (async () => {
    for await (const conn of l) {
      let raw = "";
      const buf = new Uint8Array(4096);
      while (!/\r\n\r\n[\s\S]{5}$/.test(raw)) {
        const n = await conn.read(buf);
        if (n === null) break;
        raw += new TextDecoder().decode(buf.subarray(0, n));
      }
      const reply = JSON.stringify(raw);
      await conn.write(
        new TextEncoder().encode(
          `HTTP/1.1 200 OK\r\ncontent-length: ${reply.length}\r\nconnection: close\r\n\r\n${reply}`,
        ),
      );
      conn.close();
    }
  })();
  try {
    const url = `http://127.0.0.1:${(l.addr as Deno.NetAddr).port}/search`;
    const raw = JSON.parse(
      String(
        await actual(
          httpType,
          url,
          { "request-body": "query" },
          ctxOf(createDenoGossHost()),
          "body",
        ),
      ),
    );
    match(raw, /^GET \/search HTTP\/1\.1\r\n/);
    match(raw, /\r\nContent-Length: 5\r\n/i);
    match(raw, /\r\n\r\nquery$/);
  } finally {
    l.close();
    await serving.catch(() => {});
  }
});

Deno.test("http against a real server: a slow answer times out as an error; a closed port errors", async () => {
  let port = 0;
  await withServer(async (base) => {
    port = Number(new URL(base).port);
    const ctx = ctxOf(createDenoGossHost());
    match(
      await rejection(actual(httpType, `${base}/slow`, { timeout: 200 }, ctx, "status")),
      /timed out after 200 ms/,
    );
  });
  match(
    await rejection(
      actual(httpType, `http://127.0.0.1:${port}/`, {}, ctxOf(createDenoGossHost()), "status"),
    ),
    /GET http:\/\/127.0.0.1/,
  );
});

/** A CA and a server certificate for 127.0.0.1, made with openssl; null when it is missing. */
async function makePki(dir: string): Promise<{ ca: string; cert: string; key: string } | null> {
  const run = (args: string[]) =>
    new Deno.Command("openssl", { args, cwd: dir, stdout: "null", stderr: "null" }).output();
  try {
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    await run([
      "req",
      "-x509",
      ...ec,
      "-keyout",
      "ca.key",
      "-out",
      "ca.pem",
      "-days",
      "1",
      "-subj",
      "/CN=scout-test-ca",
    ]);
    await run(["req", ...ec, "-keyout", "key.pem", "-out", "leaf.csr", "-subj", "/CN=127.0.0.1"]);
    await Deno.writeTextFile(
      `${dir}/ext.cnf`,
      "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    );
    const r = await run([
      "x509",
      "-req",
      "-in",
      "leaf.csr",
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      "cert.pem",
      "-days",
      "1",
      "-extfile",
      "ext.cnf",
    ]);
    if (!r.success) return null;
  } catch {
    return null;
  }
  const read = (f: string) => Deno.readTextFile(`${dir}/${f}`);
  return { ca: `${dir}/ca.pem`, cert: await read("cert.pem"), key: await read("key.pem") };
}

const hasOpenssl =
  new Deno.Command("sh", { args: ["-c", "command -v openssl"], stdout: "null" }).outputSync()
    .success;

Deno.test({
  name:
    "http over real TLS: ca-file trusts a private CA, allow-insecure skips verification, else an error",
  ignore: !hasOpenssl && !Deno.env.get("CI"),
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "scout-goss-tls-" });
    try {
      const pki = await makePki(dir);
      if (pki === null) throw new Error("openssl could not make the test PKI");
      await withServer(async (base) => {
        const ctx = ctxOf(createDenoGossHost());
        match(await rejection(actual(httpType, `${base}/`, {}, ctx, "status")), /GET https/);
        equal(await actual(httpType, `${base}/`, { "ca-file": pki.ca }, ctx, "status"), 200);
        const insecure = httpType.system(`${base}/redirect`, { "allow-insecure": true }, ctx);
        equal(await insecure.get("status"), 200);
        equal(await insecure.get("body"), "landed\n");
        equal(
          await actual(
            httpType,
            `${base}/redirect`,
            { "allow-insecure": true, "no-follow-redirects": true },
            ctx,
            "status",
          ),
          302,
        );
        const echoed = await actual(
          httpType,
          `${base}/echo`,
          {
            "allow-insecure": true,
            method: "POST",
            "request-body": "x",
            "request-headers": ["Host: tls.example"],
          },
          ctx,
          "body",
        );
        const e = JSON.parse(String(echoed));
        deepEqual([e.method, e.body, e.host, e.ua], ["POST", "x", "tls.example", USER_AGENT]);
        match(
          await rejection(
            actual(
              httpType,
              `${base}/slow`,
              { "allow-insecure": true, timeout: 200 },
              ctx,
              "status",
            ),
          ),
          /timed out/,
        );
      }, { cert: pki.cert, key: pki.key });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
