// Runs the real index.ts in-process under Pulumi's mock runtime, and records every resource it
// registers and every function it calls. Used by the unit tests (with cloudMocks) and by the lab
// (which hands commands to real hosts). Imports nothing from tests/ or lab/ (eslint.config.mjs).
import * as pulumi from "@pulumi/pulumi";
import * as path from "path";

const PROJECT_ROOT = path.resolve(__dirname, "..");
const rpc = require("@pulumi/pulumi/runtime/rpc");
const runtimeResource = require("@pulumi/pulumi/runtime/resource");

/** Resource options as the program passed them (the mock monitor does not see them). */
export interface RegisteredOptions {
    parent?: string;
    dependsOn: string[];
    protect: boolean;
    retainOnDelete: boolean;
    ignoreChanges: string[];
}

/**
 * Options of every resource constructed in the current run, by resource name. Module-level because the
 * Pulumi runtime it patches is one per process (so is a run); only runProgram clears it.
 */
const optionsByName = new Map<string, RegisteredOptions>();
const originalRegisterResource = runtimeResource.registerResource;
// Record the options on their way to the engine, then register as usual.
runtimeResource.registerResource = function (
    res: any,
    parent: any,
    t: string,
    name: string,
    custom: boolean,
    remote: boolean,
    newDependency: any,
    props: any,
    opts: any,
    ...rest: any[]
) {
    const dependsOn = Array.isArray(opts.dependsOn) ? opts.dependsOn : opts.dependsOn ? [opts.dependsOn] : [];
    optionsByName.set(name, {
        parent: opts.parent?.__name,
        dependsOn: dependsOn.map((d: any) => d.__name).filter((n: unknown) => typeof n === "string"),
        protect: opts.protect === true,
        retainOnDelete: opts.retainOnDelete === true,
        ignoreChanges: opts.ignoreChanges ?? [],
    });
    return originalRegisterResource.call(this, res, parent, t, name, custom, remote, newDependency, props, opts, ...rest);
};

/** One resource the program registered. */
export interface Registration {
    type: string;
    name: string;
    /** Inputs with secrets unwrapped. */
    inputs: Record<string, any>;
    /** Top-level input names that arrived as secrets. */
    secretInputs: string[];
    id: string;
    state: Record<string, any>;
    options: RegisteredOptions;
}

/** One function (data source) call the program made, inputs with secrets unwrapped. */
export interface Invocation {
    token: string;
    inputs: Record<string, any>;
}

/** What a mock resource resolves to: its id and its output state (inputs are merged in). */
export type ResourceBehaviour = (r: {
    type: string;
    name: string;
    inputs: Record<string, any>;
}) => Promise<{ id: string; state: Record<string, any>; secretOutputs?: string[] }>;
/** What a mock function call returns. */
export type CallBehaviour = (c: Invocation) => Promise<Record<string, any>> | Record<string, any>;

/** Everything one run of the program did and exported. */
export interface ProgramRun {
    registrations: Registration[];
    invocations: Invocation[];
    /** The stack's exports, resolved; secret leaves are kept as { secret: value }. */
    outputs: Record<string, unknown>;
    /** Paths (`a.b`) of exported values that are secret. */
    secretOutputs: string[];
}

/** Secret wrapper as the mock monitor hands it over. */
function isRpcSecret(value: unknown): value is { value: unknown } {
    return typeof value === "object" && value !== null && (value as any)[rpc.specialSigKey] === rpc.specialSecretSig;
}

/** Unwraps secrets everywhere in a value; returns whether one was found. */
function unwrapSecrets(value: unknown): { value: unknown; secret: boolean } {
    if (isRpcSecret(value)) {
        return { value: unwrapSecrets(value.value).value, secret: true };
    }
    if (Array.isArray(value)) {
        const items = value.map(unwrapSecrets);
        return { value: items.map((i) => i.value), secret: items.some((i) => i.secret) };
    }
    if (typeof value === "object" && value !== null && !(rpc.specialSigKey in value)) {
        let secret = false;
        const out: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(value)) {
            const u = unwrapSecrets(v);
            out[k] = u.value;
            secret ||= u.secret;
        }
        return { value: out, secret };
    }
    return { value, secret: false };
}

async function resolveExports(value: unknown, at: string, secrets: string[]): Promise<unknown> {
    if (pulumi.Output.isInstance(value)) {
        if (await pulumi.isSecret(value)) {
            secrets.push(at);
        }
        // The Output's own promise rejects when the value failed (an apply that threw).
        const resolved = await (value as unknown as { promise(): Promise<unknown> }).promise();
        return resolveExports(resolved, at, secrets);
    }
    if (Array.isArray(value)) {
        return Promise.all(value.map((v, i) => resolveExports(v, `${at}[${i}]`, secrets)));
    }
    if (typeof value === "object" && value !== null && !(value instanceof pulumi.Resource)) {
        // All at once: one failed value rejects the whole run at once rather than leaving the
        // values that depend on it waiting forever.
        const entries = await Promise.all(
            Object.entries(value).map(async ([k, v]) => [k, await resolveExports(v, at ? `${at}.${k}` : k, secrets)]),
        );
        return Object.fromEntries(entries);
    }
    return value;
}

/** Forgets the program's modules so the next run executes index.ts afresh with new config. */
function forgetProgramModules(): void {
    const program = [path.join(PROJECT_ROOT, "index.ts"), path.join(PROJECT_ROOT, "config.ts")];
    const folders = ["components", "scripts"].map((f) => path.join(PROJECT_ROOT, f) + path.sep);
    for (const file of Object.keys(require.cache)) {
        if (program.includes(file) || folders.some((f) => file.startsWith(f))) {
            delete require.cache[file];
        }
    }
}

/**
 * Runs index.ts with `config` (keys like `crosscloud:awsCidr`; objects are JSON-encoded) under mocks.
 * Rejects with the program's own error when it fails.
 */
export async function runProgram(options: {
    config: Record<string, unknown>;
    secretKeys?: string[];
    stack?: string;
    newResource: ResourceBehaviour;
    call: CallBehaviour;
}): Promise<ProgramRun> {
    const registrations: Registration[] = [];
    const invocations: Invocation[] = [];
    const config = Object.fromEntries(Object.entries(options.config).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]));
    pulumi.runtime.setAllConfig(config, options.secretKeys ?? []);
    optionsByName.clear();
    // A resource that fails to be created fails the run, as it fails `pulumi up`: the engine starts
    // nothing new that depends on it, lets the operations under way finish, and reports the error. The
    // SDK meanwhile rejects promises nobody awaits (the failed resource's own registration, its
    // dependents'): those are this failure, not a crash of the runner.
    let failure: Error | undefined;
    let inFlight = 0;
    let settled: () => void = () => undefined;
    const failed = new Promise<never>((_, reject) => {
        settled = () => {
            if (failure && inFlight === 0) {
                reject(failure);
            }
        };
    });
    failed.catch(() => undefined);
    const swallow = () => undefined;
    await pulumi.runtime.setMocks(
        {
            newResource: async (args) => {
                const secretInputs = Object.entries(args.inputs)
                    .filter(([, v]) => unwrapSecrets(v).secret)
                    .map(([k]) => k);
                const inputs = unwrapSecrets(args.inputs).value as Record<string, any>;
                if (failure !== undefined) {
                    throw new Error(`not created: ${args.name} (the run failed)`);
                }
                // Component resources exist only in the program: nothing to create.
                let result: { id: string; state: Record<string, any>; secretOutputs?: string[] };
                inFlight++;
                try {
                    result = args.custom ? await options.newResource({ type: args.type, name: args.name, inputs }) : { id: "", state: {} };
                } catch (err) {
                    if (failure === undefined) {
                        failure = err instanceof Error ? err : new Error(String(err));
                        process.on("unhandledRejection", swallow);
                    }
                    throw err;
                } finally {
                    inFlight--;
                    settled();
                }
                const state = { ...inputs, ...result.state };
                const registered = optionsByName.get(args.name) ?? {
                    dependsOn: [],
                    protect: false,
                    retainOnDelete: false,
                    ignoreChanges: [],
                };
                registrations.push({ type: args.type, name: args.name, inputs, secretInputs, id: result.id, state, options: registered });
                // Hand secret inputs back as secrets, as the engine does, and mark the outputs the
                // provider declares secret (additionalSecretOutputs, which the engine applies).
                const returned: Record<string, any> = { ...state };
                for (const key of [...secretInputs, ...(result.secretOutputs ?? [])]) {
                    returned[key] = pulumi.secret(state[key]);
                }
                return { id: result.id, state: returned };
            },
            call: async (args) => {
                const invocation = { token: args.token, inputs: unwrapSecrets(args.inputs).value as Record<string, any> };
                invocations.push(invocation);
                return options.call(invocation);
            },
        },
        "crosscloud",
        options.stack ?? "test",
        false,
    );
    forgetProgramModules();
    // index.ts exports an async function, as the Pulumi runtime accepts: its result is the outputs.
    const exported: unknown = require(path.join(PROJECT_ROOT, "index.ts"));
    try {
        const program: unknown =
            exported instanceof Function ? await Promise.race([(exported as () => Promise<unknown>)(), failed]) : exported;
        const secretOutputs: string[] = [];
        const outputs = (await Promise.race([resolveExports({ ...(program as object) }, "", secretOutputs), failed])) as Record<
            string,
            unknown
        >;
        // Wait until every registration the program started has been answered.
        await Promise.race([pulumi.runtime.disconnect(), failed]);
        if (failure) {
            await failed;
        }
        return { registrations, invocations, outputs, secretOutputs };
    } catch (err) {
        // The first resource that failed is the run's error (an output that depends on it fails too).
        if (failure) {
            await failed.catch(() => undefined);
            throw failure;
        }
        throw err;
    } finally {
        // The SDK's rejections for the failed resource arrive on later ticks.
        if (failure) {
            setTimeout(() => process.off("unhandledRejection", swallow), 1000).unref();
        }
    }
}
