import { ScoutError } from "../errors.ts";
import { createCa, fileCaSigner, fingerprintSha256, inspectCsr } from "../pki/mod.ts";
import { type CliIo, type Command, parseFlags } from "./_common.ts";

const HELP = `scout ca: the fleet's file CA (for small fleets, development and tests)

Usage:
  scout ca init --dir DIR [--name NAME] [--days N] [--force] [--json]
  scout ca sign --dir DIR --csr FILE --out FILE [--identity NAME] [--server]
                [--dns NAME]... [--ip IP]... [--days N] [--json]

init  makes an ECDSA P-256 CA: DIR/ca.pem (0644) and DIR/ca.key (0600, PKCS#8). It never
      overwrites them without --force. It prints the CA's SHA-256 fingerprint: the value a
      provisioning token pins. --days defaults to 3650, --name to "Scout Fleet CA".
sign  signs a CSR with that CA, after the checks every Scout signer makes (valid signature,
      P-256 key, CN = identity, and for client certificates SAN = identity only). The
      identity defaults to the CSR's CN. A client certificate (EKU clientAuth) is made unless
      --server (EKU serverAuth, SANs from --dns, default the identity, and --ip). --days
      defaults to 365. The certificate is written to --out.`;

function usage(message: string): ScoutError {
  return new ScoutError("USAGE", message, { hint: "see `scout ca --help`" });
}

function days(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > 36_500) {
    throw usage(`--days must be a whole number from 1 to 36500, not "${text}"`);
  }
  return n;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

async function readFile(flag: string, path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    throw new ScoutError("USAGE", `Cannot read ${flag} "${path}": ${(e as Error).message}`, {
      hint: `give ${flag} a readable file`,
    });
  }
}

/** Writes a new file with exactly this mode (umask does not apply, an old file is replaced). */
async function writeNew(path: string, text: string, mode: number): Promise<void> {
  await Deno.remove(path).catch((e) => {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  });
  await Deno.writeTextFile(path, text, { mode, createNew: true });
  await Deno.chmod(path, mode);
}

async function init(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseFlags(args, {
    dir: { type: "string" },
    name: { type: "string" },
    days: { type: "string" },
    force: { type: "boolean" },
    json: { type: "boolean" },
  }, "ca init");
  if (positionals.length) throw usage(`unexpected argument "${positionals[0]}"`);
  if (!values.dir) throw usage("--dir is required");
  const validDays = days(values.days, 3650);
  const cert = `${values.dir}/ca.pem`, key = `${values.dir}/ca.key`;
  if (!values.force) {
    for (const path of [cert, key]) {
      if (await exists(path)) {
        throw new ScoutError("USAGE", `${path} exists; not overwriting the CA`, {
          hint:
            "a new CA invalidates every certificate and token pinned to the old one; pass --force if that is meant",
          context: { path },
        });
      }
    }
  }
  const ca = await createCa({
    now: new Date(),
    days: validDays,
    ...(values.name === undefined ? {} : { name: values.name }),
  });
  await Deno.mkdir(values.dir, { recursive: true, mode: 0o700 });
  await writeNew(key, ca.keyPem, 0o600);
  await writeNew(cert, ca.certPem, 0o644);
  const fingerprint = await fingerprintSha256(ca.certPem);
  if (values.json) {
    io.out(JSON.stringify({ cert, key, fingerprint_sha256: fingerprint }) + "\n");
  } else {
    io.out(`wrote ${cert} and ${key} (keep it secret)\nSHA-256 fingerprint: ${fingerprint}\n`);
  }
  return 0;
}

async function sign(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseFlags(args, {
    dir: { type: "string" },
    csr: { type: "string" },
    out: { type: "string" },
    identity: { type: "string" },
    server: { type: "boolean" },
    dns: { type: "string", multiple: true },
    ip: { type: "string", multiple: true },
    days: { type: "string" },
    json: { type: "boolean" },
  }, "ca sign");
  if (positionals.length) throw usage(`unexpected argument "${positionals[0]}"`);
  if (!values.dir || !values.csr || !values.out) throw usage("--dir, --csr and --out are required");
  if (!values.server && (values.dns || values.ip)) {
    throw usage("--dns and --ip are for server certificates: add --server");
  }
  const n = days(values.days, 365);
  const csrPem = await readFile("--csr", values.csr);
  const signer = fileCaSigner({
    certPem: await readFile("--dir", `${values.dir}/ca.pem`),
    keyPem: await readFile("--dir", `${values.dir}/ca.key`),
  });
  const identity = values.identity ?? (await inspectCsr(csrPem)).commonName;
  const { certPem } = await signer.sign({
    csrPem,
    identity,
    usage: values.server ? "server" : "client",
    ...(values.dns ? { dnsNames: values.dns } : {}),
    ...(values.ip ? { ipAddresses: values.ip } : {}),
    days: n,
    now: new Date(),
  });
  await writeNew(values.out, certPem, 0o644);
  const fingerprint = await fingerprintSha256(certPem);
  if (values.json) {
    io.out(JSON.stringify({ cert: values.out, identity, fingerprint_sha256: fingerprint }) + "\n");
  } else io.out(`wrote ${values.out} for ${identity}\nSHA-256 fingerprint: ${fingerprint}\n`);
  return 0;
}

/** `scout ca`: makes the fleet's file CA (`init`) and signs CSRs with it (`sign`). */
export const caCommand: Command = {
  name: "ca",
  summary: "make the fleet's file CA and sign CSRs with it",
  help: HELP,
  run(args, io) {
    const [sub, ...rest] = args;
    switch (sub) {
      case "init":
        return init(rest, io);
      case "sign":
        return sign(rest, io);
      default:
        return Promise.reject(
          usage(sub === undefined ? "missing subcommand" : `unknown subcommand "${sub}"`),
        );
    }
  },
};
