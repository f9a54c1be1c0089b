/**
 * A Go text/template subset, enough for real gossfiles: `{{ }}` with `-` trim markers, comments,
 * pipelines, variables (`$x :=`, `$x =`, `$`), fields on maps (`.Vars.a.b`, missingkey=error),
 * parenthesised pipelines, if / else if / else, range (index and value, maps by sorted key,
 * else, break, continue), with / else with, define / template / block, and the builtin functions
 * and or not eq ne lt le gt ge len index slice print printf println html js urlquery.
 * Other functions come from a FuncMap (Sprig and goss's own, see _funcs.ts). Functions may be async.
 * Private to src/goss/.
 * @module
 */

import { byteLength, goTypeName, isPlainObject, quoteGo, sprintf, sprintV } from "./_gofmt.ts";

/** A template function; may return a Promise. Throwing is "error calling <name>". */
export type TemplateFunc = (...args: unknown[]) => unknown;

/** Named template functions. */
export type FuncMap = Readonly<Record<string, TemplateFunc>>;

/** A map whose entries are looked up lazily (the `.Env` of goss); missing keys are errors. */
export class LazyMap {
  /** Looks names up with `lookup`; undefined = no entry. */
  constructor(private readonly lookup: (key: string) => string | undefined) {}
  /** The value for a key, or undefined. */
  get(key: string): string | undefined {
    return this.lookup(key);
  }
}

/** A parse or execution error with the template position (1-based line and column). */
export class TemplateError extends Error {
  /** Creates the error; `line`/`col` locate it in the template text. */
  constructor(message: string, readonly line: number, readonly col: number) {
    super(message);
    this.name = "TemplateError";
  }
}

// ---------------------------------------------------------------- lexer

type TokKind =
  | "text"
  | "open"
  | "close"
  | "field"
  | "var"
  | "ident"
  | "string"
  | "number"
  | "char"
  | "bool"
  | "nil"
  | "dot"
  | "pipe"
  | "lparen"
  | "rparen"
  | "declare"
  | "assign"
  | "comma"
  | "keyword"
  | "eof";

interface Token {
  kind: TokKind;
  text: string;
  value?: unknown;
  pos: number;
}

const KEYWORDS = new Set([
  "if",
  "else",
  "end",
  "range",
  "with",
  "define",
  "template",
  "block",
  "break",
  "continue",
]);

function isSpace(c: string | undefined): boolean {
  return c === " " || c === "\t" || c === "\n" || c === "\r";
}

function unquoteGo(raw: string, pos: number, errAt: (msg: string, pos: number) => never): string {
  // raw includes the quotes.
  let out = "";
  for (let i = 1; i < raw.length - 1; i++) {
    const c = raw[i]!;
    if (c !== "\\") {
      out += c;
      continue;
    }
    const n = raw[++i];
    const simple: Record<string, string> = {
      a: "\x07",
      b: "\b",
      f: "\f",
      n: "\n",
      r: "\r",
      t: "\t",
      v: "\v",
      "\\": "\\",
      '"': '"',
      "'": "'",
    };
    if (n !== undefined && n in simple) {
      out += simple[n];
    } else if (n === "x" || n === "u" || n === "U") {
      const len = n === "x" ? 2 : n === "u" ? 4 : 8;
      const hex = raw.slice(i + 1, i + 1 + len);
      if (!new RegExp(`^[0-9a-fA-F]{${len}}$`).test(hex)) errAt(`invalid syntax`, pos);
      out += String.fromCodePoint(parseInt(hex, 16));
      i += len;
    } else if (n !== undefined && /[0-7]/.test(n)) {
      const oct = raw.slice(i, i + 3);
      if (!/^[0-7]{3}$/.test(oct)) errAt("invalid syntax", pos);
      out += String.fromCharCode(parseInt(oct, 8));
      i += 2;
    } else errAt("invalid syntax", pos);
  }
  return out;
}

function parseNumber(text: string): number | null {
  const t = text.replace(/_/g, "");
  if (/^[+-]?0[xX][0-9a-fA-F]+$/.test(t)) return parseInt(t, 16);
  if (/^[+-]?0[oO][0-7]+$/.test(t)) return parseInt(t.replace(/0[oO]/, ""), 8);
  if (/^[+-]?0[bB][01]+$/.test(t)) return parseInt(t.replace(/0[bB]/, ""), 2);
  if (/^[+-]?0[0-7]+$/.test(t)) return parseInt(t, 8);
  if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t)) return Number(t);
  return null;
}

function lex(src: string, errAt: (msg: string, pos: number) => never): Token[] {
  const toks: Token[] = [];
  let i = 0;
  let trimNext = false;
  while (i < src.length) {
    const open = src.indexOf("{{", i);
    let text = open < 0 ? src.slice(i) : src.slice(i, open);
    const textPos = i;
    if (trimNext) {
      text = text.replace(/^[ \t\r\n]+/, "");
      trimNext = false;
    }
    if (open < 0) {
      if (text) toks.push({ kind: "text", text, pos: textPos });
      break;
    }
    let p = open + 2;
    if (src[p] === "-" && isSpace(src[p + 1])) {
      text = text.replace(/[ \t\r\n]+$/, "");
      p += 1;
    }
    if (text) toks.push({ kind: "text", text, pos: textPos });
    // Comment?
    let q = p;
    while (isSpace(src[q])) q++;
    if (src.startsWith("/*", q)) {
      const end = src.indexOf("*/", q + 2);
      if (end < 0) errAt("unclosed comment", open);
      let r = end + 2;
      while (isSpace(src[r])) r++;
      if (src.startsWith("-}}", r)) {
        trimNext = true;
        i = r + 3;
      } else if (src.startsWith("}}", r)) i = r + 2;
      else errAt("comment ends before closing delimiter", open);
      continue;
    }
    toks.push({ kind: "open", text: "{{", pos: open });
    i = p;
    // Inside action.
    while (true) {
      if (i >= src.length) errAt("unclosed action", open);
      const c = src[i]!;
      if (isSpace(c)) {
        if (src[i + 1] === "-" && src.startsWith("}}", i + 2)) {
          toks.push({ kind: "close", text: "}}", pos: i });
          trimNext = true;
          i += 4;
          break;
        }
        i++;
        continue;
      }
      if (src.startsWith("}}", i)) {
        toks.push({ kind: "close", text: "}}", pos: i });
        i += 2;
        break;
      }
      const start = i;
      if (c === "|") {
        if (src[i + 1] === "|") errAt('unexpected "|" in operand', i);
        toks.push({ kind: "pipe", text: "|", pos: i++ });
      } else if (c === "(") toks.push({ kind: "lparen", text: "(", pos: i++ });
      else if (c === ")") toks.push({ kind: "rparen", text: ")", pos: i++ });
      else if (c === ",") toks.push({ kind: "comma", text: ",", pos: i++ });
      else if (c === ":" && src[i + 1] === "=") {
        toks.push({ kind: "declare", text: ":=", pos: i });
        i += 2;
      } else if (c === "=") toks.push({ kind: "assign", text: "=", pos: i++ });
      else if (c === '"') {
        let j = i + 1;
        while (j < src.length && src[j] !== '"') {
          if (src[j] === "\\") j++;
          if (src[j] === "\n") errAt("unterminated quoted string", start);
          j++;
        }
        if (j >= src.length) errAt("unterminated quoted string", start);
        const raw = src.slice(i, j + 1);
        toks.push({ kind: "string", text: raw, value: unquoteGo(raw, start, errAt), pos: start });
        i = j + 1;
      } else if (c === "`") {
        const j = src.indexOf("`", i + 1);
        if (j < 0) errAt("unterminated raw quoted string", start);
        toks.push({
          kind: "string",
          text: src.slice(i, j + 1),
          value: src.slice(i + 1, j),
          pos: start,
        });
        i = j + 1;
      } else if (c === "'") {
        let j = i + 1;
        while (j < src.length && src[j] !== "'") {
          if (src[j] === "\\") j++;
          j++;
        }
        const raw = src.slice(i, j + 1);
        const s = unquoteGo(raw, start, errAt);
        if ([...s].length !== 1) errAt(`malformed character constant: ${raw}`, start);
        toks.push({ kind: "char", text: raw, value: s.codePointAt(0), pos: start });
        i = j + 1;
      } else if (c === "$") {
        let j = i + 1;
        while (j < src.length && /[A-Za-z0-9_]/.test(src[j]!)) j++;
        toks.push({ kind: "var", text: src.slice(i, j), pos: start });
        i = j;
      } else if (c === ".") {
        if (/[0-9]/.test(src[i + 1] ?? "")) {
          const m = /^\.[0-9][0-9_]*([eE][+-]?[0-9]+)?/.exec(src.slice(i))!;
          toks.push({
            kind: "number",
            text: m[0],
            value: Number(m[0].replace(/_/g, "")),
            pos: start,
          });
          i += m[0].length;
        } else if (/[A-Za-z_]/.test(src[i + 1] ?? "")) {
          let j = i + 1;
          while (j < src.length && /[A-Za-z0-9_]/.test(src[j]!)) j++;
          toks.push({ kind: "field", text: src.slice(i + 1, j), pos: start });
          i = j;
        } else {
          toks.push({ kind: "dot", text: ".", pos: i++ });
        }
      } else if (/[0-9+-]/.test(c)) {
        const m =
          /^[+-]?(0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|[0-9][0-9_]*\.?[0-9_]*([eE][+-]?[0-9]+)?|\.[0-9]+([eE][+-]?[0-9]+)?)/
            .exec(src.slice(i));
        if (!m || m[0] === "+" || m[0] === "-") errAt(`bad number syntax: "${c}"`, start);
        const v = parseNumber(m![0]);
        if (v === null) errAt(`bad number syntax: "${m![0]}"`, start);
        toks.push({ kind: "number", text: m![0], value: v, pos: start });
        i += m![0].length;
      } else if (/[A-Za-z_]/.test(c)) {
        let j = i;
        while (j < src.length && /[A-Za-z0-9_]/.test(src[j]!)) j++;
        const word = src.slice(i, j);
        if (word === "true" || word === "false") {
          toks.push({ kind: "bool", text: word, value: word === "true", pos: start });
        } else if (word === "nil") toks.push({ kind: "nil", text: word, pos: start });
        else if (KEYWORDS.has(word)) toks.push({ kind: "keyword", text: word, pos: start });
        else toks.push({ kind: "ident", text: word, pos: start });
        i = j;
      } else {
        errAt(`unrecognized character in action: ${quoteGo(c)}`, start);
      }
      // A field chain directly after a token: `.a.b`, `$x.a`, `(...).a`.
    }
  }
  toks.push({ kind: "eof", text: "", pos: src.length });
  return toks;
}

// ---------------------------------------------------------------- AST

type Arg =
  | { t: "dot"; pos: number }
  | { t: "field"; names: string[]; pos: number }
  | { t: "var"; name: string; fields: string[]; pos: number }
  | { t: "ident"; name: string; pos: number }
  | { t: "lit"; value: unknown; pos: number }
  | { t: "nil"; pos: number }
  | { t: "pipe"; pipe: Pipe; fields: string[]; pos: number };

interface Cmd {
  args: Arg[];
  pos: number;
}

interface Pipe {
  decls: string[];
  assign: boolean;
  cmds: Cmd[];
  pos: number;
  text: string;
}

type Node =
  | { t: "text"; text: string }
  | { t: "action"; pipe: Pipe; pos: number }
  | { t: "if" | "with"; pipe: Pipe; list: Node[]; elseList: Node[] | null; pos: number }
  | { t: "range"; pipe: Pipe; list: Node[]; elseList: Node[] | null; pos: number }
  | { t: "template"; name: string; pipe: Pipe | null; pos: number }
  | { t: "break" | "continue"; pos: number };

const BUILTINS = new Set([
  "and",
  "or",
  "not",
  "eq",
  "ne",
  "lt",
  "le",
  "gt",
  "ge",
  "len",
  "index",
  "slice",
  "print",
  "printf",
  "println",
  "html",
  "js",
  "urlquery",
  "call",
]);

class Parser {
  private p = 0;
  readonly defines = new Map<string, Node[]>();
  private rangeDepth = 0;

  constructor(
    private readonly toks: Token[],
    private readonly src: string,
    private readonly funcs: FuncMap,
    private readonly errAt: (msg: string, pos: number) => never,
  ) {}

  private peek(off = 0): Token {
    return this.toks[Math.min(this.p + off, this.toks.length - 1)]!;
  }
  private next(): Token {
    return this.toks[this.p++]!;
  }
  private expect(kind: TokKind, context: string): Token {
    const t = this.next();
    if (t.kind !== kind) this.errAt(`unexpected ${describe(t)} in ${context}`, t.pos);
    return t;
  }

  /** Parses nodes until an `{{end}}`/`{{else}}` (returned as the stopper) or EOF. */
  parseList(stopAt: Set<string>): { nodes: Node[]; stop: string; stopTok: Token } {
    const nodes: Node[] = [];
    while (true) {
      const t = this.peek();
      if (t.kind === "eof") return { nodes, stop: "eof", stopTok: t };
      if (t.kind === "text") {
        this.next();
        nodes.push({ t: "text", text: t.text });
        continue;
      }
      // open
      this.next();
      const k = this.peek();
      if (k.kind === "keyword") {
        if (k.text === "end" || k.text === "else") {
          if (!stopAt.has(k.text)) this.errAt(`unexpected {{${k.text}}}`, k.pos);
          this.next();
          return { nodes, stop: k.text, stopTok: k };
        }
        this.next();
        nodes.push(...this.parseKeyword(k));
        continue;
      }
      const pipe = this.parsePipe("command", true);
      this.expect("close", "command");
      nodes.push({ t: "action", pipe, pos: k.pos });
    }
  }

  private parseControl(kind: "if" | "with" | "range", tok: Token): Node {
    const pipe = this.parsePipe(kind, true);
    this.expect("close", kind);
    if (kind === "range") this.rangeDepth++;
    const body = this.parseList(new Set(["end", "else"]));
    if (kind === "range") this.rangeDepth--;
    let elseList: Node[] | null = null;
    if (body.stop === "eof") this.errAt("unexpected EOF", this.src.length);
    if (body.stop === "else") {
      const nt = this.peek();
      if (nt.kind === "keyword" && (nt.text === "if" || nt.text === "with") && kind !== "range") {
        // else if / else with: a nested control that shares our {{end}}.
        this.next();
        const nested = this.parseControl(nt.text as "if" | "with", nt);
        elseList = [nested];
        return { t: kind, pipe, list: body.nodes, elseList, pos: tok.pos } as Node;
      }
      this.expect("close", "else");
      const rest = this.parseList(new Set(["end"]));
      if (rest.stop !== "end") this.errAt("unexpected EOF", this.src.length);
      elseList = rest.nodes;
    }
    this.expect("close", "end");
    return { t: kind, pipe, list: body.nodes, elseList, pos: tok.pos } as Node;
  }

  private parseKeyword(k: Token): Node[] {
    switch (k.text) {
      case "if":
      case "with":
      case "range":
        return [this.parseControl(k.text, k)];
      case "break":
      case "continue":
        if (this.rangeDepth === 0) this.errAt(`{{${k.text}}} outside {{range}}`, k.pos);
        this.expect("close", k.text);
        return [{ t: k.text, pos: k.pos }];
      case "define": {
        const name = this.expect("string", "define clause");
        this.expect("close", "define clause");
        const body = this.parseList(new Set(["end"]));
        if (body.stop !== "end") this.errAt("unexpected EOF", this.src.length);
        this.expect("close", "end");
        this.defines.set(name.value as string, body.nodes);
        return [];
      }
      case "template":
      case "block": {
        const name = this.expect("string", `${k.text} clause`);
        let pipe: Pipe | null = null;
        if (this.peek().kind !== "close") pipe = this.parsePipe(k.text, false);
        this.expect("close", `${k.text} clause`);
        if (k.text === "block") {
          const body = this.parseList(new Set(["end"]));
          if (body.stop !== "end") this.errAt("unexpected EOF", this.src.length);
          this.expect("close", "end");
          if (!this.defines.has(name.value as string)) {
            this.defines.set(name.value as string, body.nodes);
          }
        }
        return [{ t: "template", name: name.value as string, pipe, pos: k.pos }];
      }
      default:
        return this.errAt(`unexpected ${k.text}`, k.pos);
    }
  }

  private parsePipe(context: string, allowDecl: boolean): Pipe {
    const start = this.peek().pos;
    const decls: string[] = [];
    let assign = false;
    if (allowDecl && this.peek().kind === "var") {
      // $x := / $x = / $i, $v :=
      const a = this.peek(1);
      if (a.kind === "declare" || a.kind === "assign") {
        decls.push(this.next().text);
        assign = this.next().kind === "assign";
      } else if (a.kind === "comma" && context === "range" && this.peek(2).kind === "var") {
        decls.push(this.next().text);
        this.next();
        decls.push(this.next().text);
        const d = this.next();
        if (d.kind !== "declare" && d.kind !== "assign") {
          this.errAt(`unexpected ${describe(d)} in range`, d.pos);
        }
        assign = d.kind === "assign";
      }
    }
    const cmds: Cmd[] = [];
    while (true) {
      const t = this.peek();
      if (t.kind === "close" || t.kind === "rparen") break;
      const cmd = this.parseCommand();
      cmds.push(cmd);
      if (this.peek().kind === "pipe") {
        this.next();
        continue;
      }
      break;
    }
    if (cmds.length === 0) this.errAt(`missing value for ${context}`, this.peek().pos);
    const end = this.peek().pos;
    return { decls, assign, cmds, pos: start, text: this.src.slice(start, end).trim() };
  }

  private parseCommand(): Cmd {
    const args: Arg[] = [];
    const pos = this.peek().pos;
    while (true) {
      const t = this.peek();
      if (t.kind === "close" || t.kind === "rparen" || t.kind === "pipe" || t.kind === "eof") break;
      args.push(this.parseOperand());
    }
    if (args.length === 0) this.errAt("missing value for command", this.peek().pos);
    return { args, pos };
  }

  private fieldChain(): string[] {
    const fields: string[] = [];
    while (this.peek().kind === "field" && this.peek().pos === this.prevEnd()) {
      fields.push(this.next().text);
    }
    return fields;
  }

  private prevEnd(): number {
    const prev = this.toks[this.p - 1]!;
    if (prev.kind === "field") return prev.pos + 1 + prev.text.length;
    return prev.pos + prev.text.length;
  }

  private parseOperand(): Arg {
    const t = this.next();
    switch (t.kind) {
      case "dot":
        return { t: "dot", pos: t.pos };
      case "field": {
        const names = [t.text, ...this.fieldChain()];
        return { t: "field", names, pos: t.pos };
      }
      case "var":
        return { t: "var", name: t.text, fields: this.fieldChain(), pos: t.pos };
      case "ident":
        if (!BUILTINS.has(t.text) && !Object.hasOwn(this.funcs, t.text)) {
          this.errAt(`function ${quoteGo(t.text)} not defined`, t.pos);
        }
        return { t: "ident", name: t.text, pos: t.pos };
      case "string":
      case "number":
      case "char":
      case "bool":
        return { t: "lit", value: t.value, pos: t.pos };
      case "nil":
        return { t: "nil", pos: t.pos };
      case "lparen": {
        const pipe = this.parsePipe("parenthesized pipeline", false);
        this.expect("rparen", "parenthesized pipeline");
        return { t: "pipe", pipe, fields: this.fieldChain(), pos: t.pos };
      }
      default:
        return this.errAt(`unexpected ${describe(t)} in operand`, t.pos);
    }
  }
}

function describe(t: Token): string {
  switch (t.kind) {
    case "close":
      return '"}}"';
    case "eof":
      return "EOF";
    case "rparen":
      return '")"';
    default:
      return `<${t.text}>`;
  }
}

// ---------------------------------------------------------------- exec

/** Nesting limit of {{template}} calls (Go allows 100000; async JS frames are heavier). */
export const MAX_TEMPLATE_DEPTH = 1000;
/** Longest rendered gossfile, in characters. */
export const MAX_TEMPLATE_OUTPUT = 64 * 1024 * 1024;
/** Nodes executed before a template is considered runaway. */
export const MAX_TEMPLATE_STEPS = 5_000_000;

const BREAK = Symbol("break");
const CONTINUE = Symbol("continue");

class ExecError extends Error {
  constructor(message: string, readonly pos: number) {
    super(message);
  }
}

function truth(v: unknown): boolean {
  if (v === null || v === undefined) return false;
  if (typeof v === "boolean") return v;
  if (typeof v === "number") return v !== 0 && !Number.isNaN(v);
  if (typeof v === "string") return v.length > 0;
  if (Array.isArray(v)) return v.length > 0;
  if (isPlainObject(v)) return Object.keys(v).length > 0;
  return true;
}

function printValue(v: unknown): string {
  if (v === undefined || v === null) return "<no value>";
  if (v instanceof LazyMap) return "map[]";
  return sprintV(v);
}

/** Executes templates; variables live on a stack like Go's. */
class Exec {
  private vars: { name: string; value: unknown }[] = [];
  private out = "";
  private depth = 0;
  private steps = 0;

  constructor(
    private readonly funcs: FuncMap,
    private readonly defines: Map<string, Node[]>,
  ) {}

  async run(nodes: Node[], data: unknown): Promise<string> {
    this.vars = [{ name: "$", value: data }];
    await this.walkList(nodes, data);
    return this.out;
  }

  private async walkList(
    nodes: Node[],
    dot: unknown,
  ): Promise<typeof BREAK | typeof CONTINUE | undefined> {
    for (const n of nodes) {
      const r = await this.walk(n, dot);
      if (r) return r;
    }
    return undefined;
  }

  private emit(text: string, pos: number): void {
    if (this.out.length + text.length > MAX_TEMPLATE_OUTPUT) {
      throw new ExecError(`template output exceeds ${MAX_TEMPLATE_OUTPUT} characters`, pos);
    }
    this.out += text;
  }

  private async walk(n: Node, dot: unknown): Promise<typeof BREAK | typeof CONTINUE | undefined> {
    if (++this.steps > MAX_TEMPLATE_STEPS) {
      throw new ExecError(
        `template execution exceeded ${MAX_TEMPLATE_STEPS} steps`,
        "pos" in n ? n.pos : 0,
      );
    }
    switch (n.t) {
      case "text":
        this.emit(n.text, 0);
        return undefined;
      case "action": {
        const v = await this.evalPipe(dot, n.pipe);
        if (n.pipe.decls.length === 0) this.emit(printValue(v), n.pos);
        return undefined;
      }
      case "if":
      case "with": {
        const mark = this.vars.length;
        const v = await this.evalPipe(dot, n.pipe);
        let r;
        if (truth(v)) r = await this.walkList(n.list, n.t === "with" ? v : dot);
        else if (n.elseList) r = await this.walkList(n.elseList, dot);
        this.vars.length = mark;
        return r;
      }
      case "range":
        return await this.walkRange(n, dot);
      case "break":
        return BREAK;
      case "continue":
        return CONTINUE;
      case "template": {
        const body = this.defines.get(n.name);
        if (!body) {
          throw new ExecError(
            `template: no template ${quoteGo(n.name)} associated with template`,
            n.pos,
          );
        }
        if (++this.depth > MAX_TEMPLATE_DEPTH) {
          throw new ExecError(`exceeded maximum template depth (${MAX_TEMPLATE_DEPTH})`, n.pos);
        }
        const v = n.pipe ? await this.evalPipe(dot, n.pipe) : null;
        const saved = this.vars;
        this.vars = [{ name: "$", value: v }];
        await this.walkList(body, v);
        this.vars = saved;
        this.depth--;
        return undefined;
      }
    }
  }

  private async walkRange(n: Extract<Node, { t: "range" }>, dot: unknown) {
    const mark = this.vars.length;
    const pipe = { ...n.pipe, decls: [] as string[] };
    const v = await this.evalPipe(dot, pipe);
    const items: [unknown, unknown][] = [];
    if (Array.isArray(v)) v.forEach((x, i) => items.push([i, x]));
    else if (isPlainObject(v)) { for (const k of Object.keys(v).sort()) items.push([k, v[k]]); }
    else if (typeof v === "number" && Number.isInteger(v)) {
      if (v > MAX_TEMPLATE_STEPS) {
        throw new ExecError(`range over ${v} exceeds ${MAX_TEMPLATE_STEPS} steps`, n.pos);
      }
      for (let i = 0; i < v; i++) items.push([i, i]);
    } else if (v !== null && v !== undefined) {
      throw new ExecError(`range can't iterate over ${sprintV(v)}`, n.pos);
    }
    if (items.length === 0) {
      if (n.elseList) await this.walkList(n.elseList, dot);
      this.vars.length = mark;
      return undefined;
    }
    for (const [k, x] of items) {
      const inner = this.vars.length;
      if (n.pipe.decls.length === 1) this.setVar(n.pipe.decls[0]!, x, n.pipe.assign, n.pos);
      else if (n.pipe.decls.length === 2) {
        this.setVar(n.pipe.decls[0]!, k, n.pipe.assign, n.pos);
        this.setVar(n.pipe.decls[1]!, x, n.pipe.assign, n.pos);
      }
      const r = await this.walkList(n.list, x);
      this.vars.length = inner;
      if (r === BREAK) break;
    }
    this.vars.length = mark;
    return undefined;
  }

  private setVar(name: string, value: unknown, assign: boolean, pos: number) {
    if (assign) {
      for (let i = this.vars.length - 1; i >= 0; i--) {
        if (this.vars[i]!.name === name) {
          this.vars[i]!.value = value;
          return;
        }
      }
      throw new ExecError(`undefined variable: ${name}`, pos);
    }
    this.vars.push({ name, value });
  }

  private varValue(name: string, pos: number): unknown {
    for (let i = this.vars.length - 1; i >= 0; i--) {
      if (this.vars[i]!.name === name) return this.vars[i]!.value;
    }
    throw new ExecError(`undefined variable: ${name}`, pos);
  }

  private async evalPipe(dot: unknown, pipe: Pipe): Promise<unknown> {
    let value: unknown = undefined;
    let first = true;
    for (const cmd of pipe.cmds) {
      value = await this.evalCommand(dot, cmd, first ? undefined : { value });
      first = false;
    }
    for (const d of pipe.decls) this.setVar(d, value, pipe.assign, pipe.pos);
    return value;
  }

  private field(receiver: unknown, name: string, pos: number): unknown {
    if (receiver instanceof LazyMap) {
      const v = receiver.get(name);
      if (v === undefined) throw new ExecError(`map has no entry for key ${quoteGo(name)}`, pos);
      return v;
    }
    if (isPlainObject(receiver)) {
      if (!Object.hasOwn(receiver, name)) {
        throw new ExecError(`map has no entry for key ${quoteGo(name)}`, pos);
      }
      return receiver[name];
    }
    if (receiver === null || receiver === undefined) {
      throw new ExecError(`nil pointer evaluating interface {}.${name}`, pos);
    }
    throw new ExecError(`can't evaluate field ${name} in type ${goTypeName(receiver)}`, pos);
  }

  private fields(v: unknown, names: string[], pos: number): unknown {
    let cur = v;
    for (const n of names) cur = this.field(cur, n, pos);
    return cur;
  }

  private async evalArg(dot: unknown, a: Arg): Promise<unknown> {
    switch (a.t) {
      case "dot":
        return dot;
      case "field":
        return this.fields(dot, a.names, a.pos);
      case "var":
        return this.fields(this.varValue(a.name, a.pos), a.fields, a.pos);
      case "lit":
        return a.value;
      case "nil":
        return null;
      case "pipe":
        return this.fields(await this.evalPipe(dot, a.pipe), a.fields, a.pos);
      case "ident":
        return await this.call(dot, a.name, [], undefined, a.pos);
    }
  }

  private async evalCommand(
    dot: unknown,
    cmd: Cmd,
    final: { value: unknown } | undefined,
  ): Promise<unknown> {
    const [head, ...rest] = cmd.args as [Arg, ...Arg[]];
    if (head.t === "ident") return await this.call(dot, head.name, rest, final, head.pos);
    if (rest.length > 0 || final) {
      if (head.t === "field" || (head.t === "var" && head.fields.length)) {
        const name = head.t === "field"
          ? head.names[head.names.length - 1]
          : head.fields[head.fields.length - 1];
        throw new ExecError(`${name} has arguments but cannot be invoked as function`, head.pos);
      }
      if (head.t === "nil") throw new ExecError("nil is not a command", head.pos);
      throw new ExecError(`can't give argument to non-function ${argText(head)}`, head.pos);
    }
    if (head.t === "nil") throw new ExecError("nil is not a command", head.pos);
    return await this.evalArg(dot, head);
  }

  private async call(
    dot: unknown,
    name: string,
    argNodes: Arg[],
    final: { value: unknown } | undefined,
    pos: number,
  ): Promise<unknown> {
    const evalAll = async () => {
      const vals: unknown[] = [];
      for (const a of argNodes) vals.push(await this.evalArg(dot, a));
      if (final) vals.push(final.value);
      return vals;
    };
    const wrap = (e: unknown): never => {
      if (e instanceof ExecError) throw e;
      throw new ExecError(
        `error calling ${name}: ${e instanceof Error ? e.message : String(e)}`,
        pos,
      );
    };
    // and/or short-circuit (Go 1.18+).
    if (name === "and" || name === "or") {
      const items: (() => Promise<unknown>)[] = argNodes.map((a) => () => this.evalArg(dot, a));
      if (final) items.push(() => Promise.resolve(final.value));
      if (items.length === 0) {
        throw new ExecError(`wrong number of args for ${name}: want at least 1 got 0`, pos);
      }
      let v: unknown;
      for (const it of items) {
        v = await it();
        if (name === "and" ? !truth(v) : truth(v)) return v;
      }
      return v;
    }
    const args = await evalAll();
    if (BUILTINS.has(name) && !Object.hasOwn(this.funcs, name)) {
      try {
        return builtin(name, args);
      } catch (e) {
        return wrap(e);
      }
    }
    const f = this.funcs[name];
    if (!f) throw new ExecError(`function ${quoteGo(name)} not defined`, pos);
    try {
      return await f(...args);
    } catch (e) {
      return wrap(e);
    }
  }
}

function argText(a: Arg): string {
  switch (a.t) {
    case "lit":
      return typeof a.value === "string" ? quoteGo(a.value) : sprintV(a.value);
    case "dot":
      return ".";
    default:
      return "value";
  }
}

function basicKind(v: unknown): string {
  if (v === null || v === undefined) return "nil";
  if (typeof v === "number") return "number";
  if (typeof v === "string") return "string";
  if (typeof v === "boolean") return "bool";
  return "complex";
}

function eq(a: unknown, b: unknown): boolean {
  const ka = basicKind(a);
  const kb = basicKind(b);
  if (ka === "complex" || kb === "complex") {
    if (ka === "nil" || kb === "nil") return false;
    throw new Error("non-comparable type");
  }
  if (ka === "nil" || kb === "nil") return ka === kb;
  if (ka !== kb) throw new Error("incompatible types for comparison");
  return a === b;
}

function lessThan(a: unknown, b: unknown): boolean {
  const ka = basicKind(a);
  const kb = basicKind(b);
  if (ka === "bool" || ka === "complex" || ka === "nil") {
    throw new Error("invalid type for comparison");
  }
  if (ka !== kb) throw new Error("incompatible types for comparison");
  return (a as number) < (b as number);
}

function builtin(name: string, args: unknown[]): unknown {
  const want = (n: number) => {
    if (args.length !== n) {
      throw new Error(`wrong number of args for ${name}: want ${n} got ${args.length}`);
    }
  };
  switch (name) {
    case "not":
      want(1);
      return !truth(args[0]);
    case "eq":
      if (args.length < 2) throw new Error("missing argument for comparison");
      return args.slice(1).some((b) => eq(args[0], b));
    case "ne":
      want(2);
      return !eq(args[0], args[1]);
    case "lt":
      want(2);
      return lessThan(args[0], args[1]);
    case "le":
      want(2);
      return lessThan(args[0], args[1]) || eq(args[0], args[1]);
    case "gt":
      want(2);
      return !lessThan(args[0], args[1]) && !eq(args[0], args[1]);
    case "ge":
      want(2);
      return !lessThan(args[0], args[1]);
    case "len": {
      want(1);
      const v = args[0];
      if (typeof v === "string") return byteLength(v);
      if (Array.isArray(v)) return v.length;
      if (isPlainObject(v)) return Object.keys(v).length;
      throw new Error(`len of type ${goTypeName(v)}`);
    }
    case "index": {
      if (args.length < 1) throw new Error("wrong number of args for index: want at least 1 got 0");
      let cur = args[0];
      for (const idx of args.slice(1)) {
        if (cur === null || cur === undefined) throw new Error("index of untyped nil");
        if (Array.isArray(cur) || typeof cur === "string") {
          if (typeof idx !== "number" || !Number.isInteger(idx)) {
            throw new Error(`cannot index slice/array with type ${goTypeName(idx)}`);
          }
          if (idx < 0 || idx >= cur.length) throw new Error(`index out of range: ${idx}`);
          cur = typeof cur === "string" ? new TextEncoder().encode(cur)[idx] : cur[idx];
        } else if (isPlainObject(cur)) {
          if (typeof idx !== "string") {
            throw new Error(`value has type ${goTypeName(idx)}; should be string`);
          }
          cur = Object.hasOwn(cur, idx) ? cur[idx] : null;
        } else if (cur instanceof LazyMap) {
          cur = cur.get(String(idx)) ?? "";
        } else throw new Error(`can't index item of type ${goTypeName(cur)}`);
      }
      return cur;
    }
    case "slice": {
      const [v, ...idx] = args;
      if (typeof v !== "string" && !Array.isArray(v)) {
        throw new Error(`can't slice item of type ${goTypeName(v)}`);
      }
      const len = v.length;
      const from = (idx[0] as number | undefined) ?? 0;
      const to = (idx[1] as number | undefined) ?? len;
      if (from < 0 || to > len || from > to) throw new Error(`index out of range: ${from}`);
      return v.slice(from, to);
    }
    case "print":
      return goSprint(args);
    case "println":
      return args.map((a) => sprintV(a)).join(" ") + "\n";
    case "printf": {
      const [f, ...rest] = args;
      if (typeof f !== "string") throw new Error("wrong type for value; expected string");
      return sprintf(f, rest);
    }
    case "html":
      return goSprint(args).replaceAll(String.fromCharCode(0), "\uFFFD").replace(
        /[&'<>"]/g,
        (c) => ({ "&": "&amp;", "'": "&#39;", "<": "&lt;", ">": "&gt;", '"': "&#34;" })[c]!,
      );
    case "js":
      return goSprint(args).replace(
        /[\\'"<>&=\n\r\t]/g,
        (c) =>
          ({
            "\\": "\\\\",
            "'": "\\'",
            '"': '\\"',
            "<": "\\u003C",
            ">": "\\u003E",
            "&": "\\u0026",
            "=": "\\u003D",
            "\n": "\\n",
            "\r": "\\r",
            "\t": "\\t",
          })[c]!,
      );
    case "urlquery":
      return encodeURIComponent(goSprint(args)).replace(/%20/g, "+");
    case "call":
      throw new Error("call is not supported");
    default:
      throw new Error(`function ${quoteGo(name)} not defined`);
  }
}

/** fmt.Sprint: spaces between operands when neither side is a string. */
export function goSprint(args: readonly unknown[]): string {
  let out = "";
  args.forEach((a, i) => {
    if (i > 0 && typeof a !== "string" && typeof args[i - 1] !== "string") out += " ";
    out += sprintV(a);
  });
  return out;
}

function lineCol(src: string, pos: number): [number, number] {
  const before = src.slice(0, pos);
  const line = before.split("\n").length;
  const col = pos - before.lastIndexOf("\n");
  return [line, col];
}

/** A parsed template, ready to execute with data. */
export interface Template {
  /** Renders the template; rejects with TemplateError. */
  execute(data: unknown): Promise<string>;
}

/** Parses a template; throws TemplateError with the position of a syntax error. */
export function parseTemplate(src: string, funcs: FuncMap): Template {
  const errAt = (msg: string, pos: number): never => {
    const [line, col] = lineCol(src, pos);
    throw new TemplateError(msg, line, col);
  };
  const toks = lex(src, errAt);
  const parser = new Parser(toks, src, funcs, errAt);
  const { nodes, stop, stopTok } = parser.parseList(new Set());
  if (stop !== "eof") errAt(`unexpected {{${stop}}}`, stopTok.pos);
  return {
    async execute(data: unknown): Promise<string> {
      try {
        return await new Exec(funcs, parser.defines).run(nodes, data);
      } catch (e) {
        if (e instanceof ExecError) {
          const [line, col] = lineCol(src, e.pos);
          throw new TemplateError(e.message, line, col);
        }
        throw e;
      }
    },
  };
}

/** True when the text contains template actions (so rendering can be skipped otherwise). */
export function hasActions(src: string): boolean {
  return src.includes("{{");
}
