/**
 * Composition root of the node agent: builds the real ports, wires the manager, the event
 * sinks, the control socket and the check-file watcher, and returns a handle with stop().
 * Layer 6: may import everything below.
 * @module
 */
import { type FleetStatus, handleControl } from "./api/mod.ts";
import { GROUP_PATTERN } from "./config/mod.ts";
import { formatError, ScoutError } from "./errors.ts";
import {
  identityToken,
  lifecycleEvent,
  publishes,
  type PublishPolicy,
  pushAppliedEvent,
  pushRefusedEvent,
  SCOUT_EXTENSIONS,
  type ScoutEvent,
  scoutSubject,
} from "./events.ts";
import { createManager, type Manager } from "./machine/mod.ts";
import type { BusMessage } from "./transport/mod.ts";
import type { DiscoverySources, Enrolment } from "./provisioning/mod.ts";
import {
  type Clock,
  createCachedResolver,
  createConsoleLogger,
  createDenoFs,
  createDenoGossHost,
  createDenoRunner,
  ensureDir,
  type Fs,
  limitConcurrency,
  type Logger,
  openSpool,
  type ProcessRunner,
  serveSocket,
  systemClock,
} from "./runtime/mod.ts";

/** Scout's version, in events and `scout version`. */
export const VERSION = "0.1.0";

/** How often a fleet agent sends its alive lifecycle event. */
const ALIVE_MS = 30 * 60_000;

/** Where Scout looks for Nagios plugins, in order. */
export const DEFAULT_PLUGIN_DIRS: readonly string[] = [
  "/usr/lib/nagios/plugins",
  "/usr/lib64/nagios/plugins",
  "/usr/local/lib/nagios/plugins",
  "/etc/scout/plugins",
];

/** Everything the agent needs to know; the CLI fills it from flags, env and defaults. */
export interface AgentConfig {
  /** Node identity. */
  identity: string;
  /** Check file directories. */
  checksDirs: string[];
  /** Choria machine directories. */
  machinesDirs: string[];
  /** State directory (keys, machine state, control socket). */
  stateDir: string;
  /** Prometheus textfile directory, or null. */
  textfileDir: string | null;
  /** File receiving one CloudEvent JSON per line, or null. */
  eventsFile: string | null;
  /** Plugin directories, searched in order; programs may come only from these. */
  pluginDirs: string[];
  /** Start checks at once instead of after a random splay. */
  noSplay: boolean;
  /** Bytes of plugin output kept. */
  maxOutputBytes: number;
  /** Periodic rescan of check files, ms. */
  rescanMs: number;
  /** Most plugins running at once; more wait for a slot. */
  maxConcurrent: number;
  /** Print one line per result and transition on stdout. */
  printEvents: boolean;
  /** The fleet's broker; null runs standalone (or enrols, with `provisioning`). */
  fleet: FleetConfig | null;
  /**
   * Zero-configuration enrolment, used when `fleet` is null: find a provisioning token (and
   * the hub), enrol, and join the fleet in this process. null: stay standalone.
   */
  provisioning?: ProvisioningConfig | null;
  /** The node API over the fleet broker; defaults apply when absent (see RpcConfig). */
  rpc?: RpcConfig;
  /** Groups this node belongs to (`--group`), besides those its enrolment gives. */
  groups?: string[];
}

/** The node API (`scout.api.<token>.<action>`), served whenever the agent is in the fleet. */
export interface RpcConfig {
  /**
   * Extra trusted token issuers (`--rpc-trust`): a CA certificate PEM or a JWKS JSON document
   * with an `issuer` member, with where each came from. They come before the defaults; the
   * broker's CA (flags) is trusted by default only when none of them is a CA certificate.
   */
  trust: { text: string; where: string }[];
  /** The local policy file; null for none. */
  policyFile: string | null;
  /** Requests a minute per caller. @default 120 */
  perCallerPerMinute?: number;
  /** Requests handled at once; up to 2,000 more wait, beyond them "busy". @default 2 */
  maxConcurrent?: number;
  /** Size cap of a request, bytes. @default 65536 */
  maxBytes?: number;
  /** Size at which `<state-dir>/audit/rpc.log` is rotated, bytes. @default 10 MiB */
  auditMaxBytes?: number;
}

/** The default local policy file, used when it exists. */
export const DEFAULT_POLICY_FILE = "/etc/scout/policy.yaml";

/** How an agent without a broker finds its way into the fleet. */
export interface ProvisioningConfig {
  /** Where a token may be, in discovery order. */
  sources: DiscoverySources;
  /** `--dns-server HOST:PORT` for SRV lookups; null uses the system's resolver. */
  dnsServer: { ipAddr: string; port: number } | null;
  /** Fleet settings for when it has joined (spool, policy, announcements). */
  fleet: Pick<FleetConfig, "spoolBytes" | "policy" | "announceMs">;
}

/** How the agent joins the fleet: broker URLs and TLS material (PEM text), and its spool. */
export interface FleetConfig {
  /** Broker URLs (TLS is forced). */
  urls: string[];
  /** CA that verifies the broker. */
  ca: string;
  /** Client certificate and key for mutual TLS. */
  cert?: string;
  /** Client key. */
  key?: string;
  /** Creds file text (JWT + nkey) for operator-mode brokers. */
  creds?: string;
  /** Bytes of events the on-disk spool keeps while the broker is away; the oldest go first. */
  spoolBytes: number;
  /** Which events go to the fleet. */
  policy: PublishPolicy;
  /** Every check's current state is re-sent this often (0: never), so a view can be rebuilt. */
  announceMs: number;
  /** Trusted issuers of operator tokens from enrolment (CA PEM or JWKS JSON; fleet CA first). */
  issuers?: string[];
  /** The node's groups from enrolment (pushed checks of `group.<name>` apply). */
  groups?: string[];
}

/** Ports the agent builds for itself unless a test passes its own. */
export interface AgentOverrides {
  /** Time. */
  clock?: Clock;
  /** Process runner. */
  runner?: ProcessRunner;
  /** Logger. */
  logger?: Logger;
  /** Extra event receiver (tests, benchmarks). */
  onEvent?: (event: ScoutEvent) => void;
  /** Lateness observer (benchmarks). */
  observeLateness?: (ms: number) => void;
}

/** A running agent. */
export interface AgentHandle {
  /** The machine manager. */
  manager: Manager;
  /** Stops everything: plugins are killed, state is flushed, the socket is removed. */
  stop(): Promise<void>;
}

function pad2(n: number): string {
  return String(n).padStart(2, "0");
}

/** One readable line for a result or a transition; null for other events. */
export function eventLine(ev: ScoutEvent): string | null {
  const d = new Date(ev.time);
  const t = `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
  const data = ev.data as Record<string, unknown>;
  if (ev.type === "io.choria.machine.watcher.nagios.v1.state") {
    const first = String(data.output ?? "").split("\n")[0]!.split("|")[0]!.trim();
    const soft = ev.scouthard === false ? ` (soft ${ev.scoutattempt}/${ev.scoutattempts})` : "";
    return `${t} ${String(data.status).padEnd(8)} ${data.machine}: ${first}${soft}`;
  }
  if (ev.type === "io.choria.machine.v1.transition") {
    return `${t} ${
      "=>".padEnd(8)
    } ${data.machine}: ${data.from_state} => ${data.to_state} (${data.transition})`;
  }
  return null;
}

function createLineWriter(
  path: string,
  fs: { append(p: string, d: string): Promise<void> },
  logger: Logger,
) {
  let pending: string[] = [];
  let flushing: Promise<void> | null = null;
  async function flush() {
    while (pending.length) {
      const batch = pending.join("");
      pending = [];
      try {
        await fs.append(path, batch);
      } catch (e) {
        logger.error("cannot write the events file", { error: formatError(e) });
      }
    }
    flushing = null;
  }
  return {
    write(line: string) {
      pending.push(line);
      flushing ??= flush();
    },
    async close() {
      await flushing;
    },
  };
}

/** Starts the standalone agent. */
export async function startAgent(
  config: AgentConfig,
  overrides: AgentOverrides = {},
): Promise<AgentHandle> {
  const clock = overrides.clock ?? systemClock;
  const logger = overrides.logger ?? createConsoleLogger();
  await ensureDir(config.stateDir, 0o700);
  await Deno.chmod(config.stateDir, 0o700);
  await ensureDir(`${config.stateDir}/machines`, 0o700);
  if (config.textfileDir) await ensureDir(config.textfileDir, 0o755);
  if (config.eventsFile) {
    const dir = config.eventsFile.includes("/")
      ? config.eventsFile.slice(0, config.eventsFile.lastIndexOf("/"))
      : ".";
    await ensureDir(dir || "/", 0o755);
  }
  const fs = await createDenoFs({
    writeRoots: [config.stateDir, config.textfileDir, config.eventsFile].filter((x): x is string =>
      !!x
    ),
  });
  const events = config.eventsFile ? createLineWriter(config.eventsFile, fs, logger) : null;
  // The fleet connection: from flags at start, or later from enrolment (and again after each
  // renewal, with the new certificate).
  let fleetConfig: FleetConfig | null = config.fleet;
  // The node API, served whenever the agent is in the fleet. The service is built on the
  // first request (it loads jose, zod and yaml); the trust follows the fleet connection.
  if (config.rpc?.trust.length) {
    // A trust file this agent cannot use stops it at start, not at the first request.
    const { parseTrustedIssuer } = await import("./rpc/mod.ts");
    for (const t of config.rpc.trust) parseTrustedIssuer(t.text, t.where);
  }
  let rpcTrust: Promise<import("./rpc/mod.ts").TrustedIssuer[]> = Promise.resolve([]);
  let rpcTrustNow: import("./rpc/mod.ts").TrustedIssuer[] = [];
  let rpcService: Promise<RpcHandler> | null = null;
  let hosted: Manager | null = null;
  const rpcHandler = (fc: FleetConfig): RpcHandler => {
    rpcTrust = fleetTrust(fc, config.rpc);
    rpcTrust.catch((e) => logger.error("RPC trust is unusable", { error: formatError(e) }));
    return async (action, raw) => {
      rpcTrustNow = await rpcTrust;
      if (hosted === null) {
        return new TextEncoder().encode(JSON.stringify({
          ok: false,
          identity: config.identity,
          id: null,
          action: null,
          error: { code: "BUSY", reason: "busy: the agent is starting; try again in a moment" },
        }));
      }
      rpcService ??= createAgentRpc(config, {
        manager: hosted,
        clock,
        logger,
        trust: () => rpcTrustNow,
        gossHost: () => (gossHost ??= createDenoGossHost({ runner })),
        pushed: () => pushApplier?.report() ?? null,
      });
      return await (await rpcService)(action, raw);
    };
  };
  // Pushed checks (fleet mode): bundles of this node's KV keys are verified and written to
  // `<state-dir>/pushed/<key>.yaml`, a check directory of the manager like the local ones.
  const pushedDir = `${config.stateDir}/pushed`;
  await ensureDir(pushedDir, 0o700);
  let pushApplier: import("./push/mod.ts").PushApplier | null = null;
  // Push events wait here until `emit` exists (the watch may report while the fleet is joined).
  const pushEvents: ScoutEvent[] = [];
  let pushEmit: ((ev: ScoutEvent) => void) | null = null;
  const pushWatcher = (broker: import("./transport/mod.ts").Broker) =>
    startPushWatch(broker, {
      config,
      pushedDir,
      logger,
      clock,
      trust: async () => (rpcTrustNow = await rpcTrust),
      trustNow: () => rpcTrustNow,
      groups: () => [...new Set([...(config.groups ?? []), ...(fleetConfig?.groups ?? [])])],
      manager: () => hosted,
      writeAtomic: (path, text) => fs.writeAtomic(path, text, { mode: 0o600 }),
      applier: (a) => (pushApplier = a),
      existing: () => pushApplier,
      emit: (ev) => pushEmit ? pushEmit(ev) : void pushEvents.push(ev),
    });
  let fleet = config.fleet
    ? await joinFleet(config.fleet, config, logger, rpcHandler(config.fleet), pushWatcher)
    : null;
  const out = new TextEncoder();
  let announcing = false;
  const emit = (ev: ScoutEvent) => {
    if (announcing) ev[SCOUT_EXTENSIONS.announce] = true;
    const json = JSON.stringify(ev);
    events?.write(json + "\n");
    if (fleet && (announcing || !fleetConfig || publishes(fleetConfig.policy, ev))) {
      fleet.send(ev, json);
    }
    overrides.onEvent?.(ev);
    if (config.printEvents && !announcing) {
      const line = eventLine(ev);
      if (line) Deno.stdout.writeSync(out.encode(line + "\n"));
    }
  };
  pushEmit = emit;
  for (const ev of pushEvents.splice(0)) emit(ev);
  let gossHost: ReturnType<typeof createDenoGossHost> | undefined;
  const runner = limitConcurrency(overrides.runner ?? createDenoRunner(), config.maxConcurrent);
  const manager = createManager({
    fs,
    clock,
    logger,
    identity: config.identity,
    emit,
    newId: () => crypto.randomUUID(),
    random: Math.random,
    noSplay: config.noSplay,
    checksDirs: [...config.checksDirs, pushedDir],
    machinesDirs: config.machinesDirs,
    stateDir: config.stateDir,
    textfileDir: config.textfileDir,
    ...(overrides.observeLateness ? { observeLateness: overrides.observeLateness } : {}),
    watcherDeps: {
      clock,
      logger,
      runner,
      resolveProgram: createCachedResolver(),
      gossHost: () => (gossHost ??= createDenoGossHost({ runner })),
      pluginDirs: config.pluginDirs,
      maxOutputBytes: config.maxOutputBytes,
      path: Deno.env.get("PATH") ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    },
  });
  hosted = manager;
  // Enrolment (started below, once the checks run); the control socket can force it again.
  let provisioning: ReturnType<typeof startProvisioning> | null = null;
  // The socket comes first: it refuses to start when another agent uses this state dir,
  // before any check runs.
  const socket = await serveSocket(
    `${config.stateDir}/scout.sock`,
    (req) =>
      handleControl(manager, req, clock.now(), {
        fleet: () => fleet?.status() ?? null,
        reprovision: () => {
          if (!provisioning) return false;
          provisioning.reprovision();
          return true;
        },
      }),
  );
  const lifecycle = (kind: "startup" | "shutdown" | "alive" | "provisioned") =>
    emit(lifecycleEvent({ kind, identity: config.identity, component: "scout", version: VERSION }, {
      eventId: crypto.randomUUID(),
      timeMs: clock.now(),
      ...(fleet ? { extensions: { [SCOUT_EXTENSIONS.dropped]: fleet.dropped() } } : {}),
    }));
  lifecycle("startup");
  const report = await manager.reload();
  logger.info("agent started", {
    identity: config.identity,
    checks: report.started.length,
    problems: report.problems.length,
  });

  // Watch the check directories, and rescan periodically: a ConfigMap swaps a symlink,
  // which file-name events can miss.
  const watchDirs: string[] = [];
  for (const d of [...config.checksDirs, ...config.machinesDirs]) {
    try {
      if ((await Deno.stat(d)).isDirectory) watchDirs.push(d);
    } catch { /* absent: the rescan picks it up later */ }
  }
  let debounce: ReturnType<typeof clock.setTimer> | null = null;
  const reloadSoon = () => {
    debounce?.cancel();
    debounce = clock.setTimer(200, () => {
      debounce = null;
      void manager.reload();
    });
  };
  const watcher = watchDirs.length ? Deno.watchFs(watchDirs, { recursive: true }) : null;
  const watching = (async () => {
    if (!watcher) return;
    for await (const _ of watcher) reloadSoon();
  })().catch((e) => logger.warn("file watching stopped", { error: String(e) }));
  // Fleet mode: re-announce every check's state now and then, and say "alive" every 30 min
  // (the first time after a random part of that, as Choria does, so a fleet does not beat
  // in step).
  const every = (ms: number, first: number, fn: () => void) => {
    let t = clock.setTimer(first, function tick() {
      fn();
      t = clock.setTimer(ms, tick);
    });
    return { cancel: () => t.cancel() };
  };
  let periodic: { cancel(): void }[] = [];
  const startPeriodic = (fc: FleetConfig) => [
    ...(fc.announceMs > 0
      ? [every(fc.announceMs, fc.announceMs, () => {
        announcing = true;
        try {
          manager.announce();
        } finally {
          announcing = false;
        }
      })]
      : []),
    every(ALIVE_MS, Math.floor(Math.random() * ALIVE_MS), () => lifecycle("alive")),
  ];
  if (fleetConfig) periodic = startPeriodic(fleetConfig);

  /** Joins (or re-joins, after a renewal) the fleet with an enrolment's certificate. */
  const attach = async (fc: FleetConfig) => {
    const old = fleet;
    for (const p of periodic) p.cancel();
    fleet = null;
    await old?.stop();
    fleetConfig = fc;
    fleet = await joinFleet(fc, config, logger, rpcHandler(fc), pushWatcher);
    periodic = startPeriodic(fc);
    // Everyone in the fleet learns this node's checks at once.
    announcing = true;
    try {
      manager.announce();
    } finally {
      announcing = false;
    }
  };
  provisioning = !config.fleet && config.provisioning
    ? startProvisioning(config, config.provisioning, fs, clock, logger, {
      onEnrolled: async (e, fresh) => {
        await attach({ ...config.provisioning!.fleet, ...enrolmentFleet(e) });
        if (fresh) lifecycle("provisioned");
      },
      onLost: async () => {
        for (const p of periodic) p.cancel();
        periodic = [];
        const old = fleet;
        fleet = null;
        fleetConfig = null;
        await old?.stop();
      },
    })
    : null;
  let rescan = clock.setTimer(config.rescanMs, function tick() {
    void manager.reload();
    rescan = clock.setTimer(config.rescanMs, tick);
  });

  let stopping: Promise<void> | null = null;
  return {
    manager,
    stop() {
      stopping ??= (async () => {
        rescan.cancel();
        await provisioning?.stop();
        for (const p of periodic) p.cancel();
        debounce?.cancel();
        watcher?.close();
        await watching;
        await socket.stop();
        await manager.stop();
        lifecycle("shutdown");
        await events?.close();
        await fleet?.stop();
        logger.info("agent stopped");
      })();
      return stopping;
    },
  };
}

/**
 * Joins the fleet: events go into the on-disk spool in the state directory and leave it for
 * JetStream (`scout.node.<token>.>`) once acknowledged. The broker connection is made in the
 * background and retried forever; checks never wait for it. NATS loads only here.
 */
async function joinFleet(
  fleet: FleetConfig,
  config: AgentConfig,
  logger: Logger,
  rpc: RpcHandler,
  onBroker?: (broker: import("./transport/mod.ts").Broker) => { stop(): void },
): Promise<{
  send(ev: ScoutEvent, json: string): void;
  dropped(): number;
  status(): FleetStatus;
  stop(): Promise<void>;
}> {
  const { connectBroker, startSpooledPublisher } = await import("./transport/mod.ts");
  const broker = await connectBroker({
    urls: fleet.urls,
    tls: {
      ca: fleet.ca,
      ...(fleet.cert ? { cert: fleet.cert } : {}),
      ...(fleet.key ? { key: fleet.key } : {}),
    },
    ...(fleet.creds ? { creds: fleet.creds } : {}),
    name: `scout-agent ${config.identity}`,
    inboxPrefix: `_INBOX_${identityToken(config.identity)}`,
    firstConnect: "retry",
    onEvent: (e) =>
      e.kind === "connected"
        ? logger.info("broker connected", { server: e.detail })
        : logger.warn(`broker ${e.kind}`, { detail: e.detail }),
  });
  // The node API: this node's subjects and the whole fleet's, answered on the reply subject.
  const token = identityToken(config.identity);
  const onRequest = (m: BusMessage) => {
    const respond = m.respond;
    if (!respond) return; // not a request: nobody to answer
    const action = m.subject.slice(m.subject.lastIndexOf(".") + 1);
    void rpc(action, m.data).then(
      respond,
      (e) => logger.warn("RPC reply failed", { error: formatError(e) }),
    );
  };
  const apiSubs = [`scout.api.${token}.*`, `scout.api._all.*`].map((s) =>
    broker.bus.subscribe(s, onRequest)
  );
  const pushWatch = onBroker?.(broker);
  const spool = openSpool({ dir: `${config.stateDir}/spool`, maxBytes: fleet.spoolBytes });
  if (spool.dropped() > 0) {
    logger.warn("events were dropped from a full spool", { dropped: spool.dropped() });
  }
  const publisher = startSpooledPublisher({
    spool,
    stream: broker.stream,
    onError: (m) => logger.warn("events wait in the spool until the broker is back", { error: m }),
    onRecovered: () => logger.info("spooled events are flowing again"),
  });
  return {
    send(ev, json) {
      spool.append({ id: ev.id, subject: scoutSubject(config.identity, ev), data: json });
      publisher.kick();
    },
    dropped: () => spool.dropped(),
    status: () => ({
      connected: broker.status() === "connected",
      waiting: spool.size().records,
      dropped: spool.dropped(),
    }),
    async stop() {
      // Give the last events (the shutdown event among them) a moment to leave the spool.
      for (let i = 0; i < 40 && spool.size().records > 0 && broker.status() === "connected"; i++) {
        publisher.kick();
        await new Promise((r) => setTimeout(r, 50));
      }
      for (const s of apiSubs) s.unsubscribe();
      pushWatch?.stop();
      await publisher.stop();
      await broker.close();
      spool.close();
    },
  };
}

/** The fleet connection settings an enrolment gives. */
function enrolmentFleet(
  e: Enrolment,
): Pick<FleetConfig, "urls" | "ca" | "cert" | "key" | "issuers" | "groups"> {
  return {
    urls: e.brokers,
    ca: e.caPem,
    cert: e.certPem + e.chainPem,
    key: e.keyPem,
    issuers: e.issuers,
    groups: e.groups,
  };
}

/** Files of a stored enrolment, in `<state-dir>/tls/`. */
function enrolmentFiles(stateDir: string) {
  const dir = `${stateDir}/tls`;
  return { dir, key: `${dir}/key.pem`, info: `${dir}/enrolment.json` };
}

/** The stored enrolment, or null when there is none (or it is unreadable or expired). */
async function loadEnrolment(
  stateDir: string,
  identity: string,
  nowMs: number,
  logger: Logger,
): Promise<Enrolment | null> {
  const { enrolmentSchema } = await import("./provisioning/mod.ts");
  const f = enrolmentFiles(stateDir);
  try {
    const info = enrolmentSchema.parse(JSON.parse(Deno.readTextFileSync(f.info)));
    const keyPem = Deno.readTextFileSync(f.key);
    if (info.identity !== identity) {
      logger.warn("the stored enrolment is for another identity: enrolling again", {
        stored: info.identity,
      });
      return null;
    }
    if (info.notAfterMs <= nowMs) {
      logger.warn("the stored certificate has expired: enrolling again");
      return null;
    }
    return { ...info, keyPem };
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) {
      logger.warn("ignoring an unreadable stored enrolment", { error: String(e) });
    }
    return null;
  }
}

/** Stores an enrolment: the key 0600, written before the certificate that names it. */
async function saveEnrolment(stateDir: string, e: Enrolment, fs: Fs): Promise<void> {
  const f = enrolmentFiles(stateDir);
  await ensureDir(f.dir, 0o700);
  const { keyPem, ...info } = e;
  await fs.writeAtomic(f.key, keyPem, { mode: 0o600 });
  await fs.writeAtomic(f.info, JSON.stringify(info, null, 2) + "\n", { mode: 0o600 });
}

/**
 * The provisioning loop: uses a stored enrolment, or discovers a token and enrols (retried
 * forever with backoff; without a token the agent stays standalone and keeps looking), joins
 * the fleet, renews at two thirds of the certificate's life, and goes back to provisioning
 * when the hub refuses a renewal (a denied or revoked identity).
 */
function startProvisioning(
  config: AgentConfig,
  p: ProvisioningConfig,
  fs: Fs,
  clock: Clock,
  logger: Logger,
  hooks: {
    /** Joined with `e`; `fresh` when the certificate was just issued (not loaded from disk). */
    onEnrolled(e: Enrolment, fresh: boolean): Promise<void>;
    /** The identity is gone (renewal refused or certificate expired). */
    onLost(): Promise<void>;
  },
): { reprovision(): void; stop(): Promise<void> } {
  const abort = new AbortController();
  // An operator's `scout reprovision` wakes the loop, which drops the enrolment and enrols again.
  let forced = false;
  let wake: (() => void) | null = null;
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const done = () => {
        t.cancel();
        wake = null;
        resolve();
      };
      const t = clock.setTimer(Math.max(0, ms), done);
      wake = done;
      abort.signal.addEventListener("abort", done, { once: true });
    });
  const exists = (path: string) => {
    try {
      return Deno.statSync(path).isFile;
    } catch {
      return false;
    }
  };
  const tokenFile = p.sources.file ?? "/etc/scout/provisioning.jwt";
  const anything = () =>
    !!(p.sources.flag || p.sources.env || p.sources.embedded) || exists(tokenFile) ||
    exists(enrolmentFiles(config.stateDir).info);
  const loop = (async () => {
    // Nothing to enrol with: stay standalone without loading the provisioning code, and look
    // for a token file now and then.
    if (!anything()) logger.info(`running standalone: no provisioning token (${tokenFile})`);
    while (!abort.signal.aborted && !anything()) await sleep(30_000);
    if (abort.signal.aborted) return;
    const prov = await import("./provisioning/mod.ts");
    const { createDenoSrvResolver, createPinnedHttps } = await import("./runtime/mod.ts");
    const deps = { https: (ca: string) => createPinnedHttps(ca), now: () => new Date(clock.now()) };
    const resolveSrv = createDenoSrvResolver(p.dnsServer ? { nameServer: p.dnsServer } : {});
    let current = await loadEnrolment(config.stateDir, config.identity, clock.now(), logger);
    let fresh = false;
    let attempt = 0;
    let lastReason = "";
    while (!abort.signal.aborted) {
      if (current === null) {
        try {
          const d = await prov.discoverProvisioning(p.sources, {
            readFile: async (path) => {
              try {
                return await Deno.readTextFile(path);
              } catch (e) {
                if (e instanceof Deno.errors.NotFound) return undefined;
                throw e;
              }
            },
            resolveSrv,
            readResolvConf: () => Deno.readTextFile("/etc/resolv.conf"),
          });
          if (d.kind === "standalone") {
            if (d.reason !== lastReason) logger.info(`running standalone: ${d.reason}`);
            lastReason = d.reason;
            await sleep(prov.retrySchedule(attempt++, Math.random));
            continue;
          }
          const caPem = await prov.pinnedCa(d.claims);
          logger.info("enrolling", { source: d.source, hubs: d.urls.join(",") });
          current = await prov.enrol(
            { identity: config.identity, token: d.token, urls: d.urls, caPem },
            deps,
          );
          await saveEnrolment(config.stateDir, current, fs);
          fresh = true;
          logger.info("enrolled", {
            identity: current.identity,
            brokers: current.brokers.join(","),
          });
        } catch (e) {
          logger.warn("enrolment failed; trying again", { error: formatError(e) });
          await sleep(prov.retrySchedule(attempt++, Math.random));
          continue;
        }
      }
      attempt = 0;
      if (abort.signal.aborted) break;
      await hooks.onEnrolled(current, fresh);
      // Renew at two thirds of the lifetime; on failure retry with backoff until expiry.
      let renewed: Enrolment | null = null;
      let tries = 0;
      while (!abort.signal.aborted && renewed === null) {
        const at = tries === 0
          ? prov.renewAtMs(current)
          : clock.now() + prov.retrySchedule(tries, Math.random);
        await sleep(Math.min(at, current.notAfterMs) - clock.now());
        if (abort.signal.aborted) break;
        if (forced) {
          forced = false;
          logger.warn("re-provisioning at the operator's request");
          await hooks.onLost();
          await Deno.remove(enrolmentFiles(config.stateDir).info).catch(() => {});
          break;
        }
        try {
          renewed = await prov.renew(current, deps);
          await saveEnrolment(config.stateDir, renewed, fs);
          logger.info("certificate renewed", {
            notAfter: new Date(renewed.notAfterMs).toISOString(),
          });
        } catch (e) {
          tries++;
          const refused = e instanceof ScoutError && e.code === "ENROL_REFUSED";
          if (refused || clock.now() >= current.notAfterMs) {
            logger.error("the fleet identity is gone: provisioning again", {
              error: formatError(e),
            });
            await hooks.onLost();
            await Deno.remove(enrolmentFiles(config.stateDir).info).catch(() => {});
            break;
          }
          logger.warn("certificate renewal failed; trying again", { error: formatError(e) });
        }
      }
      current = renewed;
      fresh = renewed !== null;
    }
  })().catch((e) => logger.error("provisioning stopped", { error: formatError(e) }));
  return {
    reprovision() {
      forced = true;
      wake?.();
    },
    async stop() {
      abort.abort();
      await loop;
    },
  };
}

/** Answers one node API request: the subject's action and the raw request in, the reply out. */
type RpcHandler = (action: string, raw: Uint8Array) => Promise<Uint8Array>;

/** The trusted token issuers of a fleet connection: `--rpc-trust`, then enrolment's or the broker CA. */
async function fleetTrust(
  fc: FleetConfig,
  rpc: RpcConfig | undefined,
): Promise<import("./rpc/mod.ts").TrustedIssuer[]> {
  const { parseTrustedIssuer } = await import("./rpc/mod.ts");
  const out = (rpc?.trust ?? []).map((t) => parseTrustedIssuer(t.text, t.where));
  if (fc.issuers !== undefined && fc.issuers.length > 0) {
    for (const [i, text] of fc.issuers.entries()) {
      try {
        out.push(parseTrustedIssuer(text, `enrolment issuer ${i + 1}`));
      } catch { /* an issuer this agent cannot use is not trusted */ }
    }
  } else if (!out.some((t) => t.kind === "fleet-ca")) {
    out.push(parseTrustedIssuer(fc.ca, "--tls-ca"));
  }
  return out;
}

/**
 * Builds the node API service over the manager: the local policy file (re-read when it
 * changes; a broken file fails closed), the audit log in `<state-dir>/audit/rpc.log` and the
 * goss engine in its untrusted mode for rules sent over the network.
 */
async function createAgentRpc(
  config: AgentConfig,
  deps: {
    manager: Manager;
    clock: Clock;
    logger: Logger;
    trust: () => import("./rpc/mod.ts").TrustedIssuer[];
    gossHost: () => ReturnType<typeof createDenoGossHost>;
    pushed?: () => unknown;
  },
): Promise<RpcHandler> {
  const rpcMod = await import("./rpc/mod.ts");
  const { createDenoAuditSink } = await import("./runtime/audit_file.ts");
  const { manager, clock, logger } = deps;
  const rc = config.rpc;
  const policyFile = rc ? rc.policyFile : DEFAULT_POLICY_FILE;
  const auditDir = `${config.stateDir}/audit`;
  await ensureDir(auditDir, 0o700);
  const audit = rpcMod.createAuditLog({
    sink: createDenoAuditSink(auditDir),
    path: `${auditDir}/rpc.log`,
    ...(rc?.auditMaxBytes ? { maxBytes: rc.auditMaxBytes } : {}),
    clock,
  });
  // The policy, re-read when its modification time changes (checked at most every 2 s).
  let policy: import("./rpc/mod.ts").LocalPolicy | undefined;
  let policyStamp = "";
  let policyCheckedAt = -Infinity;
  const loadPolicy = () => {
    if (policyFile === null) return undefined;
    const now = clock.now();
    if (now - policyCheckedAt < 2_000) return policy;
    policyCheckedAt = now;
    let stamp = "absent";
    try {
      const st = Deno.statSync(policyFile);
      stamp = `${st.mtime?.getTime()}:${st.size}`;
    } catch { /* absent: no local policy */ }
    if (stamp === policyStamp) return policy;
    policyStamp = stamp;
    if (stamp === "absent") {
      policy = undefined;
      return policy;
    }
    try {
      policy = rpcMod.parsePolicy(Deno.readTextFileSync(policyFile), policyFile);
      logger.info("RPC policy loaded", { file: policyFile, rules: policy.rules.length });
    } catch (e) {
      // Fail closed: listing only, until the file is fixed.
      policy = { require_allow_rule: true, rules: [] };
      logger.error("the RPC policy is broken: only listing is allowed until it is fixed", {
        error: formatError(e),
      });
    }
    return policy;
  };
  loadPolicy();
  const stateDir = await Deno.realPath(config.stateDir).catch(() => config.stateDir);
  const service = rpcMod.createRpcService({
    node: config.identity,
    control: {
      list: (checksOnly) => manager.list(checksOnly),
      trigger: (names) => manager.trigger(names),
      maintenance: (names, m) => manager.maintenance(names, m),
      resume: (names) => manager.resume(names),
      states: () => machineStates(manager),
      transition: async (name, transition) => {
        const m = manager.get(name);
        if (!m) return { ok: false, reason: `unknown machine ${name}` };
        const r = await m.transition(transition, "operator");
        return r.kind === "invalid" ? { ok: false, reason: r.reason } : { ok: true };
      },
    },
    trust: deps.trust,
    ...(deps.pushed ? { pushed: deps.pushed } : {}),
    policy: loadPolicy,
    audit,
    clock,
    ...(rc?.maxBytes ? { maxBytes: rc.maxBytes } : {}),
    rateLimit: { perCallerPerMinute: rc?.perCallerPerMinute ?? 120 },
    maxConcurrent: rc?.maxConcurrent ?? 2,
    // Due check starts (timers) run before each request: requests never delay checks.
    yieldToTimers: () => new Promise((resolve) => setTimeout(resolve, 0)),
    goss: (req) => runGossRequest(req, { stateDir, host: deps.gossHost(), clock }),
    onError: (message, detail) => logger.error(message, detail),
  });
  return (action, raw) => service.handle(action, raw);
}

/** Choria's MachineState of every hosted machine. */
function machineStates(manager: Manager): import("./rpc/mod.ts").MachineStateInfo[] {
  return manager.list(false).map((info) => {
    const m = manager.get(info.name);
    const state = info.state;
    const scout = info.nagios !== null;
    return {
      name: info.name,
      version: info.version,
      state,
      path: m?.spec.location.file ?? m?.spec.dir ?? "",
      id: info.instanceId,
      start_time: info.startTime,
      available_transitions: (m?.spec.transitions ?? []).filter((t) => t.from.includes(state))
        .map((t) => t.name),
      scout,
      ...(scout ? { current_state: info.status } : {}),
    };
  });
}

/**
 * goss_validate on the node: a gossfile (and vars file) on the node outside the state
 * directory, or rules sent with the request, which run in goss's untrusted mode (no includes,
 * no readFile, no resource types that run programs, nothing inside the state directory).
 * The reply has Choria's fields: failures, results, runtime, success, skipped, summary, tests.
 */
async function runGossRequest(
  req: import("./rpc/mod.ts").GossRequest,
  deps: { stateDir: string; host: ReturnType<typeof createDenoGossHost>; clock: Clock },
): Promise<Record<string, unknown>> {
  const g = await import("./goss/mod.ts");
  for (const [flag, path] of [["file", req.file], ["vars", req.vars]] as const) {
    if (path === undefined) continue;
    if (!path.startsWith("/") || path.split("/").includes("..")) {
      throw new ScoutError("USAGE", `${flag} must be an absolute path without "..": ${path}`);
    }
    if (path === deps.stateDir || path.startsWith(`${deps.stateDir}/`)) {
      throw new ScoutError("USAGE", `${flag} is inside the agent's state directory: refused`);
    }
  }
  const host = await deps.host;
  const spec = await g.loadGossfile(req.file ?? "rules-sent-over-rpc.yaml", {
    host,
    resources: g.RESOURCE_TYPES,
    untrusted: req.untrusted,
    ...(req.rules !== undefined ? { text: req.rules } : {}),
    ...(req.vars !== undefined ? { vars: [req.vars] } : {}),
    ...(req.yamlVars !== undefined ? { varsInline: req.yamlVars } : {}),
  });
  if (req.untrusted) {
    const runs = new Set(g.RESOURCE_TYPES.filter((t) => t.runsCommands).map((t) => t.type));
    const bad = [...new Set(spec.resources.filter((r) => runs.has(r.type)).map((r) => r.type))];
    if (bad.length > 0) {
      throw new ScoutError(
        "AUTH_DENIED",
        `${
          bad.join(", ")
        } resources are refused in rules sent over RPC (they run programs on the node)`,
      );
    }
  }
  const started = deps.clock.now();
  const timeout = Promise.withResolvers<"timeout">();
  const timer = deps.clock.setTimer(20_000, () => timeout.resolve("timeout"));
  try {
    const results = await Promise.race([
      g.validate(spec, {
        resources: g.RESOURCE_TYPES,
        host,
        maxConcurrent: 4,
        deniedPaths: [deps.stateDir],
        untrusted: req.untrusted,
      }),
      timeout.promise,
    ]);
    if (results === "timeout") throw new ScoutError("CONTROL", "goss validate timed out after 20s");
    const doc = g.structuredDocument(results) as { results: unknown[] };
    const s = results.summary;
    return {
      failures: s["failed-count"],
      results: doc.results,
      runtime: (deps.clock.now() - started) / 1000,
      success: s["test-count"] - s["failed-count"] - s["skipped-count"],
      skipped: s["skipped-count"],
      summary: s["summary-line"],
      tests: s["test-count"],
    };
  } finally {
    timer.cancel();
  }
}

/** The last time an event can carry (9999-12-31T23:59:59.999Z). */
const MAX_EVENT_MS = 253_402_300_799_999;

/**
 * Watches this node's keys of the pushed-checks bucket (`node.<token>` and `group.<g>`) and
 * hands every entry to the push applier (verify, write `<pushed>/<key>.yaml`, reload). A
 * missing bucket or a broker not yet connected is retried quietly with backoff.
 */
function startPushWatch(
  broker: import("./transport/mod.ts").Broker,
  d: {
    config: AgentConfig;
    pushedDir: string;
    logger: Logger;
    clock: Clock;
    trust: () => Promise<import("./rpc/mod.ts").TrustedIssuer[]>;
    trustNow: () => import("./rpc/mod.ts").TrustedIssuer[];
    groups: () => string[];
    manager: () => Manager | null;
    writeAtomic: (path: string, text: string) => Promise<void>;
    applier: (a: import("./push/mod.ts").PushApplier) => void;
    existing: () => import("./push/mod.ts").PushApplier | null;
    /** Sends a push event (applied or refused) like every other event of the node. */
    emit: (ev: ScoutEvent) => void;
  },
): { stop(): void } {
  let stopped = false;
  let timer: { cancel(): void } | null = null;
  const watches: { stop(): void }[] = [];
  const { logger, pushedDir } = d;
  const fileOf = (key: string) => `${pushedDir}/${key}.yaml`;
  const reportPush = (o: import("./push/mod.ts").PushOutcome) => {
    const meta = { eventId: crypto.randomUUID(), timeMs: d.clock.now() };
    try {
      if (o.kind === "applied") {
        const a = o.applied;
        d.emit(pushAppliedEvent({
          identity: d.config.identity,
          key: a.key,
          seq: a.seq,
          author: a.author,
          issuer: a.issuer ?? "",
          issuedMs: a.issued,
          checks: a.checks ?? [],
          removed: a.removed,
        }, meta));
      } else if (o.kind === "refused") {
        const r = o.refused;
        d.emit(pushRefusedEvent({
          identity: d.config.identity,
          key: r.key,
          seq: r.seq,
          author: r.author,
          issuer: r.issuer,
          // A claimed time no RFC3339 year can show is reported as unreadable.
          issuedMs: r.issued !== null && r.issued <= MAX_EVENT_MS ? r.issued : null,
          checks: r.checks,
          step: r.step,
          reason: r.reason,
        }, meta));
      }
    } catch (e) {
      logger.warn("cannot report a push outcome as an event", { error: formatError(e) });
    }
  };
  const run = async (attempt: number): Promise<void> => {
    if (stopped) return;
    try {
      const push = await import("./push/mod.ts");
      await d.trust();
      let applier = d.existing();
      if (applier === null) {
        let state: import("./push/mod.ts").PushState = {};
        try {
          state = JSON.parse(await Deno.readTextFile(`${pushedDir}/state.json`));
        } catch { /* none yet */ }
        applier = push.createPushApplier({
          node: d.config.identity,
          groups: d.groups,
          trust: d.trustNow,
          now: () => d.clock.now(),
          state,
          ports: {
            writeChecks: (key, text) => d.writeAtomic(fileOf(key), text),
            removeChecks: (key) =>
              Deno.remove(fileOf(key)).catch((e) => {
                if (!(e instanceof Deno.errors.NotFound)) throw e;
              }),
            saveState: (st) =>
              d.writeAtomic(`${pushedDir}/state.json`, JSON.stringify(st, null, 2) + "\n"),
            otherCheckNames: (key) => {
              const m = d.manager();
              if (!m) return [];
              return m.list(false).filter((i) =>
                !(m.get(i.name)?.spec.location.file ?? "").endsWith(`/pushed/${key}.yaml`)
              ).map((i) => i.name);
            },
            reload: async (key) => {
              const m = d.manager();
              if (!m) return [];
              const r = await m.reload();
              return r.problems.filter((p) => p.file.endsWith(`/pushed/${key}.yaml`))
                .flatMap((p) => p.errors.map((e) => formatError(e)));
            },
          },
          onOutcome: (o) => {
            reportPush(o);
            switch (o.kind) {
              case "applied":
                logger.info("pushed checks applied", {
                  key: o.applied.key,
                  seq: o.applied.seq,
                  author: o.applied.author,
                  removed: o.applied.removed,
                });
                break;
              case "refused":
                logger.error("pushed bundle refused; the last good one keeps running", {
                  key: o.refused.key,
                  seq: o.refused.seq,
                  author: o.refused.author,
                  reason: o.refused.reason,
                });
                break;
              case "ignored-delete":
                logger.warn("an unsigned deletion of pushed checks was ignored", {
                  key: o.key,
                  operation: o.operation,
                });
                break;
              case "unchanged":
                break;
            }
          },
        });
        d.applier(applier);
      }
      const kv = await broker.kv(push.CHECKS_BUCKET);
      const keys = [
        push.nodeKey(d.config.identity),
        ...d.groups().filter((g) => GROUP_PATTERN.test(g)).map(push.groupKey),
      ];
      const a = applier;
      for (const key of keys) {
        const w = await kv.watch(key, (e) => {
          void a.handle(e).catch((err) =>
            logger.error("applying pushed checks failed", { key, error: formatError(err) })
          );
        }, { onError: (detail) => logger.warn("pushed checks watch", { detail }) });
        if (stopped) w.stop();
        else watches.push(w);
      }
    } catch (e) {
      for (const w of watches.splice(0)) w.stop();
      if (stopped) return;
      logger.debug("pushed checks not watched yet; retrying", { error: formatError(e) });
      timer = d.clock.setTimer(Math.min(15_000, 500 * 2 ** attempt), () => {
        timer = null;
        void run(attempt + 1);
      });
    }
  };
  void run(0);
  return {
    stop() {
      stopped = true;
      timer?.cancel();
      for (const w of watches.splice(0)) w.stop();
    },
  };
}
