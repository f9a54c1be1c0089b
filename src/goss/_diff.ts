/**
 * Unified diff of two texts with difflib's algorithm (SequenceMatcher, grouped opcodes), as goss
 * prints it under a failing string comparison: `--- test` / `+++ actual`, one line of context.
 * Private to src/goss/.
 * @module
 */

type Opcode = ["equal" | "replace" | "delete" | "insert", number, number, number, number];

function matchingBlocks(a: readonly string[], b: readonly string[]): [number, number, number][] {
  // b2j with difflib's "popular" heuristic (autojunk) for long sequences.
  const b2j = new Map<string, number[]>();
  b.forEach((line, j) => {
    const list = b2j.get(line);
    if (list) list.push(j);
    else b2j.set(line, [j]);
  });
  if (b.length >= 200) {
    const ntest = Math.floor(b.length / 100) + 1;
    for (const [k, v] of [...b2j]) if (v.length > ntest) b2j.delete(k);
  }
  const longest = (
    alo: number,
    ahi: number,
    blo: number,
    bhi: number,
  ): [number, number, number] => {
    let besti = alo;
    let bestj = blo;
    let bestsize = 0;
    let j2len = new Map<number, number>();
    for (let i = alo; i < ahi; i++) {
      const newj2len = new Map<number, number>();
      for (const j of b2j.get(a[i]!) ?? []) {
        if (j < blo) continue;
        if (j >= bhi) break;
        const k = (j2len.get(j - 1) ?? 0) + 1;
        newj2len.set(j, k);
        if (k > bestsize) {
          besti = i - k + 1;
          bestj = j - k + 1;
          bestsize = k;
        }
      }
      j2len = newj2len;
    }
    // Extend with equal non-indexed (popular) lines on both sides.
    while (besti > alo && bestj > blo && !b2j.has(b[bestj - 1]!) && a[besti - 1] === b[bestj - 1]) {
      besti--;
      bestj--;
      bestsize++;
    }
    while (
      besti + bestsize < ahi && bestj + bestsize < bhi && !b2j.has(b[bestj + bestsize]!) &&
      a[besti + bestsize] === b[bestj + bestsize]
    ) bestsize++;
    return [besti, bestj, bestsize];
  };
  const queue: [number, number, number, number][] = [[0, a.length, 0, b.length]];
  const blocks: [number, number, number][] = [];
  while (queue.length) {
    const [alo, ahi, blo, bhi] = queue.pop()!;
    const [i, j, k] = longest(alo, ahi, blo, bhi);
    if (k) {
      blocks.push([i, j, k]);
      if (alo < i && blo < j) queue.push([alo, i, blo, j]);
      if (i + k < ahi && j + k < bhi) queue.push([i + k, ahi, j + k, bhi]);
    }
  }
  blocks.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  // Collapse adjacent blocks.
  const out: [number, number, number][] = [];
  let [i1, j1, k1] = [0, 0, 0];
  for (const [i2, j2, k2] of blocks) {
    if (i1 + k1 === i2 && j1 + k1 === j2) k1 += k2;
    else {
      if (k1) out.push([i1, j1, k1]);
      [i1, j1, k1] = [i2, j2, k2];
    }
  }
  if (k1) out.push([i1, j1, k1]);
  out.push([a.length, b.length, 0]);
  return out;
}

function opcodes(a: readonly string[], b: readonly string[]): Opcode[] {
  let i = 0;
  let j = 0;
  const codes: Opcode[] = [];
  for (const [ai, bj, size] of matchingBlocks(a, b)) {
    const tag = i < ai && j < bj ? "replace" : i < ai ? "delete" : j < bj ? "insert" : null;
    if (tag) codes.push([tag, i, ai, j, bj]);
    i = ai + size;
    j = bj + size;
    if (size) codes.push(["equal", ai, i, bj, j]);
  }
  return codes;
}

function groupedOpcodes(a: readonly string[], b: readonly string[], n: number): Opcode[][] {
  let codes = opcodes(a, b);
  if (codes.length === 0) codes = [["equal", 0, 1, 0, 1]];
  const first = codes[0]!;
  if (first[0] === "equal") {
    codes[0] = [
      "equal",
      Math.max(first[1], first[2] - n),
      first[2],
      Math.max(first[3], first[4] - n),
      first[4],
    ];
  }
  const last = codes[codes.length - 1]!;
  if (last[0] === "equal") {
    codes[codes.length - 1] = [
      "equal",
      last[1],
      Math.min(last[2], last[1] + n),
      last[3],
      Math.min(last[4], last[3] + n),
    ];
  }
  const groups: Opcode[][] = [];
  let group: Opcode[] = [];
  for (const code of codes) {
    let [tag, i1, i2, j1, j2] = code;
    if (tag === "equal" && i2 - i1 > 2 * n) {
      group.push([tag, i1, Math.min(i2, i1 + n), j1, Math.min(j2, j1 + n)]);
      groups.push(group);
      group = [];
      i1 = Math.max(i1, i2 - n);
      j1 = Math.max(j1, j2 - n);
    }
    group.push([tag, i1, i2, j1, j2]);
  }
  if (group.length && !(group.length === 1 && group[0]![0] === "equal")) groups.push(group);
  return groups;
}

function formatRange(start: number, stop: number): string {
  let beginning = start + 1;
  const length = stop - start;
  if (length === 1) return `${beginning}`;
  if (length === 0) beginning--;
  return `${beginning},${length}`;
}

/** go-difflib's SplitLines: lines keep their "\n"; the last one gets one appended. */
export function splitLines(s: string): string[] {
  const parts = s.split("\n");
  return parts.map((p) => p + "\n");
}

/** A unified diff of `expected` (as "test") against `actual`, with `context` lines around changes. */
export function unifiedDiff(expected: string, actual: string, context = 1): string {
  const a = splitLines(expected);
  const b = splitLines(actual);
  let out = "";
  for (const group of groupedOpcodes(a, b, context)) {
    if (!out) out += "--- test\n+++ actual\n";
    const first = group[0]!;
    const last = group[group.length - 1]!;
    out += `@@ -${formatRange(first[1], last[2])} +${formatRange(first[3], last[4])} @@\n`;
    for (const [tag, i1, i2, j1, j2] of group) {
      if (tag === "equal") {
        for (const line of a.slice(i1, i2)) out += " " + line;
        continue;
      }
      if (tag === "replace" || tag === "delete") {
        for (const line of a.slice(i1, i2)) out += "-" + line;
      }
      if (tag === "replace" || tag === "insert") {
        for (const line of b.slice(j1, j2)) out += "+" + line;
      }
    }
  }
  return out;
}
