import { deepEqual, equal, ok, rejects, throws } from "node:assert/strict";
import fc from "fast-check";
import { templateFuncs } from "./_funcs.ts";
import { LazyMap, parseTemplate, TemplateError } from "./_template.ts";

const ENV: Record<string, string> = { OS: "bullseye", HOME: "/root" };
const FILES: Record<string, string> = { "/etc/motd": "  hello\n" };
const funcs = templateFuncs({
  env: (n) => ENV[n],
  readFile: (p) =>
    FILES[p] !== undefined
      ? Promise.resolve(FILES[p]!)
      : Promise.reject(new Error(`open ${p}: no such file or directory`)),
});

const VARS = {
  l: [1, 2, 3],
  m: { b: "2", a: "1" },
  empty: "",
  nested: { deep: { x: "y" } },
  bullseye: { packages: { apache2: "2.4", vim: "9" } },
  arch: { packages: null },
};

async function render(src: string, vars: unknown = VARS): Promise<string> {
  return await parseTemplate(src, funcs).execute({ Vars: vars, Env: new LazyMap((k) => ENV[k]) });
}

async function renderError(src: string): Promise<TemplateError> {
  try {
    await render(src);
  } catch (e) {
    ok(e instanceof TemplateError, String(e));
    return e;
  }
  throw new Error(`no error for ${src}`);
}

Deno.test("text without actions passes through unchanged", async () => {
  equal(await render("plain: text\n"), "plain: text\n");
});

Deno.test("fields of .Vars and .Env are looked up, missing keys are errors (missingkey=error)", async () => {
  equal(await render("{{ .Vars.nested.deep.x }} {{ .Env.OS }}"), "y bullseye");
  const e = await renderError("a\n  {{ .Vars.nope }}");
  equal(e.message, 'map has no entry for key "nope"');
  deepEqual([e.line, e.col], [2, 6]);
  equal((await renderError("{{ .Env.MISSING }}")).message, 'map has no entry for key "MISSING"');
  equal(
    (await renderError("{{ .Vars.empty.x }}")).message,
    "can't evaluate field x in type string",
  );
});

Deno.test("trim markers remove the whitespace next to an action", async () => {
  equal(await render("a  {{- 1 -}}  b"), "a1b");
  equal(await render("a\n{{- /* comment */ -}}\nb"), "ab");
  equal(await render("x{{/* c */}}y"), "xy");
});

Deno.test("if / else if / else choose a branch by truth (empty values are false)", async () => {
  const t = '{{ if .Vars.empty }}A{{ else if eq .Env.OS "bullseye" }}B{{ else }}C{{ end }}';
  equal(await render(t), "B");
  equal(await render("{{ if .Vars.l }}yes{{ end }}{{ if not .Vars.empty }}!{{ end }}"), "yes!");
  equal(
    await render('{{ if .Env.OS | regexMatch "rockylinux[9]" }}httpd{{ else }}apache2{{ end }}'),
    "apache2",
  );
});

Deno.test("range walks lists with index and maps by sorted key, with else for empty", async () => {
  equal(await render("{{ range $i, $v := .Vars.l }}{{ $i }}={{ $v }};{{ end }}"), "0=1;1=2;2=3;");
  equal(await render("{{ range $k, $v := .Vars.m }}{{ $k }}{{ $v }}{{ end }}"), "a1b2");
  equal(await render("{{ range .Vars.l }}{{ . }}{{ end }}"), "123");
  equal(
    await render("{{ range .Vars.empty_list }}x{{ else }}none{{ end }}", { empty_list: [] }),
    "none",
  );
  equal(
    await render(
      '{{- range $name, $ver := index .Vars .Env.OS "packages" }}{{ $name }}:{{ $ver }} {{ end }}',
    ),
    "apache2:2.4 vim:9 ",
  );
  equal(
    await render('{{ range index .Vars "arch" "packages" }}x{{ end }}ok'),
    "ok",
    "range over nil is empty",
  );
  equal(
    await render(
      "{{ range .Vars.l }}{{ if eq . 2 }}{{ continue }}{{ end }}{{ if eq . 3 }}{{ break }}{{ end }}{{ . }}{{ end }}",
    ),
    "1",
  );
});

Deno.test("with rebinds dot and has an else", async () => {
  equal(await render("{{ with .Vars.nested.deep }}{{ .x }}{{ end }}"), "y");
  equal(await render("{{ with .Vars.empty }}x{{ else }}e{{ end }}"), "e");
});

Deno.test("variables are declared, assigned and scoped to their control structure", async () => {
  equal(await render("{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ $y := 3 }}{{ end }}{{ $x }}"), "2");
  equal(
    (await renderError("{{ if true }}{{ $y := 3 }}{{ end }}{{ $y }}")).message,
    "undefined variable: $y",
  );
  equal(await render("{{ range .Vars.l }}{{ $.Env.OS }}{{ end }}"), "bullseyebullseyebullseye");
});

Deno.test("pipelines pass the previous value as the last argument", async () => {
  equal(await render('{{ "hello!" | upper | repeat 5 }}'), "HELLO!HELLO!HELLO!HELLO!HELLO!");
  equal(
    await render('{{ range mkSlice "/etc/PAsswD" "/etc/group" }}{{ . | toLower }} {{ end }}'),
    "/etc/passwd /etc/group ",
  );
  equal(await render('{{ (index .Vars.nested "deep").x }}'), "y");
});

Deno.test("builtins: and/or short-circuit, comparisons, len, index, slice, print and printf", async () => {
  equal(
    await render('{{ and 1 0 2 }}|{{ or 0 "" 3 }}|{{ and 0 .Vars.nope }}'),
    "0|3|0",
    "and stops at the first false value",
  );
  equal(
    await render(
      '{{ eq 1 2 1 }} {{ ne "a" "b" }} {{ lt 1 2 }} {{ le 2 2 }} {{ gt "b" "a" }} {{ ge 1 2 }}',
    ),
    "true true true true true false",
  );
  equal(
    await render('{{ len .Vars.l }} {{ len "é" }} {{ index .Vars.l 1 }} {{ slice .Vars.l 1 }}'),
    "3 2 2 [2 3]",
  );
  equal(
    await render('{{ printf "%s-%d-%05.1f-%q-%v-%t" "a" 7 3.14159 "q" .Vars.l true }}'),
    'a-7-003.1-"q"-[1 2 3]-true',
  );
  equal(await render('{{ print 1 2 "x" 3 }}'), "1 2x3");
  equal(
    await render('{{ .Vars.m }} {{ .Vars.nope_missing_ok | default "d" }}', {
      m: { b: 1, a: [1, 2] },
    }).catch((e) => e.message),
    'map has no entry for key "nope_missing_ok"',
  );
  equal(await render("{{ .Vars.m }}", { m: { b: 1, a: [1, 2] } }), "map[a:[1 2] b:1]");
  equal(await render('{{ index .Vars.m "zzz" }}'), "<no value>");
});

Deno.test("comparing incompatible types is an execution error with a position", async () => {
  const e = await renderError('x: {{ eq 1 "a" }}');
  equal(e.message, "error calling eq: incompatible types for comparison");
  deepEqual([e.line, e.col], [1, 7]);
});

Deno.test("define and template reuse a block", async () => {
  equal(
    await render('{{ define "p" }}[{{ . }}]{{ end }}{{ template "p" 5 }}{{ template "p" "x" }}'),
    "[5][x]",
  );
});

Deno.test("syntax errors name the problem and the line", () => {
  const cases: [string, string, number][] = [
    ["{{ if }}", "missing value for if", 1],
    ["a\n{{ foo }}", 'function "foo" not defined', 2],
    ["{{ if true }}x", "unexpected EOF", 1],
    ["{{ end }}", "unexpected {{end}}", 1],
    ["{{ .Vars.a", "unclosed action", 1],
    ['{{ "abc }}', "unterminated quoted string", 1],
  ];
  for (const [src, msg, line] of cases) {
    throws(() => parseTemplate(src, funcs), (e: unknown) => {
      ok(e instanceof TemplateError, src);
      equal(e.message, msg, src);
      equal(e.line, line, src);
      return true;
    });
  }
});

Deno.test("goss's functions: getEnv with default, readFile trimmed, regexMatch, findStringSubmatch", async () => {
  equal(await render('{{ getEnv "NOPE" "dflt" }} {{ getEnv "OS" }}'), "dflt bullseye");
  equal(await render('{{ readFile "/etc/motd" }}'), "hello");
  equal(
    (await renderError('{{ readFile "/nope" }}')).message,
    "error calling readFile: open /nope: no such file or directory",
  );
  equal(
    await render(
      '{{ $m := findStringSubmatch "(?P<maj>\\\\d+)\\\\.(?P<min>\\\\d+)" "v1.22" }}{{ $m.maj }}-{{ $m.min }}',
    ),
    "1-22",
  );
  equal(
    await render(
      '{{ $m := findStringSubmatch "(\\\\d+)x" "a12x" }}{{ index $m "0" }}/{{ index $m "1" }}',
    ),
    "12x/12",
  );
});

Deno.test("readFile is refused when the host gives no file access (untrusted rules)", async () => {
  const refused = templateFuncs({ env: () => undefined });
  await rejects(
    parseTemplate('{{ readFile "/etc/shadow" }}', refused).execute({}),
    /error calling readFile: readFile is refused for untrusted rules/,
  );
});

Deno.test("Sprig functions used by gossfiles: toJson, default, quote, join, dict, math", async () => {
  equal(
    await render("runlevels: {{ toJson .Vars.l }} {{ toJson .Vars.m }}"),
    'runlevels: [1,2,3] {"a":"1","b":"2"}',
  );
  equal(
    await render('{{ .Vars.empty | default "x" }} {{ "a" | quote }} {{ squote "b" }}'),
    "x \"a\" 'b'",
  );
  equal(
    await render(
      '{{ join "," (list "a" "b") }} {{ (dict "k" "v").k }} {{ add 1 2 3 }} {{ sub 5 2 }} {{ div 7 2 }}',
    ),
    "a,b v 6 3 3",
  );
  equal(
    await render(
      '{{ trimSuffix ".yaml" "x.yaml" }} {{ replace "a" "b" "aaa" }} {{ split "," "a,b" }}',
    ),
    "x bbb map[_0:a _1:b]",
  );
  equal(
    await render(
      '{{ regexReplaceAll "(a)(b)" "xaby" "${2}$1" }} {{ contains "b" "abc" }} {{ hasPrefix "a" "abc" }}',
    ),
    "xbay true true",
  );
  equal(
    await render(
      '{{ ternary "y" "n" true }} {{ coalesce "" 0 "z" }} {{ empty .Vars.l }} {{ b64enc "hi" }} {{ b64dec "aGk=" }}',
    ),
    "y z false aGk= hi",
  );
  equal(
    await render(
      '{{ upper "é" }} {{ title "hello world" }} {{ trunc 3 "abcdef" }} {{ nindent 2 "x" }}',
    ),
    "É Hello World abc \n  x",
  );
});

Deno.test("property: any text without braces renders to itself", async () => {
  await fc.assert(fc.asyncProperty(fc.string().filter((s) => !s.includes("{{")), async (s) => {
    equal(await render(s), s);
  }));
});

Deno.test("property: a quoted string literal renders to its own value", async () => {
  await fc.assert(fc.asyncProperty(fc.string({ maxLength: 20 }), async (s) => {
    equal(await render(`{{ ${JSON.stringify(s).replace(/\\u([0-9a-f]{4})/g, "\\u$1")} }}`), s);
  }));
});

Deno.test("runaway templates stop with an error instead of exhausting memory", async () => {
  equal(
    (await renderError('{{ define "a" }}{{ template "a" }}{{ end }}{{ template "a" }}')).message,
    "exceeded maximum template depth (1000)",
  );
  equal(
    (await renderError("{{ range 100000000 }}x{{ end }}")).message,
    "range over 100000000 exceeds 5000000 steps",
  );
  ok(
    (await renderError('{{ repeat 100000000 "abc" }}')).message.startsWith(
      "error calling repeat: repeat would exceed",
    ),
  );
});

Deno.test("untrusted templates refuse backtracking-prone regexes", async () => {
  const strict = templateFuncs({ env: () => undefined, untrusted: true });
  await rejects(
    parseTemplate('{{ regexMatch "(a+)+$" "aaaa" }}', strict).execute({}),
    /error calling regexMatch: regular expression refused for untrusted rules/,
  );
  equal(
    await parseTemplate(
      '{{ regexMatch "^(foo|bar)$" "foo" }}',
      templateFuncs({ env: () => undefined }),
    ).execute({}),
    "true",
  );
});
