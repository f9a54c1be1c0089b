/**
 * Shell-like splitting and quoting of command lines; nothing here ever runs a shell.
 * @module
 */
import { ScoutError } from "../errors.ts";

const SPACE = /\s/;

/**
 * Splits a command line like a POSIX shell would, without expanding anything: single quotes are
 * literal, double quotes honour \" and \\, and a backslash outside quotes escapes the next character.
 * Throws ScoutError("CONFIG_INVALID") on an unterminated quote or a trailing backslash.
 */
export function splitArgs(text: string): string[] {
  const args: string[] = [];
  let current = "";
  let inWord = false;
  let i = 0;
  const fail = (what: string): never => {
    throw new ScoutError("CONFIG_INVALID", `${what} in ${JSON.stringify(text)}`, {
      hint: "close the quote, or write the arguments as a YAML list of strings",
      context: { value: text },
    });
  };
  while (i < text.length) {
    const ch = text[i] as string;
    if (SPACE.test(ch)) {
      if (inWord) {
        args.push(current);
        current = "";
        inWord = false;
      }
      i++;
    } else if (ch === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) fail("unterminated single quote");
      current += text.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (ch === '"') {
      inWord = true;
      i++;
      let closed = false;
      while (i < text.length) {
        const c = text[i] as string;
        if (c === '"') {
          closed = true;
          i++;
          break;
        }
        if (c === "\\" && (text[i + 1] === '"' || text[i + 1] === "\\")) {
          current += text[i + 1];
          i += 2;
        } else {
          current += c;
          i++;
        }
      }
      if (!closed) fail("unterminated double quote");
    } else if (ch === "\\") {
      if (i + 1 >= text.length) fail("trailing backslash");
      current += text[i + 1];
      inWord = true;
      i += 2;
    } else {
      current += ch;
      inWord = true;
      i++;
    }
  }
  if (inWord) args.push(current);
  return args;
}

/** Quotes arguments so that splitArgs(joinArgs(args)) returns args again. */
export function joinArgs(args: readonly string[]): string {
  return args.map((arg) => {
    if (arg === "") return "''";
    if (/^[A-Za-z0-9_\-./=:,+@%^]+$/.test(arg)) return arg;
    return `'${arg.replace(/'/g, `'\\''`)}'`;
  }).join(" ");
}
