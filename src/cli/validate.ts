import { DEFAULT_PLUGIN_DIRS } from "../agent.ts";
import { loadCheckFile, loadMachineFile } from "../config/mod.ts";
import { errorToJson, formatError, ScoutError } from "../errors.ts";
import { checkMachine } from "../machine/mod.ts";
import { resolveProgram } from "../runtime/mod.ts";
import { watcherSchemas } from "../watchers/mod.ts";
import { type Command, parseFlags } from "./_common.ts";

const HELP = `scout validate: check check files and Choria machine definitions

Usage: scout validate [--checks DIR] [--machines DIR] [--plugin-dir DIR] [--json]

Prints every error as FILE:LINE:COL: message, with a hint. Exits 0 when all files are
valid, 2 otherwise. Plugins that cannot be found are warnings (they run as UNKNOWN).`;

async function listFiles(dir: string, machine: boolean): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.name.startsWith(".")) continue;
      if (machine) {
        const f = `${dir}/${e.name}/machine.yaml`;
        try {
          if ((await Deno.stat(f)).isFile) out.push(f);
        } catch { /* not a machine dir */ }
      } else if (/\.ya?ml$/.test(e.name)) out.push(`${dir}/${e.name}`);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    throw new ScoutError("USAGE", `Directory "${dir}" does not exist`, {
      hint: "pass an existing directory to --checks or --machines",
    });
  }
  return out.sort();
}

/** `scout validate`: loads every file the agent would load and reports problems precisely. */
export const validateCommand: Command = {
  name: "validate",
  summary: "check check files and machine definitions",
  help: HELP,
  async run(args, io) {
    const { values } = parseFlags(args, {
      checks: { type: "string" },
      machines: { type: "string" },
      "plugin-dir": { type: "string", multiple: true },
      json: { type: "boolean" },
    }, "validate");
    const checksDir = values.checks ?? (values.machines ? undefined : "/etc/scout/checks");
    const pluginDirs = [...(values["plugin-dir"] ?? []), ...DEFAULT_PLUGIN_DIRS];
    const errors: ScoutError[] = [];
    const warnings: string[] = [];
    const names = new Map<string, string>();
    let files = 0;
    const seen = (name: string, file: string, err: () => ScoutError) => {
      if (names.has(name)) errors.push(err());
      else names.set(name, file);
    };
    if (checksDir) {
      for (const file of await listFiles(checksDir, false)) {
        files++;
        const r = loadCheckFile(await Deno.readTextFile(file), file);
        if (!r.ok) {
          errors.push(...r.errors);
          continue;
        }
        for (const check of r.value) {
          try {
            checkMachine(check, checksDir);
          } catch (e) {
            errors.push(e as ScoutError);
          }
          seen(
            check.name,
            file,
            () => duplicate(check.name, names.get(check.name)!, check.location),
          );
          if (check.plugin) {
            const p = await resolveProgram(check.plugin, {
              searchDirs: pluginDirs,
              allowedDirs: pluginDirs,
            });
            if (!p.ok) {
              warnings.push(
                `${file}:${check.location.line}:${check.location.col}: warning: ${p.error.message}`,
              );
            }
          }
        }
      }
    }
    if (values.machines) {
      const schemas = watcherSchemas();
      for (const file of await listFiles(values.machines, true)) {
        files++;
        const dir = file.slice(0, file.lastIndexOf("/"));
        const r = loadMachineFile(await Deno.readTextFile(file), file, dir, {
          watcherTypes: schemas,
        });
        if (!r.ok) errors.push(...r.errors);
        else {seen(r.value.name, file, () =>
            duplicate(r.value.name, names.get(r.value.name)!, r.value.location));}
      }
    }
    if (values.json) {
      io.out(
        JSON.stringify({
          ok: errors.length === 0,
          files,
          errors: errors.map(errorToJson),
          warnings,
        }) + "\n",
      );
    } else {
      for (const w of warnings) io.err(w + "\n");
      for (const e of errors) io.err(formatError(e) + "\n");
      io.err(
        errors.length
          ? `${errors.length} error${errors.length === 1 ? "" : "s"} in ${files} file${
            files === 1 ? "" : "s"
          }\n`
          : `${files} file${files === 1 ? "" : "s"} valid\n`,
      );
    }
    return errors.length ? 2 : 0;
  },
};

function duplicate(name: string, firstFile: string, location: ScoutError["location"]): ScoutError {
  return new ScoutError("CONFIG_DUPLICATE", `Check "${name}" is already defined in ${firstFile}`, {
    ...(location ? { location } : {}),
    hint: "names must be unique across all check files and machines; rename one",
  });
}
