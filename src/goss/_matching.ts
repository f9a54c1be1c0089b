/**
 * goss's `matching` resource: tests a value written in the gossfile (often from templates)
 * against `matches`, with no system access. With `as-reader: true` the content is stringified
 * and treated as a text stream (a list expected = line patterns). The engine's own type.
 * @module
 */

import { sprintV } from "./_gofmt.ts";
import type { Attrs, GossResourceType } from "./types.ts";

/** True when a matching resource's `matches` is tested as a text stream. */
export function matchingIsReader(attrs: Attrs): boolean {
  return attrs["as-reader"] === true;
}

/** The `matching` resource type. */
export const matchingType: GossResourceType = {
  type: "matching",
  resultType: "Matching",
  tested: ["matches"],
  options: ["content", "as-reader"],
  required: ["matches"],
  system: (_target, attrs) => ({
    get: (property) => {
      if (property !== "matches") {
        return Promise.reject(new Error(`matching has no property ${property}`));
      }
      const content = attrs.content ?? null;
      return Promise.resolve(matchingIsReader(attrs) ? sprintV(content) : content);
    },
  }),
};

/** The engine's own resource types, always available besides the resource checkers. */
export const ENGINE_RESOURCE_TYPES: readonly GossResourceType[] = [matchingType];

/** The resource types in force: the engine's own plus the given ones (given ones win). */
export function withEngineTypes(resources: readonly GossResourceType[]): GossResourceType[] {
  const given = new Set(resources.map((t) => t.type));
  return [...ENGINE_RESOURCE_TYPES.filter((t) => !given.has(t.type)), ...resources];
}
