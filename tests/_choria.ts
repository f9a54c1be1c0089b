/**
 * Choria's JSON schemas (shared/choria-schemas) as validators for tests. Present only when
 * ../shared is beside the repository; tests that use them skip with a message otherwise.
 * @module
 */
import Ajv from "ajv";
import AjvDraft04 from "ajv-draft-04";

/** Where Choria's schemas are expected. */
export const CHORIA_SCHEMAS: URL = new URL("../../shared/choria-schemas/", import.meta.url);

function choriaSchemasPresent(): boolean {
  try {
    return Deno.statSync(new URL("choria/", CHORIA_SCHEMAS)).isDirectory;
  } catch {
    return false;
  }
}

/** True when Choria's schemas can be checked. */
export const HAVE_CHORIA: boolean = choriaSchemasPresent();

/** One schema violation, as ajv reports it. */
export interface SchemaError {
  /** JSON pointer of the offending value. */
  instancePath: string;
  /** The schema keyword that failed. */
  keyword: string;
  /** ajv's message. */
  message?: string | undefined;
}

/** Validates data against one schema; an empty list means valid. */
export type ChoriaValidator = (data: unknown) => SchemaError[];

// Deno's CommonJS interop: the default import is module.exports; `.default` is the class.
const Ajv07 = Ajv.default;
const Ajv04 = AjvDraft04.default;
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
const dateTime = (s: string): boolean => RFC3339.test(s) && !Number.isNaN(Date.parse(s));

/** Compiles a Choria schema: draft-04 ones with ajv-draft-04, draft-07 ones (id -> $id) with ajv. */
export function choriaValidator(path: string): ChoriaValidator {
  const schema = JSON.parse(Deno.readTextFileSync(new URL(path, CHORIA_SCHEMAS)));
  let validate: { (data: unknown): boolean; errors?: SchemaError[] | null | undefined };
  if (String(schema.$schema).includes("draft-04")) {
    const ajv = new Ajv04({ strict: false, allErrors: true });
    ajv.addFormat("date-time", dateTime);
    validate = ajv.compile(schema);
  } else {
    const { id, ...rest } = schema;
    const ajv = new Ajv07({ strict: false, allErrors: true });
    ajv.addFormat("date-time", dateTime);
    validate = ajv.compile({ ...rest, $id: id });
  }
  return (data) => (validate(data) ? [] : [...(validate.errors ?? [])]);
}
