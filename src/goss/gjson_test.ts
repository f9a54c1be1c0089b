import { deepEqual } from "node:assert/strict";
import { gjsonGet } from "./_gjson.ts";

const DOC = JSON.stringify({
  name: { first: "Tom", last: "Anderson" },
  age: 37,
  children: ["Sara", "Alex", "Jack"],
  "fav.movie": "Deer Hunter",
  friends: [
    { first: "Dale", last: "Murphy", age: 44 },
    { first: "Roger", last: "Craig", age: 68 },
  ],
});

Deno.test("gjson paths: keys, indexes, #, escapes, wildcards, queries and modifiers", () => {
  const get = (p: string) => gjsonGet(DOC, p);
  deepEqual(get("name.last"), { exists: true, value: "Anderson" });
  deepEqual(get("age"), { exists: true, value: 37 });
  deepEqual(get("children.#"), { exists: true, value: 3 });
  deepEqual(get("children.1"), { exists: true, value: "Alex" });
  deepEqual(get("friends.#.first"), { exists: true, value: ["Dale", "Roger"] });
  deepEqual(get("fav\\.movie"), { exists: true, value: "Deer Hunter" });
  deepEqual(get("n*e.f?rst"), { exists: true, value: "Tom" });
  deepEqual(get('friends.#(last=="Murphy").first'), { exists: true, value: "Dale" });
  deepEqual(get("friends.#(age>45)#.last"), { exists: true, value: ["Craig"] });
  deepEqual(get("children|@reverse|0"), { exists: true, value: "Jack" });
  deepEqual(get("@this.age"), { exists: true, value: 37 });
  deepEqual(get("nope"), { exists: false, value: undefined });
  deepEqual(get("children.9"), { exists: false, value: undefined });
  deepEqual(gjsonGet("{bad", "a"), { exists: false, value: undefined });
});
