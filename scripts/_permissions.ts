/**
 * Turns a named permission set from deno.json ("permissions": {"agent": {...}}) into the
 * equivalent explicit deno CLI flags, so that `deno compile` and the tests can pass the very
 * same flags (scripts/build.ts, scripts/build_test.ts).
 *
 * Accepted forms per kind (the forms Deno 2.9 accepts in deno.json):
 * - `true` -> `--allow-x`; `false`, `null`, `[]` -> no flag
 * - `["a", "b"]` -> `--allow-x=a,b`
 * - `{ allow, deny, ignore }`, each `true | false | null | string[]`
 *   -> `--allow-x[=..]`, `--deny-x[=..]`, `--ignore-x[=..]` (ignore exists for read and env only)
 * - top-level `all: true` -> `--allow-all`
 * @module
 */

/** The permission kinds of a deno.json permission set, in the order flags are emitted. */
export const PERMISSION_KINDS = [
  "read",
  "write",
  "net",
  "env",
  "sys",
  "run",
  "ffi",
  "import",
] as const;

/** One kind of Deno permission (`read`, `env`, ...). */
export type PermissionKind = typeof PERMISSION_KINDS[number];

const MODES = ["allow", "deny", "ignore"] as const;
type Mode = typeof MODES[number];

/** Kinds that have an `--ignore-<kind>` flag (and accept `ignore` in deno.json). */
const IGNORABLE: ReadonlySet<PermissionKind> = new Set(["read", "env"]);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** One mode's value -> one flag, or null when the value grants/denies nothing. */
function flagFor(mode: Mode, kind: PermissionKind, value: unknown, where: string): string | null {
  if (value === true) return `--${mode}-${kind}`;
  if (value === false || value === null || value === undefined) return null;
  if (Array.isArray(value)) {
    if (value.length === 0) return null;
    for (const item of value) {
      if (typeof item !== "string" || item === "") {
        throw new Error(
          `${where}: list entries must be non-empty strings, got ${JSON.stringify(item)}`,
        );
      }
      if (item.includes(",")) {
        // The CLI splits flag values on commas, so such an entry cannot be expressed as a flag.
        throw new Error(`${where}: entry ${JSON.stringify(item)} contains a comma`);
      }
    }
    return `--${mode}-${kind}=${value.join(",")}`;
  }
  throw new Error(
    `${where}: expected true, false or a list of strings, got ${JSON.stringify(value)}`,
  );
}

/**
 * Converts a deno.json permission set object into the exact deno CLI permission flags.
 *
 * Flags come out in a fixed order (`all`, then {@link PERMISSION_KINDS}; per kind allow, deny,
 * ignore), independent of the key order in deno.json. Unknown kinds or keys, `ignore` on a kind
 * without an `--ignore-*` flag, list entries containing commas, and `all: true` combined with a
 * kind set to `false` (which Deno treats as "everything except that kind", not expressible as
 * flags) all throw, so a typo never silently drops a permission.
 *
 * @param set the value of `permissions.<name>` from deno.json
 * @returns the flags, e.g. `["--allow-read", "--allow-env=A,B", "--ignore-env=C"]`
 * @throws Error when `set` is not a valid permission set
 */
export function permissionFlags(set: unknown): string[] {
  if (!isRecord(set)) {
    throw new Error(`permission set must be an object, got ${JSON.stringify(set)}`);
  }
  const known = new Set<string>(["all", ...PERMISSION_KINDS]);
  for (const key of Object.keys(set)) {
    if (!known.has(key)) {
      throw new Error(
        `permission set: unknown key "${key}" (expected all, ${PERMISSION_KINDS.join(", ")})`,
      );
    }
  }

  const flags: string[] = [];
  const all = set["all"];
  if (all !== undefined && all !== null && typeof all !== "boolean") {
    throw new Error(`permission set: "all" must be a boolean, got ${JSON.stringify(all)}`);
  }
  if (all === true) flags.push("--allow-all");

  for (const kind of PERMISSION_KINDS) {
    const value = set[kind];
    const allow = isRecord(value) ? value["allow"] : value;
    const revoked = allow === false || allow === null ||
      (Array.isArray(allow) && allow.length === 0);
    if (all === true && revoked && (isRecord(value) ? Object.hasOwn(value, "allow") : true)) {
      throw new Error(
        `permission set: "all": true together with "${kind}": false has no flag equivalent`,
      );
    }
    if (!isRecord(value)) {
      const flag = flagFor("allow", kind, value, `permission set: "${kind}"`);
      if (flag !== null) flags.push(flag);
      continue;
    }
    for (const key of Object.keys(value)) {
      if (!(MODES as readonly string[]).includes(key)) {
        throw new Error(
          `permission set: unknown key "${kind}.${key}" (expected allow, deny, ignore)`,
        );
      }
    }
    for (const mode of MODES) {
      const where = `permission set: "${kind}.${mode}"`;
      const flag = flagFor(mode, kind, value[mode], where);
      if (flag === null) continue;
      if (mode === "ignore" && !IGNORABLE.has(kind)) {
        throw new Error(`${where}: deno has no --ignore-${kind} flag (only read and env)`);
      }
      flags.push(flag);
    }
  }
  return flags;
}

/** Removes // and /* *\/ comments outside strings, so a deno.json with comments still parses. */
function stripJsonComments(text: string): string {
  let out = "";
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
    } else if (c === "/" && text[i + 1] === "/") {
      while (i < text.length && text[i] !== "\n") i++;
    } else if (c === "/" && text[i + 1] === "*") {
      const end = text.indexOf("*/", i + 2);
      i = end === -1 ? text.length : end + 2;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** deno.json of this repository (the folder above scripts/). */
export const DENO_JSON_URL: URL = new URL("../deno.json", import.meta.url);

/**
 * Reads the permission set `name` from deno.json next to the scripts folder.
 *
 * @param name the set's name under "permissions" (e.g. `"agent"`)
 * @param configUrl the config file to read; defaults to the repository's deno.json
 * @returns the raw set object, to pass to {@link permissionFlags}
 * @throws Error when the file has no "permissions" object or no set of that name
 */
export async function readPermissionSet(
  name: string,
  configUrl: URL = DENO_JSON_URL,
): Promise<unknown> {
  const config: unknown = JSON.parse(stripJsonComments(await Deno.readTextFile(configUrl)));
  const sets = isRecord(config) ? config["permissions"] : undefined;
  if (!isRecord(sets)) {
    throw new Error(`${configUrl.pathname} has no "permissions" object`);
  }
  if (!Object.hasOwn(sets, name)) {
    const names = Object.keys(sets).join(", ") || "none";
    throw new Error(`${configUrl.pathname}: no permission set "${name}" (sets: ${names})`);
  }
  return sets[name];
}
