/**
 * goss `http`: one request per resource (GossHost.fetch: no keep-alive, whole-request
 * timeout), then status, response headers (sorted "Canonical-Name: value" lines, one per
 * value) and body. Request headers, body, method, basic auth, redirects on/off, extra CA,
 * client certificate (mTLS), proxy and allow-insecure are honoured.
 * @module
 */
import type {
  Attrs,
  GossContext,
  GossHttpRequest,
  GossResourceType,
  GossSystem,
} from "../types.ts";
import {
  assertAllowed,
  boolOption,
  lazy,
  msOption,
  normalizePath,
  readText,
  stringListOption,
  stringOption,
  systemOf,
} from "./_util.ts";

/** goss's default whole-request timeout. */
const DEFAULT_TIMEOUT_MS = 5000;
/** Sent unless the gossfile sets its own User-Agent. */
export const USER_AGENT = "goss/scout";

/** A header name as Go's textproto canonicalises it ("content-type" -> "Content-Type"). */
export function canonicalHeader(name: string): string {
  if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(name)) return name;
  return name.toLowerCase().replace(
    /(^|-)([a-z])/g,
    (_m, sep: string, c: string) => sep + c.toUpperCase(),
  );
}

/** Response headers as goss renders them for matching: sorted "Name: value" lines. */
export function renderHeaders(headers: readonly (readonly [string, string])[]): string {
  return headers.map(([n, v]) => `${canonicalHeader(n)}: ${v}`).sort().join("\n");
}

/** Splits "Name: value" request headers on the first ": ". */
export function parseRequestHeaders(lines: readonly string[]): [string, string][] {
  return lines.map((line) => {
    const i = line.indexOf(": ");
    if (i <= 0) {
      throw new Error(`request-headers entry ${JSON.stringify(line)} is not "Name: value"`);
    }
    return [line.slice(0, i), line.slice(i + 2)];
  });
}

function basicAuth(username: string, password: string): string {
  const bytes = new TextEncoder().encode(`${username}:${password}`);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return `Basic ${btoa(bin)}`;
}

async function pem(ctx: GossContext, attr: string, path: string): Promise<string> {
  const abs = normalizePath(path, ctx.host.cwd());
  await assertAllowed(ctx, abs, attr);
  try {
    return await readText(ctx, abs);
  } catch (e) {
    throw new Error(`cannot read ${attr} ${path}: ${(e as Error).message}`);
  }
}

/** Builds the request a gossfile's http resource describes. */
export async function buildRequest(
  ctx: GossContext,
  url: string,
  attrs: Attrs,
): Promise<GossHttpRequest> {
  const headers = parseRequestHeaders(stringListOption(attrs, "request-headers"));
  if (!headers.some(([n]) => n.toLowerCase() === "user-agent")) {
    headers.push(["User-Agent", USER_AGENT]);
  }
  const username = stringOption(attrs, "username"), password = stringOption(attrs, "password");
  if (username !== "" || password !== "") {
    const without = headers.filter(([n]) => n.toLowerCase() !== "authorization");
    headers.length = 0;
    headers.push(...without, ["Authorization", basicAuth(username, password)]);
  }
  const certFile = stringOption(attrs, "cert-file"), keyFile = stringOption(attrs, "key-file");
  if ((certFile === "") !== (keyFile === "")) throw new Error("cert-file and key-file go together");
  const caFile = stringOption(attrs, "ca-file");
  const body = stringOption(attrs, "request-body");
  const proxy = stringOption(attrs, "proxy");
  return {
    url,
    method: (stringOption(attrs, "method") || "GET").toUpperCase(),
    headers,
    ...(body === "" ? {} : { body }),
    timeoutMs: msOption(attrs, "timeout", DEFAULT_TIMEOUT_MS),
    followRedirects: !boolOption(attrs, "no-follow-redirects"),
    insecure: boolOption(attrs, "allow-insecure"),
    ...(caFile === "" ? {} : { caCert: await pem(ctx, "ca-file", caFile) }),
    ...(certFile === "" ? {} : {
      clientCert: {
        cert: await pem(ctx, "cert-file", certFile),
        key: await pem(ctx, "key-file", keyFile),
      },
    }),
    ...(proxy === "" ? {} : { proxy }),
  };
}

function httpSystem(target: string, attrs: Attrs, ctx: GossContext): GossSystem {
  const response = lazy(async () => ctx.host.fetch(await buildRequest(ctx, target, attrs)));
  return systemOf("HTTP", {
    status: async () => (await response()).status,
    headers: async () => renderHeaders((await response()).headers),
    body: async () => {
      const r = await response();
      if (r.bodyTruncated) throw new Error(`response body of ${target} is larger than Scout keeps`);
      return r.body;
    },
  }, { Headers: "headers", Body: "body" });
}

/** The `http` resource type. */
export const httpType: GossResourceType = {
  type: "http",
  resultType: "HTTP",
  idAttr: "url",
  tested: ["status", "headers", "body"],
  options: [
    "method",
    "request-headers",
    "request-body",
    "allow-insecure",
    "no-follow-redirects",
    "timeout",
    "username",
    "password",
    "ca-file",
    "cert-file",
    "key-file",
    "proxy",
  ],
  required: ["status"],
  streams: ["headers", "body"],
  gate: "status",
  system: httpSystem,
};
