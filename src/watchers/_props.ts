import { z } from "zod";
import { parseDuration } from "../config/mod.ts";

/** A duration property: a Go-style string ("10s", "1m30s") or a number of milliseconds. */
export const durationMs: z.ZodType<number, string | number> = z.union([z.string(), z.number()])
  .transform((v, ctx) => {
    if (typeof v === "number") {
      if (Number.isFinite(v) && v >= 0) return v;
      ctx.addIssue({ code: "custom", message: "a duration must be a positive number of ms" });
      return z.NEVER;
    }
    try {
      return parseDuration(v);
    } catch (e) {
      ctx.addIssue({ code: "custom", message: (e as Error).message });
      return z.NEVER;
    }
  });

/** A command: a shell-like string (split, never run through a shell) or a list. */
export const commandLine: z.ZodType<string | string[]> = z.union([
  z.string().min(1),
  z.array(z.string()).min(1),
]);

/** A map of strings (annotations, environment). */
export const stringMap: z.ZodType<Record<string, string>> = z.record(z.string(), z.string());
