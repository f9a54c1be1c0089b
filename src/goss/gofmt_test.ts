import { equal } from "node:assert/strict";
import {
  formatFloatG,
  formatObject,
  goJson,
  goStruct,
  quoteGo,
  sprintf,
  sprintV,
} from "./_gofmt.ts";

Deno.test("%v prints like Go: maps sorted as map[k:v], lists as [a b], nil as <nil>, floats shortest", () => {
  equal(sprintV({ b: 1, a: [1, "x"] }), "map[a:[1 x] b:1]");
  equal(sprintV(null), "<nil>");
  equal(sprintV(1.5), "1.5");
  equal(formatFloatG(1234567.5), "1.2345675e+06");
  equal(formatFloatG(0.00001), "1e-05");
  equal(formatFloatG(100000.5), "100000.5");
});

Deno.test("quoteGo escapes like strconv.Quote", () => {
  equal(quoteGo('a"b\\c\n\t\x01é'), '"a\\"b\\\\c\\n\\t\\x01é"');
});

Deno.test("goJson sorts map keys, keeps struct order and escapes HTML unless told not to", () => {
  equal(goJson({ b: 1, a: "<&>" }), '{"a":"\\u003c\\u0026\\u003e","b":1}');
  equal(goJson({ b: 1, a: "<" }, { escapeHtml: false }), '{"a":"<","b":1}');
  equal(goJson(goStruct({ z: 1, a: null })), '{"z":1,"a":null}');
  equal(goJson({ x: [], y: {} }, { indent: "  " }), '{\n  "x": [],\n  "y": {}\n}');
});

Deno.test("formatObject is gomega's <type>: value with indented lines", () => {
  equal(formatObject("foo\nbar", 1), "    <string>: foo\n    bar");
  equal(formatObject(["a"], 1), '    <[]string | len:1, cap:1>: ["a"]');
  equal(formatObject(null, 1), "    <nil>: nil");
  equal(formatObject(true, 1), "    <bool>: true");
});

Deno.test("sprintf supports Go's verbs, widths and bad-argument markers", () => {
  equal(
    sprintf("%5s|%-4d|%03d|%.2f|%x|%X|%o|%t|%q|%%", ["ab", 7, 5, 3.14159, 255, 255, 8, true, "q"]),
    '   ab|7   |005|3.14|ff|FF|10|true|"q"|%',
  );
  equal(sprintf("%d", ["x"]), "%!d(string=x)");
  equal(sprintf("%s %s", ["a"]), "a %!s(MISSING)");
  equal(sprintf("%s", ["a", 2]), "a%!(EXTRA int=2)");
});
