import {
  type CheckSpec,
  loadCheckFile,
  loadMachineFile,
  type MachineSpec,
  scoutCheckMachine,
  type WatcherSpec,
} from "../config/mod.ts";
import { formatError, ScoutError } from "../errors.ts";
import { type PromCheck, renderTextfile, TEXTFILE_NAME } from "../prometheus.ts";
import type { Fs, Timer } from "../runtime/mod.ts";
import { watcherPlugin, watcherSchemas } from "../watchers/mod.ts";
import {
  type ControlOutcome,
  createMachine,
  type HostedMachine,
  type MachineDeps,
  type MachineInfo,
  type MachineSnapshot,
  type Maintenance,
} from "./machine.ts";

/** Settings and ports of the machine manager. */
export interface ManagerOptions extends Omit<MachineDeps, "changed"> {
  /** File access; writes are confined by the Fs itself. */
  fs: Fs;
  /** Directories of check files (`*.yaml`, `*.yml`). */
  checksDirs: string[];
  /** Directories of Choria machines (`<name>/machine.yaml`). */
  machinesDirs: string[];
  /** Where machine state is kept. */
  stateDir: string;
  /** Prometheus textfile directory, or null for none. */
  textfileDir: string | null;
  /** Coalescing delay for textfile writes after a result, ms. @default 1000 */
  textfileDelayMs?: number;
  /**
   * Coalescing delay for state writes after a result (history, counters), ms; state changes
   * (transitions, maintenance) are written and synced at once. @default 5000
   */
  stateDelayMs?: number;
}

/** A problem with one file, and whether its last good version keeps running. */
export interface FileProblem {
  /** The file. */
  file: string;
  /** The errors found. */
  errors: ScoutError[];
  /** True when an older good version of the file's checks is still running. */
  keptLastGood: boolean;
}

/** What a (re)load did. */
export interface LoadReport {
  /** Machines started for the first time or after a change. */
  started: string[];
  /** Machines stopped because they were removed or changed. */
  stopped: string[];
  /** Machines left running untouched. */
  kept: string[];
  /** Files with errors. */
  problems: FileProblem[];
}

/** The result of an operator request over several checks. */
export interface ControlReply {
  /** Checks that moved. */
  transitioned: string[];
  /** Checks for which the request did not apply, with why. */
  skipped: { name: string; reason: string }[];
  /** Unknown checks and failures, with why. */
  failed: { name: string; reason: string }[];
}

/** Loads checks and machines, runs them, reloads what changed, persists state. */
export interface Manager {
  /** Scans all directories and starts, keeps or stops machines to match. */
  reload(): Promise<LoadReport>;
  /** Stops every machine and flushes state. */
  stop(): Promise<void>;
  /** Every running machine's info with its latest status, sorted by name; `checksOnly` keeps machines with a nagios watcher. */
  list(checksOnly?: boolean): MachineInfo[];
  /** A machine by name. */
  get(name: string): HostedMachine | undefined;
  /** FORCE_CHECK on the named checks, or on every check when none are named. */
  trigger(names: string[]): Promise<ControlReply>;
  /** MAINTENANCE on the named checks (or all). */
  maintenance(names: string[], m: Maintenance): Promise<ControlReply>;
  /** RESUME on the named checks (or all). */
  resume(names: string[]): Promise<ControlReply>;
  /** Re-sends every machine's current state. */
  announce(): void;
}

interface FileRecord {
  /** The text last read, good or not. */
  text: string | null;
  /** The machines of the last good version. */
  machines: Map<string, MachineSpec>;
  /** Errors of the text last read; empty when it was good. */
  errors: ScoutError[];
}

function validateWatchers(
  spec: Omit<MachineSpec, "watchers">,
  raw: ReturnType<typeof scoutCheckMachine>["watchers"],
): MachineSpec {
  const watchers: WatcherSpec[] = raw.map((w) => {
    const plugin = watcherPlugin(w.type);
    if (!plugin) throw new Error(`watcher type "${w.type}" is not registered`);
    const parsed = plugin.properties.safeParse(w.rawProperties);
    if (!parsed.success) {
      throw new ScoutError(
        "CONFIG_INVALID",
        `Check "${spec.name}" has invalid ${w.type} properties`,
        {
          location: spec.location,
          hint: parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "),
        },
      );
    }
    const out: WatcherSpec = {
      name: w.name,
      type: w.type,
      stateMatch: w.stateMatch,
      properties: parsed.data,
      location: spec.location,
    };
    if (w.successTransition !== undefined) out.successTransition = w.successTransition;
    if (w.intervalMs !== undefined) out.intervalMs = w.intervalMs;
    return out;
  });
  return { ...spec, watchers };
}

/** Turns a check file entry into the canonical Scout check machine. */
export function checkMachine(check: CheckSpec, dir: string): MachineSpec {
  const built = scoutCheckMachine(check, dir);
  const watchers = built.watchers.map((w) =>
    w.type === "exec" && w.intervalMs !== undefined
      ? { ...w, rawProperties: { ...w.rawProperties, min_interval: w.intervalMs } }
      : w
  );
  return validateWatchers(built.machine, watchers);
}

function dirOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "." : path.slice(0, i);
}

/** Creates the manager; call reload() to load and start. */
export function createManager(options: ManagerOptions): Manager {
  const { fs, clock, logger, textfileDelayMs = 1000, stateDelayMs = 5000 } = options;
  const files = new Map<string, FileRecord>();
  const running = new Map<string, { machine: HostedMachine; file: string }>();
  const persistTimers = new Map<string, Timer>();
  const startTimeMs = clock.now();
  let textfileTimer: Timer | null = null;
  let reloading: Promise<LoadReport> | null = null;
  const schemas = watcherSchemas();
  const stateFile = (name: string) => `${options.stateDir}/machines/${name}.json`;

  // State files are written one at a time through this queue: many concurrent writes would
  // grow Deno's blocking thread pool (and the agent's memory) for no gain.
  const queued = new Map<string, boolean>();
  let draining: Promise<void> | null = null;

  function writeState(name: string, sync: boolean): Promise<void> {
    queued.set(name, (queued.get(name) ?? false) || sync);
    draining ??= drain();
    return draining;
  }

  async function drain(): Promise<void> {
    for (const [name, sync] of queued) {
      queued.delete(name);
      const entry = running.get(name);
      if (!entry) continue;
      try {
        await fs.writeAtomic(stateFile(name), JSON.stringify(entry.machine.snapshot()) + "\n", {
          sync,
        });
      } catch (e) {
        logger.error("cannot write machine state", { machine: name, error: formatError(e) });
      }
    }
    draining = null;
  }

  async function writeTextfile(): Promise<void> {
    if (options.textfileDir === null) return;
    const checks: PromCheck[] = [];
    for (const info of list(true, false)) {
      const n = info.nagios!;
      checks.push({
        name: info.name,
        status: info.state === "MAINTENANCE" ? "MAINTENANCE" : n.hardStatus ?? "UNKNOWN",
        lastRunMs: n.lastRunMs,
        checksCount: n.checksCount,
      });
    }
    try {
      await fs.writeAtomic(
        `${options.textfileDir}/${TEXTFILE_NAME}`,
        renderTextfile(startTimeMs, checks),
        {
          mode: 0o644,
          sync: false,
        },
      );
    } catch (e) {
      logger.error("cannot write the Prometheus textfile", { error: formatError(e) });
    }
  }

  function changed(name: string, urgent: boolean) {
    if (urgent) {
      persistTimers.get(name)?.cancel();
      persistTimers.delete(name);
      void writeState(name, true);
    } else if (!persistTimers.has(name)) {
      persistTimers.set(
        name,
        clock.setTimer(stateDelayMs, () => {
          persistTimers.delete(name);
          void writeState(name, false);
        }),
      );
    }
    // The textfile is rendered for all checks at once: one write per second at most, however
    // many checks change (a scrape every 15-60 s sees no difference; 1,500 checks changing
    // at start-up would otherwise render it 1,500 times).
    if (!textfileTimer) {
      textfileTimer = clock.setTimer(textfileDelayMs, () => {
        textfileTimer = null;
        void writeTextfile();
      });
    }
  }

  const machineDeps: MachineDeps = { ...options, changed };

  async function readSnapshot(name: string): Promise<MachineSnapshot | undefined> {
    try {
      const parsed = JSON.parse(await fs.readText(stateFile(name)));
      if (parsed && typeof parsed.state === "string" && typeof parsed.instanceId === "string") {
        return { watchers: {}, maintenance: null, ...parsed };
      }
    } catch (e) {
      if (!(e instanceof Error && e.name === "NotFound")) {
        logger.warn("ignoring unreadable machine state", { machine: name, error: String(e) });
      }
    }
    return undefined;
  }

  async function scan(): Promise<Map<string, string | null>> {
    const found = new Map<string, string | null>();
    for (const dir of options.checksDirs) {
      for (const e of await fs.list(dir)) {
        if (e.isFile && /\.ya?ml$/.test(e.name) && !e.name.startsWith(".")) {
          found.set(`${dir}/${e.name}`, null);
        }
      }
    }
    for (const dir of options.machinesDirs) {
      for (const e of await fs.list(dir)) {
        if (
          !e.isDirectory || e.name.startsWith(".") || e.name === "tmp" || e.name.endsWith("-temp")
        ) continue;
        const file = `${dir}/${e.name}/machine.yaml`;
        if ((await fs.list(`${dir}/${e.name}`)).some((x) => x.name === "machine.yaml")) {
          found.set(file, null);
        }
      }
    }
    for (const file of found.keys()) {
      try {
        found.set(file, await fs.readText(file));
      } catch {
        found.delete(file);
      }
    }
    return found;
  }

  function parse(
    file: string,
    text: string,
  ): { machines: MachineSpec[] } | { errors: ScoutError[] } {
    if (
      file.endsWith("/machine.yaml") && options.machinesDirs.some((d) => file.startsWith(d + "/"))
    ) {
      const r = loadMachineFile(text, file, dirOf(file), { watcherTypes: schemas });
      return r.ok ? { machines: [r.value] } : { errors: r.errors };
    }
    const r = loadCheckFile(text, file);
    if (!r.ok) return { errors: r.errors };
    try {
      return { machines: r.value.map((c) => checkMachine(c, dirOf(file))) };
    } catch (e) {
      return {
        errors: [e instanceof ScoutError ? e : new ScoutError("CONFIG_INVALID", String(e))],
      };
    }
  }

  async function doReload(): Promise<LoadReport> {
    const report: LoadReport = { started: [], stopped: [], kept: [], problems: [] };
    const found = await scan();
    // Decide the wanted set: each file's new good version, or its last good one.
    const wanted = new Map<string, { spec: MachineSpec; file: string }>();
    for (const [file, text] of [...found.entries()].sort(([a], [b]) => a.localeCompare(b))) {
      const prev = files.get(file);
      let record = prev;
      if (!prev || prev.text !== text) {
        const r = parse(file, text ?? "");
        record = "errors" in r
          ? { text, machines: prev?.machines ?? new Map(), errors: r.errors }
          : { text, machines: new Map(r.machines.map((m) => [m.name, m])), errors: [] };
        files.set(file, record);
        for (const err of record.errors) {
          logger.error(formatError(err).replace(/\n/g, " "), {
            kept_last_good: record.machines.size > 0,
          });
        }
      }
      const specs = record!.machines;
      if (record!.errors.length) {
        report.problems.push({ file, errors: record!.errors, keptLastGood: specs.size > 0 });
      }
      for (const [name, spec] of specs) {
        const other = wanted.get(name);
        if (other) {
          const err = new ScoutError(
            "CONFIG_DUPLICATE",
            `Check "${name}" is also defined in ${other.file}`,
            {
              location: spec.location,
              hint: "check and machine names must be unique across all files; rename one",
            },
          );
          report.problems.push({ file, errors: [err], keptLastGood: false });
          logger.error(formatError(err).replace(/\n/g, " "), { file });
          continue;
        }
        wanted.set(name, { spec, file });
      }
    }
    for (const file of [...files.keys()]) if (!found.has(file)) files.delete(file);

    // Stop what is gone or changed.
    const carried = new Map<string, MachineSnapshot>();
    for (const [name, entry] of [...running.entries()]) {
      const want = wanted.get(name);
      if (want && want.spec.hash === entry.machine.spec.hash) continue;
      await entry.machine.stop();
      running.delete(name);
      report.stopped.push(name);
      if (want) carried.set(name, { ...entry.machine.snapshot(), instanceId: options.newId() });
      else {
        persistTimers.get(name)?.cancel();
        persistTimers.delete(name);
        queued.delete(name);
        await draining;
        await fs.remove(stateFile(name)).catch(() => {});
      }
    }
    // Create what is new or changed, then start it all at once: checks that ran while the
    // rest was still loading slowed a large start-up down many times over.
    const fresh: HostedMachine[] = [];
    for (const [name, want] of wanted) {
      if (running.has(name)) {
        report.kept.push(name);
        continue;
      }
      const saved = carried.get(name) ?? await readSnapshot(name);
      try {
        const machine = createMachine(want.spec, machineDeps, saved);
        running.set(name, { machine, file: want.file });
        fresh.push(machine);
        report.started.push(name);
      } catch (e) {
        logger.error("cannot start machine", { machine: name, error: formatError(e) });
      }
    }
    for (const machine of fresh) machine.start();
    if (report.started.length || report.stopped.length) void writeTextfile();
    return report;
  }

  function list(checksOnly = false, withStatus = true): MachineInfo[] {
    return [...running.values()]
      .map((e) => e.machine.info(withStatus))
      .filter((i) => !checksOnly || i.nagios !== null)
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  async function control(
    names: string[],
    act: (m: HostedMachine) => Promise<ControlOutcome>,
  ): Promise<ControlReply> {
    const reply: ControlReply = { transitioned: [], skipped: [], failed: [] };
    const targets = names.length ? names : list(true, false).map((i) => i.name);
    for (const name of targets) {
      const entry = running.get(name);
      if (!entry) {
        reply.failed.push({ name, reason: `unknown check "${name}"` });
        continue;
      }
      const r = await act(entry.machine);
      if (r.kind === "transitioned") reply.transitioned.push(name);
      else if (r.kind === "skipped") reply.skipped.push({ name, reason: r.reason });
      else reply.failed.push({ name, reason: r.reason });
    }
    return reply;
  }

  return {
    reload() {
      // Reloads never overlap: a request during a reload waits for it and runs again.
      const next = (reloading ?? Promise.resolve()).then(doReload, doReload);
      reloading = next;
      return next;
    },
    async stop() {
      await reloading?.catch(() => {});
      textfileTimer?.cancel();
      await Promise.all([...running.values()].map((e) => e.machine.stop()));
      for (const t of persistTimers.values()) t.cancel();
      persistTimers.clear();
      await Promise.all([...running.keys()].map((name) => writeState(name, true)));
      await writeTextfile();
    },
    list: (checksOnly) => list(checksOnly),
    get: (name) => running.get(name)?.machine,
    trigger: (names) => control(names, (m) => m.trigger()),
    maintenance: (names, m) => control(names, (x) => x.maintenance(m)),
    resume: (names) => control(names, (m) => m.resume()),
    announce() {
      for (const e of running.values()) e.machine.announce();
    },
  };
}
