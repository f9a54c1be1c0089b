/**
 * "Did you mean" suggestions and quoting helpers for config error messages.
 * @module
 */

/** Optimal-string-alignment edit distance (insert, delete, substitute, swap neighbours). */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = [];
  for (let i = 0; i < rows; i++) {
    const row: number[] = new Array(cols).fill(0);
    row[0] = i;
    d.push(row);
  }
  const at = (i: number, j: number): number => d[i]?.[j] ?? 0;
  for (let j = 0; j < cols; j++) (d[0] as number[])[j] = j;
  for (let i = 1; i < rows; i++) {
    const row = d[i] as number[];
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, at(i - 2, j - 2) + 1);
      }
      row[j] = best;
    }
  }
  return at(a.length, b.length);
}

function normalize(word: string): string {
  return word.toLowerCase().replace(/[-_\s]/g, "");
}

/** The candidate closest to `word`, when it is close enough to be a likely typo. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const norm = normalize(word);
  const same = candidates.find((c) => normalize(c) === norm);
  if (same !== undefined) return same;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const dist = editDistance(word.toLowerCase(), candidate.toLowerCase());
    const limit = Math.min(3, Math.max(1, Math.floor(Math.max(word.length, candidate.length) / 3)));
    if (dist <= limit && dist < bestDistance) {
      best = candidate;
      bestDistance = dist;
    }
  }
  return best;
}

/** Quotes each item and joins them with commas: `"a", "b"`. */
export function quoteList(items: readonly string[]): string {
  return items.map((item) => JSON.stringify(item)).join(", ");
}

/** A hint that suggests the closest candidate, or lists all of them when none is close. */
export function suggestHint(word: string, candidates: readonly string[], noun: string): string {
  const near = closest(word, candidates);
  if (near !== undefined) return `did you mean ${JSON.stringify(near)}?`;
  return candidates.length === 0 ? `no ${noun} are defined` : `${noun}: ${quoteList(candidates)}`;
}
