import { deepEqual, equal, match } from "node:assert/strict";
import { createDenoGossHost } from "../../runtime/goss_host.ts";
import { service, serviceBackend } from "./service.ts";
import { actual, ctxOf, FakeHost, type FakeHostData, rejection } from "./_testing.ts";

const dir = { filetype: "directory" } as const;

function host(data: FakeHostData): FakeHost {
  return new FakeHost(data);
}

Deno.test("service on booted systemd asks systemctl is-enabled and is-active", async () => {
  const h = host({
    files: { "/run/systemd/system": dir },
    programs: {
      systemctl: (argv) => ({
        code: argv.at(-1) === "nginx" ? 0 : argv[2] === "is-active" ? 3 : 1,
      }),
    },
  });
  const ctx = ctxOf(h);
  equal(await actual(service, "nginx", {}, ctx, "enabled"), true);
  equal(await actual(service, "nginx", {}, ctx, "running"), true);
  equal(await actual(service, "cups", {}, ctx, "enabled"), false);
  equal(await actual(service, "cups", {}, ctx, "running"), false);
  equal(await actual(service, "nginx", {}, ctx, "runlevels"), null);
  deepEqual(h.ran[0], ["/usr/bin/systemctl", "-q", "is-enabled", "--", "nginx"]);
});

Deno.test("service reports an unreachable systemd as an error, not as stopped", async () => {
  const h = host({
    files: { "/run/systemd/system": dir },
    programs: {
      systemctl: { code: 1, stderr: "Failed to connect to bus: No such file or directory\n" },
    },
  });
  match(await rejection(actual(service, "nginx", {}, ctxOf(h), "running")), /cannot reach systemd/);
});

Deno.test("service on booted systemd without systemctl names the systemd package", async () => {
  const h = host({ files: { "/run/systemd/system": dir } });
  match(
    await rejection(actual(service, "nginx", {}, ctxOf(h), "running")),
    /systemctl is not installed.*"systemd"/,
  );
});

Deno.test("service on OpenRC reads /etc/runlevels and asks rc-service status", async () => {
  const h = host({
    files: {
      "/run/openrc/softlevel": { content: "default" },
      "/etc/runlevels/default/sshd": { link: "/etc/init.d/sshd" },
      "/etc/runlevels/boot/sshd": { link: "/etc/init.d/sshd" },
      "/etc/runlevels/boot/hwclock": { link: "/etc/init.d/hwclock" },
    },
    programs: { "rc-service": (argv) => ({ code: argv[1] === "sshd" ? 0 : 3 }) },
  });
  const ctx = ctxOf(h);
  equal(await actual(service, "sshd", {}, ctx, "enabled"), true);
  equal(await actual(service, "sshd", {}, ctx, "running"), true);
  deepEqual(await actual(service, "sshd", {}, ctx, "runlevels"), ["boot", "default"]);
  equal(await actual(service, "crond", {}, ctx, "enabled"), false);
  equal(await actual(service, "crond", {}, ctx, "running"), false);
});

Deno.test("service on SysV uses rc?.d start links and the init script's status", async () => {
  const h = host({
    files: {
      "/etc/init.d/ntp": { content: "#!/bin/sh\n", mode: 0o755 },
      "/etc/rc2.d/S01ntp": { link: "../init.d/ntp" },
      "/etc/rc3.d/S01ntp": { link: "../init.d/ntp" },
      "/etc/rc0.d/K01ntp": { link: "../init.d/ntp" },
      "/etc/rc2.d/S01ntpsec": { link: "../init.d/ntpsec" },
    },
    programs: { "/etc/init.d/ntp": { code: 3 } },
  });
  const ctx = ctxOf(h);
  equal(await actual(service, "ntp", {}, ctx, "enabled"), true);
  deepEqual(await actual(service, "ntp", {}, ctx, "runlevels"), ["2", "3"]);
  equal(await actual(service, "ntp", {}, ctx, "running"), false);
  deepEqual(h.ran.at(-1), ["/etc/init.d/ntp", "status"]);
});

Deno.test("service with systemd installed but not running: enabled from unit files, running an error", async () => {
  const h = host({
    files: { "/etc/init.d/other": { content: "" } },
    programs: { systemctl: (argv) => ({ code: argv.at(-1) === "nginx" ? 0 : 1 }) },
  });
  const ctx = ctxOf(h);
  equal((await serviceBackend(ctx, "nginx")).kind, "systemd-offline");
  equal(await actual(service, "nginx", {}, ctx, "enabled"), true);
  match(
    await rejection(actual(service, "nginx", {}, ctx, "running")),
    /systemd is installed but not running \(no \/run\/systemd\/system\) and there is no SysV script \/etc\/init.d\/nginx/,
  );
});

Deno.test("service on a pure SysV host without a script is not enabled and not running", async () => {
  const h = host({ files: { "/etc/init.d/other": { content: "" } } });
  equal(await actual(service, "nginx", {}, ctxOf(h), "running"), false);
  equal(await actual(service, "nginx", {}, ctxOf(h), "enabled"), false);
});

Deno.test("service without any service manager is an error", async () => {
  match(
    await rejection(actual(service, "nginx", {}, ctxOf(host({})), "running")),
    /no service manager found/,
  );
});

Deno.test("service names with a slash are never enabled or running (as goss)", async () => {
  const h = host({ files: { "/run/systemd/system": dir }, programs: { systemctl: {} } });
  equal(await actual(service, "../../bin/sh", {}, ctxOf(h), "running"), false);
  deepEqual(h.ran, []);
});

Deno.test("service on this machine answers from its real init (or says clearly it cannot)", async () => {
  const ctx = ctxOf(createDenoGossHost());
  const backend = await serviceBackend(ctx, "no-such-service-scout");
  switch (backend.kind) {
    case "systemd":
      equal(await actual(service, "no-such-service-scout", {}, ctx, "running"), false);
      equal(await actual(service, "no-such-service-scout", {}, ctx, "enabled"), false);
      break;
    case "systemd-offline":
      equal(await actual(service, "no-such-service-scout", {}, ctx, "enabled"), false);
      match(
        await rejection(actual(service, "no-such-service-scout", {}, ctx, "running")),
        /systemd is installed but not running/,
      );
      break;
    default:
      equal(await actual(service, "no-such-service-scout", {}, ctx, "running"), false);
  }
});
