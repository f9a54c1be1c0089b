/**
 * The goss resource checkers, one file per type, in one explicit list the engine reads.
 * Layer 2: imports only ../types.ts (all I/O goes through GossHost); no Deno.* here.
 * Private helpers live in _*.ts files of this folder.
 * @module
 */
import type { GossResourceType } from "../types.ts";
import { addr } from "./addr.ts";
import { command } from "./command.ts";
import { dns } from "./dns.ts";
import { file } from "./file.ts";
import { group } from "./group.ts";
import { httpType } from "./http.ts";
import { interfaceType } from "./interface.ts";
import { kernelParam } from "./kernel_param.ts";
import { mount } from "./mount.ts";
import { packageType } from "./package.ts";
import { port } from "./port.ts";
import { processType } from "./process.ts";
import { service } from "./service.ts";
import { user } from "./user.ts";

/** Rejects a list in which two resource types share a gossfile key or a result name. */
export function checkedTypes(types: readonly GossResourceType[]): readonly GossResourceType[] {
  const keys = new Set<string>(), names = new Set<string>();
  for (const t of types) {
    if (keys.has(t.type)) throw new Error(`duplicate goss resource type "${t.type}"`);
    if (names.has(t.resultType)) throw new Error(`duplicate goss result type "${t.resultType}"`);
    keys.add(t.type);
    names.add(t.resultType);
  }
  return Object.freeze([...types]);
}

/** Every Linux resource type of goss except `matching` and `gossfile` (the engine's own). */
export const RESOURCE_TYPES: readonly GossResourceType[] = checkedTypes([
  file,
  packageType,
  addr,
  port,
  service,
  user,
  group,
  command,
  dns,
  processType,
  kernelParam,
  mount,
  interfaceType,
  httpType,
]);

/**
 * Where goss's result property differs from the attribute name (type -> attribute -> property):
 * file `linked-to` is reported as `linkedto`, package `versions` as `version`, http `headers`
 * and `body` as `Headers` and `Body`. Every other property is named as its attribute.
 */
export const RESULT_PROPERTIES: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  file: { "linked-to": "linkedto" },
  package: { versions: "version" },
  http: { headers: "Headers", body: "Body" },
};

/** The property name goss prints in results for an attribute of a resource type. */
export function resultProperty(type: string, attribute: string): string {
  return RESULT_PROPERTIES[type]?.[attribute] ?? attribute;
}

/**
 * Attributes goss still accepts under an old spelling (type -> old -> current); the engine
 * should read them as the current one (goss warns).
 */
export const ATTRIBUTE_ALIASES: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  dns: { resolveable: "resolvable" },
};

export {
  addr,
  command,
  dns,
  file,
  group,
  httpType,
  interfaceType,
  kernelParam,
  mount,
  packageType,
  port,
  processType,
  service,
  user,
};
