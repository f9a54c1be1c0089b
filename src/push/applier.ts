/**
 * The node side of network push: takes entries of the node's KV keys, verifies each bundle and
 * applies it through ports (write the checks file beside the local ones, reload), keeping the
 * applied sequence per key. An unsigned deletion removes nothing; a refused bundle is recorded
 * and the last good one keeps running. No I/O of its own: the agent and the benchmark give ports.
 * @module
 */
import type { TrustedIssuer } from "../rpc/mod.ts";
import { type RefusalStep, verifyBundle, type VerifyResult } from "./bundle.ts";

/** One KV entry as the transport delivers it. */
export interface PushEntry {
  /** The key. */
  key: string;
  /** The value; empty for deletions. */
  value: Uint8Array;
  /** PUT, or a (plain, unsigned) DEL/PURGE. */
  operation: "PUT" | "DEL" | "PURGE";
}

/** What a node applied for one key. */
export interface AppliedBundle {
  /** The key. */
  key: string;
  /** The bundle's sequence. */
  seq: number;
  /** Its author (the token's sub). */
  author: string;
  /** The token's issuer (absent in state written before it was recorded). */
  issuer?: string;
  /** When it was signed, ms since the epoch. */
  issued: number;
  /** Names of its checks (empty for a tombstone; absent in older state). */
  checks?: string[];
  /** When this node applied it, ms since the epoch. */
  appliedAt: number;
  /** True for a tombstone (its checks were removed). */
  removed: boolean;
  /** The signature, to recognise the same bundle again. */
  sig: string;
}

/** A bundle this node refused, with why. */
export interface RefusedBundle {
  /** The key. */
  key: string;
  /** Its sequence, when it could be read. */
  seq: number | null;
  /** Its claimed author, when it could be read. */
  author: string | null;
  /** Its claimed issuer, when it could be read. */
  issuer: string | null;
  /** When it claims it was signed, ms since the epoch, when it could be read. */
  issued: number | null;
  /** Names of its checks, when they parsed. */
  checks: string[];
  /** The step that refused it: a verification step, or a clash with other check files. */
  step: RefusalStep | "clash";
  /** Why. */
  reason: string;
  /** When, ms since the epoch. */
  at: number;
}

/** The persisted applied state: key -> applied bundle. */
export type PushState = Record<string, AppliedBundle>;

/** What the applier needs from the node. */
export interface PushPorts {
  /** Writes the checks of `key` atomically where the manager loads them. */
  writeChecks(key: string, text: string): Promise<void>;
  /** Removes the checks file of `key` (absent is fine). */
  removeChecks(key: string): Promise<void>;
  /** Persists the applied state. */
  saveState(state: PushState): Promise<void>;
  /** Names of the checks running now that come from anywhere but `key`'s file. */
  otherCheckNames(key: string): readonly string[];
  /** Reloads the checks (only changed ones restart); returns problems of `key`'s file. */
  reload(key: string): Promise<string[]>;
}

/** Options of createPushApplier. */
export interface PushApplierOptions {
  /** This node's identity. */
  node: string;
  /** This node's groups, read per entry. */
  groups: () => readonly string[];
  /** Trusted token issuers, read per entry. */
  trust: () => readonly TrustedIssuer[];
  /** Current time, ms since the epoch. */
  now: () => number;
  /** The applied state loaded at start. */
  state: PushState;
  /** The node's ports. */
  ports: PushPorts;
  /** Told about every outcome (logging); must not throw. */
  onOutcome?: (o: PushOutcome) => void;
}

/** What happened to one entry. */
export type PushOutcome =
  | { kind: "applied"; applied: AppliedBundle }
  | { kind: "unchanged"; key: string; seq: number }
  | { kind: "ignored-delete"; key: string; operation: "DEL" | "PURGE" }
  | { kind: "refused"; refused: RefusedBundle };

/** A running applier. */
export interface PushApplier {
  /** Handles one entry; entries of one key are handled in order, one at a time. */
  handle(entry: PushEntry): Promise<PushOutcome>;
  /** The applied bundles and the last refusal per key, for `checks` replies. */
  report(): { applied: AppliedBundle[]; refused: RefusedBundle[] };
}

/** Creates the applier over the node's ports. */
export function createPushApplier(opts: PushApplierOptions): PushApplier {
  const state: PushState = { ...opts.state };
  const refused = new Map<string, RefusedBundle>();
  const chains = new Map<string, Promise<unknown>>();
  const tell = (o: PushOutcome): PushOutcome => {
    try {
      opts.onOutcome?.(o);
    } catch { /* a listener must not break applying */ }
    return o;
  };
  const refuse = (
    key: string,
    r: Pick<RefusedBundle, "seq" | "author" | "issuer" | "issued" | "checks" | "step">,
    reason: string,
  ) => {
    const rec: RefusedBundle = {
      key,
      seq: r.seq,
      author: r.author,
      issuer: r.issuer,
      issued: r.issued,
      checks: r.checks,
      step: r.step,
      reason,
      at: opts.now(),
    };
    refused.set(key, rec);
    return tell({ kind: "refused", refused: rec });
  };

  const handleOne = async (entry: PushEntry): Promise<PushOutcome> => {
    const key = entry.key;
    if (entry.operation !== "PUT") {
      return tell({ kind: "ignored-delete", key, operation: entry.operation });
    }
    const applied = state[key];
    const result: VerifyResult = await verifyBundle(entry.value, {
      key,
      node: opts.node,
      groups: opts.groups(),
      trust: opts.trust(),
      now: opts.now(),
      appliedSeq: applied?.seq ?? 0,
    });
    if (!result.ok) {
      if (result.step === "replay" && applied !== undefined && result.seq === applied.seq) {
        // The bundle already applied (the watch's initial value, or a re-put of it).
        const b = JSON.parse(new TextDecoder().decode(entry.value)) as { sig?: string };
        if (b.sig === applied.sig) return tell({ kind: "unchanged", key, seq: applied.seq });
      }
      return refuse(key, result, result.reason);
    }
    const { bundle, specs } = result.value;
    if (bundle.checks !== null) {
      const others = new Set(opts.ports.otherCheckNames(key));
      const clash = specs.map((s) => s.name).filter((n) => others.has(n));
      if (clash.length > 0) {
        return refuse(
          key,
          { ...bundle, checks: specs.map((s) => s.name), step: "clash" },
          `check name(s) ${clash.join(", ")} already defined by another check file on this ` +
            "node: rename them in the pushed file",
        );
      }
      await opts.ports.writeChecks(key, bundle.checks);
    } else {
      await opts.ports.removeChecks(key);
    }
    const about = {
      key,
      seq: bundle.seq,
      author: bundle.author,
      issuer: bundle.issuer,
      issued: bundle.issued,
      checks: specs.map((s) => s.name),
    };
    const rec: AppliedBundle = {
      ...about,
      appliedAt: opts.now(),
      removed: bundle.checks === null,
      sig: bundle.sig,
    };
    state[key] = rec;
    await opts.ports.saveState({ ...state });
    refused.delete(key);
    const problems = await opts.ports.reload(key);
    if (problems.length > 0) {
      // Validated already; a problem here (a clash that appeared meanwhile) is reported.
      refused.set(key, {
        ...about,
        step: "checks",
        reason: `applied, but the manager reports: ${problems.join("; ")}`,
        at: opts.now(),
      });
    }
    return tell({ kind: "applied", applied: rec });
  };

  return {
    handle(entry) {
      const prev = chains.get(entry.key) ?? Promise.resolve();
      const next = prev.then(() => handleOne(entry), () => handleOne(entry));
      chains.set(entry.key, next.catch(() => {}));
      return next;
    },
    report() {
      return {
        applied: Object.values(state).sort((a, b) => a.key.localeCompare(b.key)),
        refused: [...refused.values()].sort((a, b) => a.key.localeCompare(b.key)),
      };
    },
  };
}
