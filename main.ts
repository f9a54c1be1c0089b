/**
 * Entry point of the `scout` binary: runs the CLI and exits with its code.
 * @module
 */
import { cli, denoIo } from "./src/cli/mod.ts";

if (import.meta.main) {
  Deno.exit(await cli(Deno.args, denoIo));
}
