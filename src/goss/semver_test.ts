import { equal, ok, throws } from "node:assert/strict";
import fc from "fast-check";
import { compareSemver, parseSemver, parseSemverRange } from "./_semver.ts";

function sat(range: string, version: string): boolean {
  const v = parseSemver(version);
  if (!v) throw new Error(`bad version ${version}`);
  return parseSemverRange(range)(v);
}

Deno.test("versions must be strict x.y.z with optional prerelease and build", () => {
  ok(parseSemver("1.2.3"));
  ok(parseSemver("2.4.67-r0"));
  ok(parseSemver("1.0.0-alpha.1+build.5"));
  for (const bad of ["1.2", "v1.2.3", "01.2.3", "1.2.3-", "1.2.3-01", "1.2.x", ""]) {
    equal(parseSemver(bad), null, bad);
  }
});

Deno.test("ranges: operators, spaces as and, || as or, wildcards", () => {
  ok(sat(">=1.2.0", "1.2.3"));
  ok(!sat(">=9.9.0", "1.2.3"));
  ok(sat(">1.0.0 <2.0.0 !=1.5.0", "1.9.9"));
  ok(!sat(">1.0.0 <2.0.0 !=1.5.0", "1.5.0"));
  ok(sat("<1.0.0 || >=3.0.0", "3.1.0"));
  ok(sat(">= 1.0.0", "1.0.0"), "an operator may be followed by a space");
  ok(sat("1.2.x", "1.2.9") && !sat("1.2.x", "1.3.0"));
  ok(sat("1.x", "1.9.0") && !sat("1.x", "2.0.0"));
  ok(!sat(">=2.4.67", "2.4.67-r0"), "a prerelease sorts before its release");
  throws(() => parseSemverRange("junk"));
  throws(() => parseSemverRange(">=1.0"));
  throws(() => parseSemverRange("|| >1.0.0"));
});

Deno.test("property: comparison is antisymmetric and agrees with numeric order of the parts", () => {
  const v = fc.tuple(fc.nat(20), fc.nat(20), fc.nat(20));
  fc.assert(fc.property(v, v, ([a, b, c], [x, y, z]) => {
    const p = parseSemver(`${a}.${b}.${c}`)!;
    const q = parseSemver(`${x}.${y}.${z}`)!;
    const want = Math.sign(a - x || b - y || c - z);
    equal(Math.sign(compareSemver(p, q)), want);
    equal(Math.sign(compareSemver(q, p)), -want || 0);
  }));
});
