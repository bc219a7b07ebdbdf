// Turns a host step into one self-contained bash script: the shared library, the values, the files
// it installs (as heredocs, so secrets travel on stdin and never on a command line) and the step's
// body from scripts/host/. Pure: the same inputs give the same bytes, which the tests pin.
import { createHash } from "crypto";
import { readFileSync } from "fs";
import * as path from "path";

/** A file a host step installs. Written only when it differs; `flag` names a CHANGED_<flag> variable set to 1 then. */
export interface HostFile {
    path: string;
    /** Octal mode as `stat -c %a` prints it, e.g. "644", "600". */
    mode: string;
    /** `user:group`. */
    owner: string;
    content: string;
    flag?: string;
}

export interface HostScript {
    /** One line saying what the step does (the script's first comment). */
    title: string;
    /** Template(s) under scripts/host/, e.g. "gateway.sh", joined in order (a shared part first). */
    body: string | string[];
    /** Shell variables the body reads, emitted as `readonly NAME='value'`. */
    vars: Record<string, string | number | boolean>;
    /** Files the body installs by calling `install_files`. */
    files?: HostFile[];
}

const HOST_DIR = path.join(__dirname, "host");
const DELIMITER = "CROSSCLOUD_EOF";

/**
 * The command every remote step runs: the script arrives on stdin, is kept in a root-only file
 * (so the commands it runs cannot swallow the rest of it from stdin) and removed afterwards.
 */
export const RUN_SCRIPT_FROM_STDIN =
    'sudo -n sh -c \'umask 077; f=$(mktemp /run/crosscloud-XXXXXX) && cat >"$f" && bash "$f" </dev/null; rc=$?; rm -f "$f"; exit $rc\'';

/** Reads a template from scripts/host/. */
export function hostTemplate(name: string): string {
    return readFileSync(path.join(HOST_DIR, name), "utf8");
}

/** Single-quotes a value for bash. */
export function shellQuote(value: string | number | boolean): string {
    return `'${String(value).replace(/'/g, `'\\''`)}'`;
}

/** Hex SHA-256, used in `triggers` so that a change of what a step would do re-runs it. */
export function contentHash(text: string): string {
    return createHash("sha256").update(text).digest("hex");
}

function renderFile(file: HostFile): string {
    const content = file.content.endsWith("\n") ? file.content : `${file.content}\n`;
    if (content.split("\n").includes(DELIMITER)) {
        throw new Error(`${file.path} contains the line ${DELIMITER}`);
    }
    const then = file.flag ? `CHANGED_${file.flag}=1` : ":";
    return [
        `    if put_file ${shellQuote(file.path)} ${file.mode} ${file.owner} <<'${DELIMITER}'`,
        `${content}${DELIMITER}`,
        `    then ${then}; fi`,
    ].join("\n");
}

function checkShellNames(names: string[]): void {
    for (const name of names) {
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
            throw new Error(`not a shell variable name: ${name}`);
        }
    }
}

/** `readonly NAME='value'` lines: how host constants and step values reach the shell. */
function renderVars(vars: HostScript["vars"]): string[] {
    checkShellNames(Object.keys(vars));
    return Object.entries(vars).map(([name, value]) => `readonly ${name}=${shellQuote(value)}`);
}

/** The line of an installed script's template that its values replace. */
const VALUES_LINE = /^# --- values\b.*$/m;

/**
 * A script a step installs on a host (a helper PostgreSQL or systemd runs, not the step itself): its
 * template from scripts/host/ with the values it reads in place of its `# --- values` line, so that
 * the installed file is self-contained.
 */
export function renderInstalledScript(template: string, vars: HostScript["vars"]): string {
    // A helper runs alone on the host: a shared part is written into it where it says `# --- include: FILE`.
    const text = hostTemplate(template).replace(/^# --- include: ([a-z-]+\.sh)$/gm, (_, name: string) => hostTemplate(name).trimEnd());
    if (!VALUES_LINE.test(text)) {
        throw new Error(`${template} has no "# --- values" line`);
    }
    return text.replace(VALUES_LINE, () => ["# --- values", ...renderVars(vars)].join("\n"));
}

/** A template from scripts/host/ (a systemd unit) with each `@NAME@` replaced by its value; all must be given. */
export function fillTemplate(template: string, values: Record<string, string | number>): string {
    const text = hostTemplate(template).replace(/@([A-Z_]+)@/g, (token, name: string) => {
        const value = values[name];
        if (value === undefined) {
            throw new Error(`${template}: no value for ${token}`);
        }
        return String(value);
    });
    return text;
}

/** The whole script for one host step. */
export function renderHostScript(script: HostScript): string {
    const files = script.files ?? [];
    const flags = [...new Set(files.flatMap((f) => (f.flag ? [f.flag] : [])))].sort();
    checkShellNames(flags);
    const vars = renderVars(script.vars);
    return [
        "#!/bin/bash",
        `# crosscloud: ${script.title}`,
        "# Generated by the crosscloud Pulumi program; runs as root, fed on stdin.",
        "set -Eeuo pipefail",
        "umask 022",
        hostTemplate("lib.sh").trimEnd(),
        "",
        "# --- values",
        ...vars,
        ...flags.map((flag) => `CHANGED_${flag}=0`),
        "",
        "# --- files",
        "install_files() {",
        ...(files.length > 0
            ? [`    read_file_stats ${files.map((f) => shellQuote(f.path)).join(" ")}`, ...files.map(renderFile)]
            : ["    :"]),
        "}",
        "",
        "# --- steps",
        ...[script.body].flat().map((name) => hostTemplate(name).trimEnd()),
        "finish",
        "",
    ].join("\n");
}
