import { createFleet } from "./simulate.ts";
import { applyEvent, createView, verifyEvent } from "../src/hub/view.ts";
import { verifyEventFast } from "../src/events.ts";
const fleet = createFleet(10_000, 10);
const msgs: { subject: string; data: Uint8Array }[] = [];
while (msgs.length < 50_000) for (const e of fleet.next(Date.now())) msgs.push(e);
const dec = new TextDecoder("utf-8", { fatal: true });
const texts = msgs.map((m) => dec.decode(m.data));
const objs = texts.map((t) => JSON.parse(t));
function time(name: string, f: (i: number) => unknown) {
  for (let r = 0; r < 3; r++) {
    const t = performance.now();
    for (let i = 0; i < msgs.length; i++) f(i);
    const us = (performance.now() - t) * 1000 / msgs.length;
    if (r === 2) console.log(name.padEnd(20), us.toFixed(2), "us");
  }
}
time("decode", (i) => dec.decode(msgs[i]!.data));
time("JSON.parse", (i) => JSON.parse(texts[i]!));
time("verifyEventFast", (i) => verifyEventFast(objs[i]));
time("verifyEvent(obj)", (i) => verifyEvent(msgs[i]!.subject, objs[i]));
time("verifyEvent(bytes)", (i) => verifyEvent(msgs[i]!.subject, msgs[i]!.data));
const view = createView();
time("applyEvent(bytes)", (i) => applyEvent(view, msgs[i]!.subject, msgs[i]!.data, 1));
console.log(texts[0]);
const dec2 = new TextDecoder();
time("decode nonfatal", (i) => dec2.decode(msgs[i]!.data));
time("decode nf+check", (i) => {
  const t = dec2.decode(msgs[i]!.data);
  return t.includes("\uFFFD") ? dec.decode(msgs[i]!.data) : t;
});
