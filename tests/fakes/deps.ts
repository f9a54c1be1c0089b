import { createDenoGossHost, nullLogger } from "../../src/runtime/mod.ts";
import type { WatcherDeps } from "../../src/watchers/mod.ts";
import type { FakeClock } from "./clock.ts";
import { fakeResolver, type FakeRunner } from "./runner.ts";

/** Watcher deps over a fake clock and runner: every program resolves under /plugins. */
export function fakeWatcherDeps(clock: FakeClock, runner: FakeRunner): WatcherDeps {
  return {
    clock,
    logger: nullLogger,
    runner,
    resolveProgram: fakeResolver,
    pluginDirs: ["/plugins"],
    maxOutputBytes: 65536,
    path: "/usr/bin:/bin",
    gossHost: () => createDenoGossHost(),
  };
}
