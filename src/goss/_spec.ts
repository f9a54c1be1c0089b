/**
 * Loading a gossfile the way goss does: vars files (deep-merged) and inline vars (top-level
 * keys replace), Go-template rendering with `.Vars` / `.Env` before parsing, YAML or JSON by
 * extension, `gossfile:` includes (globs, `skip`, relative to the including file, sorted,
 * cycles and depth > 50 refused), later type+key definitions overriding earlier ones, and
 * attribute checks against the resource types. All I/O goes through GossHost.
 * Private to src/goss/.
 * @module
 */

import { isMap, isPair, isScalar, LineCounter, parseDocument, type Scalar } from "yaml";
import { ScoutError } from "../errors.ts";
import { templateFuncs } from "./_funcs.ts";
import { isPlainObject } from "./_gofmt.ts";
import { withEngineTypes } from "./_matching.ts";
import type { GossResource, GossSpec } from "./_model.ts";
import { cleanPath, dirName, globPaths, hasGlobMeta, joinPath } from "./_paths.ts";
import { LazyMap, parseTemplate, TemplateError } from "./_template.ts";
import { ATTRIBUTE_ALIASES } from "./resources/mod.ts";
import type { Attrs, GossHost, GossResourceType } from "./types.ts";

/** How deep includes may nest (goss's limit). */
export const MAX_INCLUDE_DEPTH = 50;

/** Attributes every resource accepts besides its type's own. */
export const COMMON_ATTRIBUTES: readonly string[] = ["title", "meta", "skip"];

/** Options of loadGossfile. */
export interface LoadGossfileOptions {
  /** System access: reading the gossfile, vars files and includes; `.Env`. */
  host: GossHost;
  /** Vars files (YAML or JSON), deep-merged in order, later wins. */
  vars?: readonly string[];
  /** Inline vars (YAML or JSON text); its top-level keys replace those of the files. */
  varsInline?: string;
  /** Vars given as data (Choria passes its overrides this way); merged before the files. */
  varsData?: Record<string, unknown>;
  /** Rules from the network: no includes, no readFile in templates. @default false */
  untrusted?: boolean;
  /** Resource types known to the engine: enables attribute checks at load time. */
  resources?: readonly GossResourceType[];
  /** The gossfile text itself (e.g. read from stdin); `path` is then only its name. */
  text?: string;
}

const decoder = new TextDecoder();

function locError(
  code: "CONFIG_YAML" | "CONFIG_INVALID",
  message: string,
  file: string,
  line: number,
  col: number,
  hint: string,
): ScoutError {
  return new ScoutError(code, message, {
    hint,
    context: { file },
    ...(line > 0 ? { location: { file, line, col: Math.max(col, 1) } } : {}),
  });
}

function lineColOf(text: string, pos: number): [number, number] {
  const before = text.slice(0, Math.max(0, pos));
  return [before.split("\n").length, pos - before.lastIndexOf("\n")];
}

const OCTAL_INT = {
  identify: (v: unknown) => typeof v === "number",
  default: true,
  tag: "tag:yaml.org,2002:int",
  test: /^0[0-7]+$/,
  resolve: (s: string) => parseInt(s, 8),
};

interface Parsed {
  value: unknown;
  /** Line of each top-level key -> resource key. */
  lines: Map<string, number>;
}

/** Parses YAML (yaml.v3-like: duplicate keys refused, Go's `0644` octal) with key lines. */
function parseYaml(text: string, file: string, what: string): Parsed {
  const lc = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter: lc,
    uniqueKeys: true,
    prettyErrors: false,
    customTags: (tags) => [OCTAL_INT, ...tags],
  });
  const err = doc.errors[0];
  if (err) {
    const { line, col } = lc.linePos(err.pos[0]);
    const msg = err.code === "DUPLICATE_KEY"
      ? `mapping key already defined (${err.message.split("\n")[0]})`
      : err.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "");
    throw locError(
      "CONFIG_YAML",
      `invalid ${what}: ${msg}`,
      file,
      line,
      col,
      "fix the YAML syntax at this position",
    );
  }
  const lines = new Map<string, number>();
  if (isMap(doc.contents)) {
    for (const typePair of doc.contents.items) {
      if (!isPair(typePair) || !isScalar(typePair.key)) continue;
      const type = String((typePair.key as Scalar).value);
      const tr = (typePair.key as Scalar).range;
      if (tr) lines.set(type, lc.linePos(tr[0]).line);
      if (!isMap(typePair.value)) continue;
      for (const p of typePair.value.items) {
        if (!isPair(p) || !isScalar(p.key)) continue;
        const range = (p.key as Scalar).range;
        const rkey = `${type}\u0000${String((p.key as Scalar).value)}`;
        if (range) lines.set(rkey, lc.linePos(range[0]).line);
        if (!isMap(p.value)) continue;
        for (const a of p.value.items) {
          const ar = isPair(a) && isScalar(a.key) ? (a.key as Scalar).range : undefined;
          if (ar) {
            lines.set(`${rkey}\u0000${String((a.key as Scalar).value)}`, lc.linePos(ar[0]).line);
          }
        }
      }
    }
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 1000 });
  } catch (e) {
    throw locError(
      "CONFIG_YAML",
      `invalid ${what}: ${(e as Error).message}`,
      file,
      1,
      1,
      "expand the YAML aliases",
    );
  }
  return { value, lines };
}

/** Offset of the first JSON syntax error (V8's messages do not always say where). */
export function jsonErrorOffset(text: string): number {
  let i = 0;
  const ws = () => {
    while (i < text.length && " \t\n\r".includes(text[i]!)) i++;
  };
  const fail = (): never => {
    throw i;
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === "{") {
      i++;
      ws();
      if (text[i] === "}") return void i++;
      while (true) {
        ws();
        if (text[i] !== '"') fail();
        str();
        ws();
        if (text[i] !== ":") fail();
        i++;
        value();
        ws();
        if (text[i] === ",") i++;
        else if (text[i] === "}") return void i++;
        else fail();
      }
    } else if (c === "[") {
      i++;
      ws();
      if (text[i] === "]") return void i++;
      while (true) {
        value();
        ws();
        if (text[i] === ",") i++;
        else if (text[i] === "]") return void i++;
        else fail();
      }
    } else if (c === '"') str();
    else {
      const m = /^(-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i));
      if (!m) fail();
      i += m![0].length;
    }
  };
  const str = () => {
    i++;
    while (i < text.length && text[i] !== '"') {
      if (text[i] === "\\") i++;
      else if (text.charCodeAt(i) < 0x20) fail();
      i++;
    }
    if (i >= text.length) fail();
    i++;
  };
  try {
    value();
    ws();
    return i < text.length ? i : -1;
  } catch (pos) {
    return pos as number;
  }
}

function parseJson(text: string, file: string, what: string): Parsed {
  try {
    return { value: JSON.parse(text), lines: new Map() };
  } catch (e) {
    const pos = jsonErrorOffset(text);
    const [line, col] = pos >= 0 ? lineColOf(text, pos) : [0, 0];
    const msg = (e as Error).message.split("\n")[0]!.replace(/, ".*$/s, "").replace(
      / in JSON at position \d+.*$/,
      "",
    );
    throw locError(
      "CONFIG_YAML",
      `invalid ${what}: ${msg}`,
      file,
      line,
      col,
      "fix the JSON syntax at this position",
    );
  }
}

function attrLinesOf(
  parsed: Parsed,
  type: string,
  key: string,
  attrs: Attrs,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const a of Object.keys(attrs)) {
    const l = parsed.lines.get(`${type}\u0000${key}\u0000${a}`);
    if (l !== undefined) out[a] = l;
  }
  return out;
}

/** Parses vars text: JSON when it looks like JSON, else YAML; must be a map (or empty). */
function parseVars(text: string, file: string): Record<string, unknown> {
  const trimmed = text.trim();
  let value: unknown;
  if (trimmed.startsWith("{")) {
    try {
      value = JSON.parse(trimmed);
    } catch {
      value = parseYaml(text, file, "vars").value;
    }
  } else value = parseYaml(text, file, "vars").value;
  if (value === null || value === undefined) return {};
  if (!isPlainObject(value)) {
    throw locError(
      "CONFIG_INVALID",
      "vars must be a map of names to values",
      file,
      1,
      1,
      "write vars as `name: value` lines",
    );
  }
  return value;
}

/** Deep merge of vars maps: maps merge recursively, anything else is replaced. */
export function mergeVars(
  dst: Record<string, unknown>,
  src: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...dst };
  for (const [k, v] of Object.entries(src)) {
    const cur = out[k];
    out[k] = isPlainObject(cur) && isPlainObject(v) ? mergeVars(cur, v) : v;
  }
  return out;
}

async function readText(host: GossHost, path: string, what: string): Promise<string> {
  try {
    return decoder.decode(await host.readFile(path));
  } catch (e) {
    throw new ScoutError("CONFIG_INVALID", `cannot read ${what} ${path}: ${(e as Error).message}`, {
      hint: `check that ${path} exists and is readable`,
      context: { file: path },
      cause: e,
    });
  }
}

/** Loads vars from data, files and inline text into the `.Vars` map. */
export async function loadVars(options: LoadGossfileOptions): Promise<Record<string, unknown>> {
  let vars: Record<string, unknown> = { ...(options.varsData ?? {}) };
  for (const file of options.vars ?? []) {
    vars = mergeVars(vars, parseVars(await readText(options.host, file, "vars file"), file));
  }
  if (options.varsInline !== undefined && options.varsInline.trim() !== "") {
    const inline = parseVars(options.varsInline, "--vars-inline");
    vars = { ...vars, ...inline };
  }
  return vars;
}

interface LoadState {
  options: LoadGossfileOptions;
  vars: Record<string, unknown>;
  warnings: string[];
  /** type\0key -> resource, in first-definition order. */
  merged: Map<string, GossResource>;
}

function formatOf(path: string, text: string | undefined): "yaml" | "json" | null {
  if (/\.ya?ml$/i.test(path)) return "yaml";
  if (/\.json$/i.test(path)) return "json";
  if (text !== undefined) return text.trim().startsWith("{") ? "json" : "yaml";
  return null;
}

async function render(text: string, file: string, state: LoadState): Promise<string> {
  if (!text.includes("{{")) return text;
  const host = state.options.host;
  const funcs = templateFuncs({
    env: (n) => host.env(n),
    untrusted: state.options.untrusted ?? false,
    ...(state.options.untrusted
      ? {}
      : { readFile: async (p: string) => decoder.decode(await host.readFile(p)) }),
  });
  try {
    const tpl = parseTemplate(text, funcs);
    return await tpl.execute({ Vars: state.vars, Env: new LazyMap((k) => host.env(k)) });
  } catch (e) {
    if (e instanceof TemplateError) {
      throw locError(
        "CONFIG_INVALID",
        `template: ${e.message}`,
        file,
        e.line,
        e.col,
        "fix the template action at this position (goss uses Go text/template with missingkey=error)",
      );
    }
    throw e;
  }
}

async function loadFile(
  path: string,
  chain: readonly string[],
  state: LoadState,
  text?: string,
): Promise<void> {
  const format = formatOf(path, text);
  if (format === null) {
    throw new ScoutError(
      "CONFIG_INVALID",
      `${path}: unknown gossfile format (use .yaml, .yml or .json)`,
      {
        hint: "name gossfiles *.yaml, *.yml or *.json",
        context: { file: path },
      },
    );
  }
  const raw = text ?? await readText(state.options.host, path, "gossfile");
  const rendered = await render(raw, path, state);
  const parsed = format === "json"
    ? parseJson(rendered, path, "gossfile")
    : parseYaml(rendered, path, "gossfile");
  const doc = parsed.value;
  if (doc === null || doc === undefined) return;
  if (!isPlainObject(doc)) {
    throw locError(
      "CONFIG_INVALID",
      "a gossfile must be a map of resource types",
      path,
      1,
      1,
      "start the file with a resource type such as `file:` or `command:`",
    );
  }
  const includes: [string, Attrs][] = [];
  for (const [type, section] of Object.entries(doc)) {
    if (section === null || section === undefined) continue;
    if (!isPlainObject(section)) {
      throw locError(
        "CONFIG_INVALID",
        `"${type}" must be a map of resources`,
        path,
        parsed.lines.get(type) ?? 0,
        1,
        `write \`${type}:\` followed by indented resource keys`,
      );
    }
    for (const [key, attrs] of Object.entries(section)) {
      const line = parsed.lines.get(`${type}\u0000${key}`) ?? 0;
      if (!isPlainObject(attrs)) {
        throw locError(
          "CONFIG_INVALID",
          `Could not parse resource ${type}:${key}`,
          path,
          line,
          1,
          "give the resource a map of attributes (e.g. `exists: true`)",
        );
      }
      if (type === "gossfile") {
        includes.push([key, attrs]);
        continue;
      }
      const id = `${type}\u0000${key}`;
      const prev = state.merged.get(id);
      if (prev) {
        state.warnings.push(`${path}: ${type} "${key}" overrides the definition in ${prev.file}`);
        prev.attrs = attrs;
        prev.file = path;
        prev.line = line;
        prev.attrLines = attrLinesOf(parsed, type, key, attrs);
      } else {
        state.merged.set(id, {
          type,
          key,
          attrs,
          file: path,
          line,
          attrLines: attrLinesOf(parsed, type, key, attrs),
        });
      }
    }
  }
  includes.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  for (const [key, attrs] of includes) {
    const line = parsed.lines.get(`gossfile\u0000${key}`) ?? 0;
    for (const attr of Object.keys(attrs)) {
      if (!["file", "skip", "title", "meta"].includes(attr)) {
        throw locError(
          "CONFIG_INVALID",
          `invalid Attribute for Gossfile:${key}: ${attr}`,
          path,
          line,
          1,
          "a gossfile include takes only `file` and `skip`",
        );
      }
    }
    if (attrs.skip === true) continue;
    if (state.options.untrusted) {
      throw locError(
        "CONFIG_INVALID",
        `gossfile includes are refused for untrusted rules (${key})`,
        path,
        line,
        1,
        "send the included resources inline in one gossfile",
      );
    }
    const target = typeof attrs.file === "string" && attrs.file !== "" ? attrs.file : key;
    const base = text !== undefined && chain.length === 0 ? "." : dirName(path);
    const pattern = target.startsWith("/") ? cleanPath(target) : joinPath(base, target);
    let files: string[];
    if (hasGlobMeta(pattern)) {
      const host = state.options.host;
      try {
        files = await globPaths(
          pattern,
          (d) => host.readDir(d),
          async (p) => (await host.stat(p, true)) !== null,
        );
      } catch (e) {
        throw locError(
          "CONFIG_INVALID",
          `bad include pattern ${target}: ${(e as Error).message}`,
          path,
          line,
          1,
          "fix the glob pattern",
        );
      }
      if (files.length === 0) {
        throw locError(
          "CONFIG_INVALID",
          `No matched files were found: "${pattern}"`,
          path,
          line,
          1,
          "fix the include path or mark it `skip: true`",
        );
      }
    } else files = [pattern];
    for (const f of files) {
      if (chain.includes(f) || f === path) {
        throw locError(
          "CONFIG_INVALID",
          `gossfile include cycle: ${[...chain, path, f].join(" -> ")}`,
          path,
          line,
          1,
          "remove the include that points back to an including file",
        );
      }
      if (chain.length + 1 >= MAX_INCLUDE_DEPTH) {
        throw locError(
          "CONFIG_INVALID",
          `gossfile includes nested deeper than ${MAX_INCLUDE_DEPTH} levels`,
          path,
          line,
          1,
          "flatten the includes",
        );
      }
      await loadFile(f, [...chain, path], state);
    }
  }
}

/** Checks attributes against the resource types; unknown types are ignored with a warning. */
export function checkAttributes(
  resources: readonly GossResource[],
  types: readonly GossResourceType[],
  warnings: string[],
): GossResource[] {
  const byType = new Map(types.map((t) => [t.type, t]));
  const kept: GossResource[] = [];
  const unknown = new Set<string>();
  for (const r of resources) {
    const t = byType.get(r.type);
    if (!t) {
      if (!unknown.has(r.type)) {
        warnings.push(`unknown resource type "${r.type}" ignored (${r.file})`);
      }
      unknown.add(r.type);
      continue;
    }
    const allowed = new Set([
      ...t.tested,
      ...t.options,
      ...COMMON_ATTRIBUTES,
      ...(t.idAttr ? [t.idAttr] : []),
      ...Object.keys(ATTRIBUTE_ALIASES[t.type] ?? {}),
    ]);
    const where = (msg: string, hint: string, attr?: string) =>
      locError("CONFIG_INVALID", msg, r.file, (attr && r.attrLines?.[attr]) || r.line, 1, hint);
    for (const attr of Object.keys(r.attrs)) {
      if (!allowed.has(attr)) {
        throw where(
          `invalid Attribute for ${t.resultType}:${r.key}: ${attr}`,
          `${t.type} takes: ${[...allowed].sort().join(", ")}`,
          attr,
        );
      }
    }
    const { skip, title, meta } = r.attrs;
    if (skip !== undefined && skip !== null && typeof skip !== "boolean") {
      throw where(
        `${t.resultType}:${r.key}: skip must be true or false`,
        "write `skip: true`",
        "skip",
      );
    }
    if (title !== undefined && title !== null && typeof title !== "string") {
      throw where(`${t.resultType}:${r.key}: title must be a string`, "quote the title", "title");
    }
    if (meta !== undefined && meta !== null && !isPlainObject(meta)) {
      throw where(
        `${t.resultType}:${r.key}: meta must be a map`,
        "write meta as `key: value` lines",
      );
    }
    for (const s of t.streams ?? []) {
      const v = r.attrs[s];
      if (Array.isArray(v) && v.length === 0) {
        warnings.push(
          `${r.key}: ${t.type}.${s} is an empty list, which asserts nothing and always passes. Use "" to assert empty content, or remove it.`,
        );
      }
    }
    kept.push(r);
  }
  return kept;
}

function byTypeThenKey(a: GossResource, b: GossResource): number {
  if (a.type !== b.type) return a.type < b.type ? -1 : 1;
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

/**
 * Loads a gossfile with its vars and includes. Errors are ScoutError CONFIG_YAML (syntax, with
 * file:line) or CONFIG_INVALID (template, include, structure, attributes); goss exits 78 on them.
 */
export async function loadGossfile(path: string, options: LoadGossfileOptions): Promise<GossSpec> {
  const state: LoadState = {
    options,
    vars: await loadVars(options),
    warnings: [],
    merged: new Map(),
  };
  await loadFile(options.text === undefined ? cleanPath(path) : path, [], state, options.text);
  let resources = [...state.merged.values()].sort(byTypeThenKey);
  if (options.resources) {
    resources = checkAttributes(resources, withEngineTypes(options.resources), state.warnings);
  }
  return {
    source: path,
    resources,
    warnings: state.warnings,
    untrusted: options.untrusted ?? false,
  };
}
