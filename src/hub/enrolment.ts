/**
 * The hub's enrolment service as `scout-hub hub` starts it: the signer (file CA or program),
 * the provisioner with its state, the fleet file for the broker, the deny-list file, and the
 * HTTPS listener with a server certificate the hub issues itself from the fleet CA.
 * @module
 */
import { IDENTITY_PATTERN } from "../config/mod.ts";
import { ScoutError } from "../errors.ts";
import { fileCaSigner, issueServerCertificate, programSigner, type Signer } from "../pki/mod.ts";
import {
  createDenoFs,
  createDenoStdinRunner,
  ensureDir,
  type Logger,
  systemClock,
} from "../runtime/mod.ts";
import {
  applyDenied,
  createFleetFileWriter,
  DENIED_FILE,
  type FilePoll,
  FLEET_FILE,
  parseDeniedFile,
  pollFile,
} from "./fleet_file.ts";
import {
  createProvisioner,
  type EnrolListener,
  type Provisioner,
  serveProvisioner,
} from "./provisioner.ts";

/** Options of startEnrolment. */
export interface EnrolmentOptions {
  /** The state directory: provisioner state in `provisioner/`, the fleet file `fleet.json`. */
  stateDir: string;
  /** The fleet CA folder (ca.pem; ca.key for the built-in signer). */
  caDir: string;
  /** Absolute path of an external signer program, or null for the file CA in caDir. */
  signerProgram: string | null;
  /** Where the HTTPS listener binds ("" or 0.0.0.0: every interface; port 0: a free one). */
  listen: { hostname: string; port: number };
  /** DNS names and IP addresses of the listener's certificate. */
  names: string[];
  /** The hub's identity: the fleet file's hub, and the listener certificate's CN. */
  hubIdentity: string;
  /** Whether the hub's identity is a fleet hub user (false with creds-only brokers). */
  hubInFleet: boolean;
  /** Operator identities for the fleet file. */
  operators: string[];
  /** Broker URLs handed to enrolled nodes. */
  advertiseBrokers: string[];
  /** Lifetime of issued certificates, days. */
  certDays: number;
  /** Where decisions and changes are logged. */
  logger: Logger;
  /** How often the deny list file is looked at, ms. @default 1000 */
  pollMs?: number;
}

/** The running provisioner with its HTTPS listener, fleet file and deny-list watcher. */
export interface EnrolmentHandle {
  /** `https://HOST:PORT/` of the listener (HOST as an agent on this machine would reach it). */
  url: string;
  /** The listener's port. */
  port: number;
  /** The provisioner (its state, deny list). */
  provisioner: Provisioner;
  /** Path of the fleet file the hub writes. */
  fleetFile: string;
  /** Stops the watcher and the listener. */
  stop(): Promise<void>;
}

async function readCaFile(caDir: string, name: string): Promise<string> {
  try {
    return await Deno.readTextFile(`${caDir}/${name}`);
  } catch (e) {
    throw new ScoutError(
      "USAGE",
      `Cannot read the fleet CA's ${name} in ${caDir}: ${(e as Error).message}`,
      {
        hint: `make the CA with \`scout-hub ca init --dir ${caDir}\`, or give --ca-dir; ` +
          "with an external --signer only ca.pem is needed",
        context: { caDir },
      },
    );
  }
}

function hostName(): string | null {
  try {
    if (Deno.permissions.querySync({ name: "sys", kind: "hostname" }).state !== "granted") {
      return null;
    }
    const h = Deno.hostname();
    return IDENTITY_PATTERN.test(h) ? h : null;
  } catch {
    return null;
  }
}

/** The default names of the enrolment certificate: the host name, localhost and 127.0.0.1. */
export function defaultEnrolNames(): string[] {
  return [...new Set([hostName(), "localhost", "127.0.0.1"].filter((n) => n !== null))];
}

/**
 * Starts the provisioner the way `scout-hub hub` does: the signer (file CA or program), the
 * state in `<state-dir>/provisioner`, the fleet file rewritten on every change, the deny list
 * file applied at start and whenever it changes, and the HTTPS listener with a server
 * certificate issued now from the fleet CA (re-issued, with a short restart of the listener,
 * after 2/3 of its lifetime).
 */
export async function startEnrolment(opts: EnrolmentOptions): Promise<EnrolmentHandle> {
  const { logger } = opts;
  const caCertPem = await readCaFile(opts.caDir, "ca.pem");
  let signer: Signer;
  if (opts.signerProgram !== null) {
    if (!opts.signerProgram.startsWith("/")) {
      throw new ScoutError("USAGE", `--signer "${opts.signerProgram}" is not an absolute path`, {
        hint: "give the signer program's absolute path, e.g. /usr/local/bin/scout-signer",
      });
    }
    signer = programSigner({
      program: opts.signerProgram,
      env: { SCOUT_CA_DIR: opts.caDir },
      runner: createDenoStdinRunner(),
    });
  } else {
    signer = fileCaSigner({ certPem: caCertPem, keyPem: await readCaFile(opts.caDir, "ca.key") });
  }
  const provDir = `${opts.stateDir}/provisioner`;
  await ensureDir(provDir);
  const fs = createDenoFs({ writeRoots: [opts.stateDir] });
  const fleetFile = `${opts.stateDir}/${FLEET_FILE}`;
  const writeFleet = createFleetFileWriter({
    path: fleetFile,
    roles: { hubs: opts.hubInFleet ? [opts.hubIdentity] : [], operators: opts.operators },
    fs,
    logger,
  });
  const provisioner = await createProvisioner({
    caCertPem,
    signer,
    certDays: opts.certDays,
    nodeConfig: () => ({ brokers: [...opts.advertiseBrokers], groups: [] }),
    stateDir: provDir,
    fs,
    clock: systemClock,
    logger,
    onChange: writeFleet,
  });
  const deniedFile = `${provDir}/${DENIED_FILE}`;
  const applyDeniedFile = async () => {
    let text: string;
    try {
      text = await Deno.readTextFile(deniedFile);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return;
      throw e;
    }
    const changed = await applyDenied(provisioner, parseDeniedFile(text, deniedFile));
    if (changed.denied.length > 0 || changed.allowed.length > 0) {
      logger.info("deny list applied", { file: deniedFile, ...changed });
    }
  };
  await applyDeniedFile();
  await writeFleet(provisioner.state());
  const poll: FilePoll = pollFile(deniedFile, applyDeniedFile, {
    logger,
    ...(opts.pollMs === undefined ? {} : { intervalMs: opts.pollMs }),
  });

  const hostname = opts.listen.hostname === "" ? "0.0.0.0" : opts.listen.hostname;
  let listener: EnrolListener | null = null;
  let renewAt = 0;
  const serve = async (port: number) => {
    const tls = await issueServerCertificate(signer, {
      identity: opts.hubIdentity,
      names: opts.names,
      days: opts.certDays,
      now: new Date(systemClock.now()),
    });
    renewAt = tls.renewAtMs;
    listener = serveProvisioner(provisioner, {
      hostname,
      port,
      certPem: tls.certPem,
      keyPem: tls.keyPem,
    });
  };
  try {
    await serve(opts.listen.port);
  } catch (e) {
    await poll.stop();
    throw e;
  }
  const port = (listener as EnrolListener | null)!.port;
  let renewing: Promise<void> = Promise.resolve();
  const renewTimer = setInterval(() => {
    if (systemClock.now() < renewAt) return;
    renewAt = Infinity;
    renewing = (async () => {
      try {
        const old = listener;
        listener = null;
        await old?.stop();
        await serve(port);
        logger.info("enrolment certificate re-issued", { port });
      } catch (e) {
        logger.error("cannot re-issue the enrolment certificate; retrying in an hour", {
          error: String(e),
        });
        renewAt = systemClock.now() + 3_600_000;
      }
    })();
  }, 60_000);
  const shown = hostname === "0.0.0.0" || hostname === "::" ? "127.0.0.1" : hostname;
  const url = `https://${shown.includes(":") ? `[${shown}]` : shown}:${port}/`;
  logger.info("enrolment listening", { url, listen: `${hostname}:${port}`, fleetFile });
  return {
    url,
    port,
    provisioner,
    fleetFile,
    async stop() {
      clearInterval(renewTimer);
      await renewing;
      await poll.stop();
      await (listener as EnrolListener | null)?.stop();
    },
  };
}
