import { deepEqual, equal, match } from "node:assert/strict";
import { createDenoGossHost } from "../../runtime/goss_host.ts";
import {
  apkVersions,
  detectManager,
  dpkgVersions,
  packageType,
  pacmanField,
  parseRpmQuery,
} from "./package.ts";
import { actual, ctxOf, FakeHost, rejection } from "./_testing.ts";

const DPKG = `Package: nginx
Status: install ok installed
Architecture: amd64
Version: 1.22.1-9
Description: small, powerful web server
 nginx is a web server.
 .
 Version: 9.9 (a continuation line, not a field)

Package: libc6
Status: install ok installed
Architecture: amd64
Version: 2.36-9+deb12u4

Package: libc6
Status: hold ok installed
Architecture: i386
Version: 2.36-9+deb12u4

Package: apache2
Status: deinstall ok config-files
Architecture: amd64
Version: 2.4.57-2

Package: vim
Status: install ok half-configured
Version: 2:9.0.1378-2
`;

Deno.test("dpkg status parser: installed and held stanzas count, removed and broken ones do not", () => {
  deepEqual(dpkgVersions(DPKG, "nginx"), ["1.22.1-9"]);
  deepEqual(dpkgVersions(DPKG, "libc6"), ["2.36-9+deb12u4", "2.36-9+deb12u4"]);
  deepEqual(dpkgVersions(DPKG, "libc6:i386"), ["2.36-9+deb12u4"]);
  deepEqual(dpkgVersions(DPKG, "apache2"), []);
  deepEqual(dpkgVersions(DPKG, "vim"), []);
  deepEqual(dpkgVersions(DPKG, "ngin"), []);
});

Deno.test("apk database parser reads P: and V: of each stanza", () => {
  const db = "C:Q1abc=\nP:musl\nV:1.2.4-r2\nA:x86_64\n\nP:busybox\nV:1.36.1-r5\n";
  deepEqual(apkVersions(db, "busybox"), ["1.36.1-r5"]);
  deepEqual(apkVersions(db, "bash"), []);
});

Deno.test("pacman desc fields and rpm query lines", () => {
  equal(pacmanField("%NAME%\nbash\n\n%VERSION%\n5.2.026-2\n", "VERSION"), "5.2.026-2");
  deepEqual(parseRpmQuery("1:3.0.7-27.el9\n5.14.0-362.el9\n"), [
    "1:3.0.7-27.el9",
    "5.14.0-362.el9",
  ]);
});

Deno.test("package manager detection follows goss: distro files, then tools on PATH", async () => {
  const det = (files: Record<string, string>, programs: string[] = []) =>
    detectManager(ctxOf(
      new FakeHost({
        files: Object.fromEntries(Object.entries(files).map(([k, v]) => [k, { content: v }])),
        programs: Object.fromEntries(programs.map((p) => [p, {}])),
      }),
    ));
  equal(
    await det({ "/etc/lsb-release": "DISTRIB_ID=Ubuntu\n", "/etc/redhat-release": "x" }),
    "dpkg",
  );
  equal(await det({ "/etc/redhat-release": "Rocky" }), "rpm");
  equal(await det({ "/etc/alpine-release": "3.19" }), "apk");
  equal(await det({ "/etc/arch-release": "" }), "pacman");
  equal(await det({ "/etc/debian_version": "12.5" }), "dpkg");
  equal(await det({}, ["apk"]), "apk");
  match(await rejection(det({})), /cannot tell the package manager/);
});

Deno.test("package on Debian reads the dpkg status file natively", async () => {
  const host = new FakeHost({
    files: { "/etc/debian_version": { content: "12" }, "/var/lib/dpkg/status": { content: DPKG } },
  });
  const ctx = ctxOf(host);
  equal(await actual(packageType, "nginx", {}, ctx, "installed"), true);
  deepEqual(await actual(packageType, "nginx", {}, ctx, "versions"), ["1.22.1-9"]);
  deepEqual(await actual(packageType, "nginx", {}, ctx, "version"), ["1.22.1-9"]);
  equal(await actual(packageType, "apache2", {}, ctx, "installed"), false);
  match(await rejection(actual(packageType, "apache2", {}, ctx, "versions")), /not installed/);
  deepEqual(host.ran, []);
});

Deno.test("package on Alpine and Arch reads their databases natively", async () => {
  const apk = new FakeHost({
    files: {
      "/etc/alpine-release": { content: "3.19" },
      "/lib/apk/db/installed": { content: "P:curl\nV:8.5.0-r0\n" },
    },
  });
  deepEqual(await actual(packageType, "curl", {}, ctxOf(apk), "versions"), ["8.5.0-r0"]);
  const arch = new FakeHost({
    files: {
      "/etc/arch-release": { content: "" },
      "/var/lib/pacman/local/bash-5.2.026-2/desc": {
        content: "%NAME%\nbash\n\n%VERSION%\n5.2.026-2\n",
      },
      "/var/lib/pacman/local/bash-completion-2.11-3/desc": {
        content: "%NAME%\nbash-completion\n\n%VERSION%\n2.11-3\n",
      },
    },
  });
  deepEqual(await actual(packageType, "bash", {}, ctxOf(arch), "versions"), ["5.2.026-2"]);
});

Deno.test("package on an rpm system asks rpm -q; not installed is false, missing rpm an error", async () => {
  const rpm = new FakeHost({
    files: { "/etc/redhat-release": { content: "Rocky 9" } },
    programs: {
      rpm: (argv) =>
        argv.at(-1) === "openssl"
          ? { stdout: "1:3.0.7-27.el9\n" }
          : { code: 1, stdout: `package ${argv.at(-1)} is not installed\n` },
    },
  });
  const ctx = ctxOf(rpm);
  deepEqual(await actual(packageType, "openssl", {}, ctx, "versions"), ["1:3.0.7-27.el9"]);
  equal(await actual(packageType, "nginx", {}, ctx, "installed"), false);
  const bare = new FakeHost({ files: { "/etc/redhat-release": { content: "Rocky 9" } } });
  match(
    await rejection(actual(packageType, "openssl", {}, ctxOf(bare), "installed")),
    /rpm is not installed.*"rpm" package/,
  );
});

Deno.test("package reads this machine's real package database", async () => {
  const ctx = ctxOf(createDenoGossHost());
  const isDebian = await Deno.stat("/etc/debian_version").then(() => true, () => false);
  if (!isDebian) return;
  equal(await actual(packageType, "coreutils", {}, ctx, "installed"), true);
  const want = new TextDecoder().decode(
    new Deno.Command("dpkg-query", { args: ["-f", "${Version}", "-W", "coreutils"] }).outputSync()
      .stdout,
  );
  deepEqual(await actual(packageType, "coreutils", {}, ctx, "versions"), [want]);
  equal(await actual(packageType, "no-such-package-scout", {}, ctx, "installed"), false);
});
