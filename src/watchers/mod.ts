/**
 * Watcher types: one file per type, registered in the explicit list below.
 * Layer 3: may import config, events, nagios, runtime, errors, zod and croner.
 * Adding a type touches this folder and checks.example/ only.
 * @module
 */
import type { z } from "zod";
import { execWatcher } from "./exec.ts";
import { nagiosWatcher } from "./nagios.ts";
import { scheduleWatcher } from "./schedule.ts";
import { timerWatcher } from "./timer.ts";
import type { WatcherPlugin } from "./types.ts";

export { hardness, HISTORY_SIZE } from "./nagios.ts";
export { scheduleWindow } from "./schedule.ts";
export type {
  NagiosInfo,
  ProgramResolver,
  Trigger,
  WatcherContext,
  WatcherDeps,
  WatcherInstance,
  WatcherPlugin,
  WatcherResult,
} from "./types.ts";

/** Every watcher type Scout runs, in one list. */
export const WATCHER_PLUGINS: readonly WatcherPlugin<never>[] = [
  nagiosWatcher,
  execWatcher,
  timerWatcher,
  scheduleWatcher,
] as unknown as WatcherPlugin<never>[];

/** Looks a watcher type up by name. */
export function watcherPlugin(type: string): WatcherPlugin<unknown> | undefined {
  return WATCHER_PLUGINS.find((p) => p.type === type) as WatcherPlugin<unknown> | undefined;
}

/** The properties schema of each type, for the config loader's error locations. */
export function watcherSchemas(): ReadonlyMap<string, z.ZodType> {
  const map = new Map<string, z.ZodType>();
  for (const p of WATCHER_PLUGINS) {
    if (map.has(p.type)) throw new Error(`watcher type "${p.type}" is registered twice`);
    map.set(p.type, p.properties as z.ZodType);
  }
  return map;
}
