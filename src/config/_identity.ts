/**
 * Node identities: host-name-like strings that map reversibly onto NATS subject tokens.
 * @module
 */
import { ScoutError } from "../errors.ts";

/** The identity rule of product.md ("Subjects and names on NATS"). */
export const IDENTITY_PATTERN: RegExp = /^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,251}[a-zA-Z0-9])?$/;

/**
 * A group name (pushed checks' `group.<name>` keys, the broker's per-node permissions,
 * provisioning tokens' `groups`): one subject token of letters, digits, "-" and "_", starting
 * and ending with a letter or digit, at most 64 characters.
 */
export const GROUP_PATTERN: RegExp = /^[a-zA-Z0-9]([a-zA-Z0-9_-]{0,62}[a-zA-Z0-9])?$/;

const RULE = 'an identity is like a host name: letters, digits, "." and "-", ' +
  "starting and ending with a letter or digit, at most 253 characters; " +
  'underscores are not allowed (use "-" instead)';

/** Returns the identity unchanged when valid, else throws ScoutError("IDENTITY_INVALID"). */
export function parseIdentity(text: string): string {
  if (typeof text !== "string" || text === "") return fail("identity is empty", String(text ?? ""));
  if (IDENTITY_PATTERN.test(text)) return text;
  const shown = JSON.stringify(text.length > 80 ? `${text.slice(0, 77)}...` : text);
  let why: string;
  if (text.includes("_")) why = "it contains an underscore";
  else if (text.length > 253) why = `it is ${text.length} characters long`;
  else if (!/^[a-zA-Z0-9]/.test(text)) why = "it does not start with a letter or digit";
  else if (!/[a-zA-Z0-9]$/.test(text)) why = "it does not end with a letter or digit";
  else why = 'it contains a character other than letters, digits, "." and "-"';
  return fail(`invalid identity ${shown}: ${why}`, text);
}

function fail(message: string, value: string): never {
  throw new ScoutError("IDENTITY_INVALID", message, { hint: RULE, context: { identity: value } });
}

/**
 * True when `text` matches the glob `pattern`: `*` matches any run of characters (including
 * none, including dots); every other character matches itself, case-sensitive. Linear time:
 * on a mismatch the last `*` swallows one more character. Used for identity, check and group
 * patterns in tokens and policies.
 */
export function globMatch(pattern: string, text: string): boolean {
  let p = 0, i = 0, star = -1, mark = 0;
  while (i < text.length) {
    if (p < pattern.length && pattern[p] !== "*" && pattern[p] === text[i]) {
      p++;
      i++;
    } else if (p < pattern.length && pattern[p] === "*") {
      star = p++;
      mark = i;
    } else if (star !== -1) {
      p = star + 1;
      i = ++mark;
    } else return false;
  }
  while (p < pattern.length && pattern[p] === "*") p++;
  return p === pattern.length;
}
