import { equal, ok, throws } from "node:assert/strict";
import { ScoutError } from "../errors.ts";
import { parseIdentity } from "./mod.ts";

Deno.test("parseIdentity accepts host-name-like identities", () => {
  for (
    const id of [
      "a",
      "web1",
      "web-1.example.com",
      "10.0.0.1",
      "A9",
      `a${"b".repeat(251)}c`,
    ]
  ) {
    equal(parseIdentity(id), id);
  }
});

function refused(id: string, message: string): void {
  throws(() => parseIdentity(id), (err: unknown) => {
    ok(err instanceof ScoutError);
    equal(err.code, "IDENTITY_INVALID");
    equal(err.message, message);
    ok(err.hint?.includes("underscores are not allowed"), err.hint);
    ok(err.hint?.includes('letters, digits, "." and "-"'), err.hint);
    return true;
  });
}

Deno.test("parseIdentity refuses underscores and says why", () => {
  refused("web_1", 'invalid identity "web_1": it contains an underscore');
});

Deno.test("parseIdentity refuses identities longer than 253 characters", () => {
  refused(
    "a".repeat(254),
    `invalid identity "${"a".repeat(77)}...": it is 254 characters long`,
  );
});

Deno.test("parseIdentity refuses a leading or trailing dash and other characters", () => {
  refused("-web", 'invalid identity "-web": it does not start with a letter or digit');
  refused("web.", 'invalid identity "web.": it does not end with a letter or digit');
  refused(
    "web 1",
    'invalid identity "web 1": it contains a character other than letters, ' +
      'digits, "." and "-"',
  );
  refused("", "identity is empty");
});
