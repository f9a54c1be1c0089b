import { deepEqual, equal, match } from "node:assert/strict";
import { createDenoGossHost } from "../../runtime/goss_host.ts";
import { kernelParam } from "./kernel_param.ts";
import { actual, ctxOf, FakeHost, rejection } from "./_testing.ts";

/** Real tests may skip for a missing tool only outside CI (under CI=1 they must fail). */
const ignore = (await createDenoGossHost().which("sysctl")) === null && !Deno.env.get("CI");

Deno.test("kernel-param trims the sysctl value but keeps inner tabs", async () => {
  const host = new FakeHost({ programs: { sysctl: { stdout: "32768\t60999\n" } } });
  equal(
    await actual(kernelParam, "net.ipv4.ip_local_port_range", {}, ctxOf(host), "value"),
    "32768\t60999",
  );
  deepEqual(host.ran[0], ["/usr/bin/sysctl", "-n", "net.ipv4.ip_local_port_range"]);
});

Deno.test("kernel-param with an unknown key is an error carrying sysctl's message", async () => {
  const host = new FakeHost({
    programs: {
      sysctl: {
        code: 255,
        stderr: "sysctl: cannot stat /proc/sys/no/such: No such file or directory\n",
      },
    },
  });
  match(await rejection(actual(kernelParam, "no.such", {}, ctxOf(host), "value")), /cannot stat/);
});

Deno.test("kernel-param refuses names that look like options", async () => {
  const host = new FakeHost({ programs: { sysctl: {} } });
  match(
    await rejection(actual(kernelParam, "-a", {}, ctxOf(host), "value")),
    /invalid kernel parameter/,
  );
  match(
    await rejection(actual(kernelParam, "a b", {}, ctxOf(host), "value")),
    /invalid kernel parameter/,
  );
  deepEqual(host.ran, []);
});

Deno.test("kernel-param without sysctl names procps", async () => {
  match(
    await rejection(actual(kernelParam, "kernel.ostype", {}, ctxOf(new FakeHost()), "value")),
    /sysctl is not installed.*procps/,
  );
});

Deno.test({
  name: "kernel-param reads real values with sysctl: kernel.ostype is Linux, a bogus key errors",
  ignore,
  fn: async () => {
    const ctx = ctxOf(createDenoGossHost());
    equal(await actual(kernelParam, "kernel.ostype", {}, ctx, "value"), "Linux");
    match(
      String(await actual(kernelParam, "net.ipv4.ip_local_port_range", {}, ctx, "value")),
      /^\d+\t\d+$/,
    );
    match(
      await rejection(actual(kernelParam, "kernel.no_such_param_scout", {}, ctx, "value")),
      /kernel.no_such_param_scout/,
    );
  },
});
