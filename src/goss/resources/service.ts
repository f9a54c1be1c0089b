/**
 * goss `service`: whether a service is enabled and running (and its SysV/OpenRC runlevels).
 * The backend follows what actually runs as init: systemd when it is booted
 * (/run/systemd/system), via `systemctl -q is-enabled|is-active`; OpenRC when booted
 * (/run/openrc), via /etc/runlevels and `rc-service <n> status`; else SysV when
 * /etc/init.d/<n> exists, via /etc/rc?.d/S??<n> links and `/etc/init.d/<n> status`.
 * When systemd is installed but not running (containers, chroots) and the service has no
 * SysV script, `enabled` still comes from the unit files (systemctl reads them offline) but
 * `running` is an error saying so, never a silent false.
 * @module
 */
import type { Attrs, GossContext, GossResourceType, GossSystem } from "../types.ts";
import { exists, firstLine, lazy, runTool, systemOf } from "./_util.ts";

/** Directory systemd creates when it is the running init (sd_booted(3)). */
export const SYSTEMD_BOOTED = "/run/systemd/system";
/** Directory OpenRC creates when it is the running init. */
export const OPENRC_BOOTED = "/run/openrc";

/** How a service is asked about. */
export type ServiceBackend =
  | { kind: "systemd" }
  | { kind: "openrc" }
  | { kind: "sysv"; script: string }
  | { kind: "systemd-offline" }
  | { kind: "sysv-absent" }
  | { kind: "none" };

/** Picks the backend for one service name. */
export async function serviceBackend(ctx: GossContext, name: string): Promise<ServiceBackend> {
  if ((await ctx.host.stat(SYSTEMD_BOOTED, true))?.filetype === "directory") {
    return { kind: "systemd" };
  }
  if (await exists(ctx, OPENRC_BOOTED)) return { kind: "openrc" };
  const script = `/etc/init.d/${name}`;
  if (await exists(ctx, script)) return { kind: "sysv", script };
  if ((await ctx.host.which("systemctl")) !== null) return { kind: "systemd-offline" };
  if (await exists(ctx, "/etc/init.d")) return { kind: "sysv-absent" };
  return { kind: "none" };
}

/** systemctl's complaints that mean "cannot ask systemd", not "no". */
const SYSTEMD_UNREACHABLE =
  /Failed to connect to bus|has not been booted with systemd|Transport endpoint is not connected/;

async function systemctl(
  ctx: GossContext,
  verb: "is-enabled" | "is-active",
  name: string,
): Promise<boolean> {
  const r = await runTool(ctx, ["systemctl", "-q", verb, "--", name], {
    purpose: "to ask systemd about services",
  });
  if (r.code === 0) return true;
  const said = `${r.stderr}\n${r.stdout}`;
  if (SYSTEMD_UNREACHABLE.test(said)) {
    throw new Error(`systemctl ${verb} ${name}: cannot reach systemd: ${firstLine(r.stderr)}`);
  }
  return false;
}

/** Runlevels (directory suffixes) in which /etc/rc<level>.d holds an S??<name> link. */
async function sysvRunlevels(ctx: GossContext, name: string): Promise<string[]> {
  const levels: string[] = [];
  const start = new RegExp(`^S\\d\\d${name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`);
  for (const level of ["0", "1", "2", "3", "4", "5", "6", "S"]) {
    let entries: string[];
    try {
      entries = await ctx.host.readDir(`/etc/rc${level}.d`);
    } catch {
      continue;
    }
    if (entries.some((e) => start.test(e))) levels.push(level);
  }
  return levels;
}

/** OpenRC runlevels (names of /etc/runlevels/*) that contain the service. */
async function openrcRunlevels(ctx: GossContext, name: string): Promise<string[]> {
  const levels: string[] = [];
  let dirs: string[];
  try {
    dirs = await ctx.host.readDir("/etc/runlevels");
  } catch {
    return [];
  }
  for (const level of dirs.sort()) {
    try {
      if ((await ctx.host.readDir(`/etc/runlevels/${level}`)).includes(name)) levels.push(level);
    } catch {
      // not a directory
    }
  }
  return levels;
}

function offlineMessage(name: string): string {
  return `cannot tell whether service ${name} is running: systemd is installed but not running ` +
    `(no ${SYSTEMD_BOOTED}) and there is no SysV script /etc/init.d/${name}`;
}

function serviceSystem(target: string, _attrs: Attrs, ctx: GossContext): GossSystem {
  const backend = lazy(() => serviceBackend(ctx, target));
  const invalid = target.includes("/") || target === "" || target.startsWith("-");

  const enabled = async (): Promise<boolean> => {
    if (invalid) return false;
    const b = await backend();
    switch (b.kind) {
      case "systemd":
      case "systemd-offline":
        return await systemctl(ctx, "is-enabled", target);
      case "openrc":
        return (await openrcRunlevels(ctx, target)).length > 0;
      case "sysv":
        return (await sysvRunlevels(ctx, target)).length > 0;
      case "sysv-absent":
        return false;
      case "none":
        throw new Error(
          `cannot check service ${target}: no service manager found (no systemd, OpenRC or /etc/init.d)`,
        );
    }
  };

  const running = async (): Promise<boolean> => {
    if (invalid) return false;
    const b = await backend();
    switch (b.kind) {
      case "systemd":
        return await systemctl(ctx, "is-active", target);
      case "openrc": {
        const r = await runTool(ctx, ["rc-service", target, "status"], {
          purpose: "to ask OpenRC about services",
        });
        return r.code === 0;
      }
      case "sysv": {
        const r = await ctx.host.run([b.script, "status"], { timeoutMs: 10_000 });
        if (r.timedOut) throw new Error(`${b.script} status timed out`);
        return r.code === 0;
      }
      case "systemd-offline":
        throw new Error(offlineMessage(target));
      case "sysv-absent":
        return false;
      case "none":
        throw new Error(
          `cannot check service ${target}: no service manager found (no systemd, OpenRC or /etc/init.d)`,
        );
    }
  };

  const runlevels = async (): Promise<string[] | null> => {
    if (invalid) return [];
    const b = await backend();
    switch (b.kind) {
      case "openrc":
        return await openrcRunlevels(ctx, target);
      case "sysv":
        return await sysvRunlevels(ctx, target);
      case "sysv-absent":
        return [];
      default:
        return null; // systemd has no runlevels (goss returns null too)
    }
  };

  return systemOf("Service", { enabled, running, runlevels });
}

/** The `service` resource type. */
export const service: GossResourceType = {
  type: "service",
  resultType: "Service",
  idAttr: "name",
  tested: ["enabled", "running", "runlevels"],
  options: [],
  system: serviceSystem,
};
