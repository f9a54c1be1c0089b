/**
 * Test harness for the NATS transport: a throw-away PKI made with @peculiar/x509 and WebCrypto
 * ECDSA P-256 (CA, server, client certificates incl. expired and foreign-CA ones, as PEM files),
 * and real nats-server processes on free loopback ports with TLS (optionally mutual) and JetStream.
 * @module
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";

/** True when the nats-server binary is on PATH. */
export const HAVE_NATS_SERVER: boolean = (() => {
  try {
    const out = new Deno.Command("nats-server", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    })
      .outputSync();
    return out.success;
  } catch {
    return false;
  }
})();

/** Tests needing nats-server are skipped only when it is missing and env CI is unset. */
export const SKIP_NATS: boolean = !HAVE_NATS_SERVER && !Deno.env.get("CI");

/** One certificate with its key: PEM text and the files it was written to. */
export interface CertPair {
  /** Certificate PEM text. */
  cert: string;
  /** PKCS#8 private key PEM text. */
  key: string;
  /** Path of the certificate file. */
  certFile: string;
  /** Path of the key file. */
  keyFile: string;
}

/** A throw-away PKI for tests. */
export interface Pki {
  /** The CA certificate PEM text. */
  ca: string;
  /** Path of the CA certificate file. */
  caFile: string;
  /** The server certificate (SAN DNS:localhost, IP:127.0.0.1). */
  server: CertPair;
  /** A valid client certificate from the CA. */
  client: CertPair;
  /** A client certificate from the CA whose validity ended yesterday. */
  expired: CertPair;
  /** A client certificate from another CA. */
  foreign: CertPair;
  /** The other CA's certificate PEM text (a "wrong CA" for the server). */
  otherCa: string;
}

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const DAY = 86_400_000;
let serial = 1;

async function keys(): Promise<CryptoKeyPair> {
  return await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
}

async function keyPem(k: CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await crypto.subtle.exportKey("pkcs8", k), "PRIVATE KEY");
}

async function makeCa(cn: string): Promise<{ cert: x509.X509Certificate; keys: CryptoKeyPair }> {
  const k = await keys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: (serial++).toString(16).padStart(2, "0"),
    name: `CN=${cn}`,
    notBefore: new Date(Date.now() - DAY),
    notAfter: new Date(Date.now() + 365 * DAY),
    keys: k,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(k.publicKey),
    ],
  });
  return { cert, keys: k };
}

async function issue(
  ca: { cert: x509.X509Certificate; keys: CryptoKeyPair },
  cn: string,
  opts: { server?: boolean; expired?: boolean },
): Promise<{ cert: string; key: string }> {
  const k = await keys();
  const now = Date.now();
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([
      x509.ExtendedKeyUsage.serverAuth,
      x509.ExtendedKeyUsage.clientAuth,
    ]),
    await x509.AuthorityKeyIdentifierExtension.create(ca.keys.publicKey),
    await x509.SubjectKeyIdentifierExtension.create(k.publicKey),
  ];
  if (opts.server) {
    extensions.push(
      new x509.SubjectAlternativeNameExtension([
        { type: "dns", value: "localhost" },
        { type: "ip", value: "127.0.0.1" },
      ]),
    );
  }
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: (serial++).toString(16).padStart(2, "0"),
    subject: `CN=${cn}`,
    issuer: ca.cert.subject,
    notBefore: new Date(now - (opts.expired ? 10 * DAY : DAY)),
    notAfter: new Date(now + (opts.expired ? -DAY : 30 * DAY)),
    publicKey: k.publicKey,
    signingKey: ca.keys.privateKey,
    signingAlgorithm: ALG,
    extensions,
  });
  return { cert: cert.toString("pem"), key: await keyPem(k.privateKey) };
}

async function write(
  dir: string,
  name: string,
  p: { cert: string; key: string },
): Promise<CertPair> {
  const certFile = `${dir}/${name}.pem`, keyFile = `${dir}/${name}-key.pem`;
  await Deno.writeTextFile(certFile, p.cert);
  await Deno.writeTextFile(keyFile, p.key, { mode: 0o600 });
  return { ...p, certFile, keyFile };
}

/** Generates a CA, a server certificate and client certificates (valid, expired, foreign) into dir. */
export async function makePki(dir: string): Promise<Pki> {
  await Deno.mkdir(dir, { recursive: true });
  const ca = await makeCa("Scout Test CA");
  const other = await makeCa("Other CA");
  const caPem = ca.cert.toString("pem");
  const caFile = `${dir}/ca.pem`;
  await Deno.writeTextFile(caFile, caPem);
  await Deno.writeTextFile(`${dir}/other-ca.pem`, other.cert.toString("pem"));
  return {
    ca: caPem,
    caFile,
    server: await write(dir, "server", await issue(ca, "server", { server: true })),
    client: await write(dir, "client", await issue(ca, "client1", {})),
    expired: await write(dir, "expired", await issue(ca, "expired", { expired: true })),
    foreign: await write(dir, "foreign", await issue(other, "foreign", {})),
    otherCa: other.cert.toString("pem"),
  };
}

/** Options of startNatsServer. */
export interface NatsServerOptions {
  /** The PKI whose server certificate and CA the server uses. */
  pki: Pki;
  /** Directory for the config, logs and JetStream store. */
  dir: string;
  /** Serve TLS; default true. */
  tls?: boolean;
  /** Enable JetStream; default true. */
  jetstream?: boolean;
  /** Require and verify client certificates (mutual TLS); default true. */
  verify?: boolean;
  /** Port; default a free loopback port. */
  port?: number;
}

/** A running nats-server. */
export interface NatsServer {
  /** `tls://127.0.0.1:<port>` (or `nats://` without TLS). */
  url: string;
  /** The loopback port. */
  port: number;
  /** Stops the server and waits for it to exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same store. */
  restart(): Promise<void>;
  /** The server's process id while it runs (benchmarks renice it), else null. */
  pid(): number | null;
}

/** The command-line broker flags (`--broker`, `--tls-ca`, `--tls-cert`, `--tls-key`) of the test PKI's client. */
export function brokerArgs(
  url: string,
  pki: { caFile: string; client: { certFile: string; keyFile: string } },
): string[] {
  return [
    "--broker",
    url,
    "--tls-ca",
    pki.caFile,
    "--tls-cert",
    pki.client.certFile,
    "--tls-key",
    pki.client.keyFile,
  ];
}

/** Returns a loopback TCP port that was free a moment ago. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function waitAccepting(port: number, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      c.close();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  throw new Error(`nats-server did not accept on 127.0.0.1:${port} within ${ms} ms`);
}

/** Writes a config and spawns `nats-server -c conf`; resolves once it accepts connections. */
export async function startNatsServer(opts: NatsServerOptions): Promise<NatsServer> {
  const port = opts.port ?? freePort();
  const tls = opts.tls ?? true, js = opts.jetstream ?? true, verify = opts.verify ?? true;
  await Deno.mkdir(`${opts.dir}/js`, { recursive: true });
  const q = JSON.stringify;
  const conf = [
    `listen: "127.0.0.1:${port}"`,
    `server_name: "scout_test_${port}"`,
    tls
      ? `tls { cert_file: ${q(opts.pki.server.certFile)}, key_file: ${
        q(opts.pki.server.keyFile)
      }, ca_file: ${q(opts.pki.caFile)}, verify: ${verify}, timeout: 2 }`
      : "",
    js ? `jetstream { store_dir: ${q(`${opts.dir}/js`)} }` : "",
  ].join("\n");
  const confFile = `${opts.dir}/nats-${port}.conf`;
  await Deno.writeTextFile(confFile, conf);
  let child: Deno.ChildProcess | null = null;
  const start = async () => {
    child = new Deno.Command("nats-server", {
      args: ["-c", confFile, "-l", `${opts.dir}/nats-${port}.log`],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    await waitAccepting(port, 10_000);
  };
  const stop = async () => {
    const c = child as Deno.ChildProcess | null;
    if (!c) return;
    child = null;
    try {
      c.kill("SIGTERM");
    } catch { /* already gone */ }
    await c.status;
  };
  await start();
  return {
    url: `${tls ? "tls" : "nats"}://127.0.0.1:${port}`,
    port,
    stop,
    restart: async () => {
      await stop();
      await start();
    },
    pid: () => (child as Deno.ChildProcess | null)?.pid ?? null,
  };
}

/**
 * A throw-away PKI and a TLS nats-server with JetStream in `dir`, plus the broker options a
 * client with the valid client certificate connects with.
 */
export async function startTestBroker(dir: string, name: string): Promise<{
  pki: Pki;
  server: NatsServer;
  brokerOpts: { urls: string[]; tls: { ca: string; cert: string; key: string }; name: string };
}> {
  const pki = await makePki(`${dir}/pki`);
  const server = await startNatsServer({ pki, dir: `${dir}/nats` });
  const brokerOpts = {
    urls: [server.url],
    tls: { ca: pki.ca, cert: pki.client.cert, key: pki.client.key },
    name,
  };
  return { pki, server, brokerOpts };
}
