/**
 * Embedded goss: load standard gossfiles (templates, vars, includes), validate them with the
 * resource checkers, and render goss's outputs with goss's exit codes.
 * Layer 2: imports errors.ts, npm packages and its own folder (resources/ through its mod.ts); all I/O goes through GossHost.
 * @module
 */

export {
  choriaNagiosSummary,
  createPrometheusCounters,
  FORMAT_OPTIONS,
  humanizeResult,
  isOutputFormat,
  OUTPUT_FORMATS,
  type OutputFormat,
  type PrometheusCounters,
  type RenderedOutput,
  type RenderOptions,
  renderOutput,
  structuredDocument,
} from "./_outputs.ts";
export { loadGossfile, type LoadGossfileOptions, MAX_INCLUDE_DEPTH } from "./_spec.ts";
export {
  countTests,
  DEFAULT_MAX_CONCURRENT,
  ENGINE_RESOURCE_TYPES,
  refusedMessage,
  validate,
  type ValidateOptions,
} from "./_validate.ts";
export {
  type GossMatcherResult,
  type GossResource,
  type GossResults,
  type GossSpec,
  type GossSummary,
  type GossTestResult,
  RESULT,
  type ResultCode,
} from "./_model.ts";
export { matchingType } from "./_matching.ts";
export { RESOURCE_TYPES } from "./resources/mod.ts";
export type {
  Attrs,
  GossContext,
  GossHost,
  GossResourceType,
  GossRun,
  GossStat,
  GossSystem,
} from "./types.ts";

/** goss's exit code for a gossfile that cannot be loaded (vars, template, include, syntax, 0 tests). */
export const EXIT_LOAD_ERROR = 78;
