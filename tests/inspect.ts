// Small readers over a ProgramRun, and golden files.
import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import * as path from "path";
import { ProgramRun, Registration } from "../mockcloud/programRunner";

export function ofType(run: ProgramRun, type: string): Registration[] {
    return run.registrations.filter((r) => r.type === type);
}

export function named(run: ProgramRun, name: string): Registration {
    const found = run.registrations.filter((r) => r.name === name);
    assert.strictEqual(found.length, 1, `expected one resource named ${name}, found ${found.length}`);
    return found[0];
}

export function countsByType(run: ProgramRun): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const r of run.registrations) {
        counts[r.type] = (counts[r.type] ?? 0) + 1;
    }
    return Object.fromEntries(Object.entries(counts).sort(([a], [b]) => a.localeCompare(b)));
}

/** The files a rendered host script installs, by path (parsed back from its heredocs). */
export function filesInScript(script: string): Record<string, string> {
    const files: Record<string, string> = {};
    const pattern = /^ {4}if put_file '([^']+)' \d+ \S+ <<'CROSSCLOUD_EOF'\n([\s\S]*?)^CROSSCLOUD_EOF$/gm;
    for (const m of script.matchAll(pattern)) {
        files[m[1]] = m[2];
    }
    return files;
}

/** Compares with tests/golden/NAME; `UPDATE_GOLDEN=1 npm run test:unit` rewrites the files. */
export function assertGolden(name: string, actual: string): void {
    const file = path.join(__dirname, "golden", name);
    if (process.env.UPDATE_GOLDEN === "1") {
        fs.writeFileSync(file, actual);
    }
    assert.ok(fs.existsSync(file), `golden file ${file} is missing: run UPDATE_GOLDEN=1 npm run test:unit and review it`);
    assert.strictEqual(actual, fs.readFileSync(file, "utf8"), `${name} differs from its golden file`);
}

/** Runs `body` with pulumi.log.warn recording the program's warnings instead of printing them. */
export async function withWarnings<T>(body: () => Promise<T>): Promise<{ result: T; warnings: string[] }> {
    const warnings: string[] = [];
    const log = pulumi.log as { warn: (msg: string) => Promise<void> };
    const original = log.warn;
    log.warn = (msg: string) => {
        warnings.push(msg);
        return Promise.resolve();
    };
    try {
        return { result: await body(), warnings };
    } finally {
        log.warn = original;
    }
}
