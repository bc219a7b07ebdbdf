// A stack's configuration as the Pulumi CLI hands it to the program on `pulumi up`: Pulumi.yaml and
// Pulumi.<stack>.yaml read, project defaults and values merged in, required keys and types checked.
// Ported from pulumi/pulumi at commit 1b5949891b3cefcb9974752b24a5ecef0acc86c8 (2026-08-21):
//   pkg/workspace/config.go: ValidateStackConfigAndApplyProjectConfig -> mergeConfig, validateStackConfigValues,
//     validateStackConfigValue, createConfigValue, parseConfigKey, formatMissingKeys, missingStackConfigurationKeysError
//   sdk/go/common/workspace/loaders.go: LoadProjectBytes, LoadProjectStackBytes, stackConfigNamespacedWithProject
//   sdk/go/common/workspace/project.go: ValidateProject, RewriteShorthandConfigValues, ValidateConfigValue,
//     InferFullTypeName, configKeyIsNamespacedByProject, (*Project).Validate; project.json (the `config` schema)
//   sdk/go/common/resource/config/{key,map,object,value,crypt}.go: keys, values, secure values, Set --path, Decrypt, SecureKeys
//   pkg/cmd/pulumi/config/{config,io}.go: `pulumi config set`; pkg/cmd/pulumi/operations/up.go: "validating stack config: %w"
// Error texts are the CLI's own. What this port does not model (ESC environments, key paths in declarations, the rest
// of the project schema, YAML scalars that gopkg.in/yaml.v3 reads differently) is refused, never guessed: at least
// as strict as the CLI. Secure values are decrypted by a Crypter the caller supplies (default: the CLI's own test
// Base64Crypter), as the stack's secrets provider would.
import * as fs from "fs";
import * as path from "path";
import { isScalar, parseDocument, visit } from "yaml";

/** A YAML value as gopkg.in/yaml.v3 decodes it into `any`: bigint is Go's int, number is float64. */
export type GoValue = string | bigint | number | boolean | null | GoValue[] | { [key: string]: GoValue };

export interface ProjectConfigItemsType {
    type: string;
    items?: ProjectConfigItemsType;
}

/** workspace.ProjectConfigType; `default`/`value` undefined where Go's are nil. */
export interface ProjectConfigType {
    type?: string;
    items?: ProjectConfigItemsType;
    description?: string;
    default?: GoValue;
    value?: GoValue;
    secret: boolean;
}

export interface Project {
    name: string;
    /** In file order (Go iterates a map; only the order of several simultaneous errors can differ). */
    config: Map<string, ProjectConfigType>;
}

/** config.Value: the string form the CLI keeps a value in (object values as JSON, secure ones as ciphertext). */
export interface Value {
    value: string;
    secure: boolean;
    object: boolean;
}

/** config.Map, by `namespace:name`. */
export type StackConfig = Map<string, Value>;

export interface Crypter {
    encrypt(plaintext: string): string;
    decrypt(ciphertext: string): string;
}

/** config.Base64Crypter (crypt.go), with Go's strict StdEncoding decoding. */
export const BASE64_CRYPTER: Crypter = {
    encrypt: (plaintext) => Buffer.from(plaintext, "utf8").toString("base64"),
    decrypt: (ciphertext) => {
        if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(ciphertext)) {
            throw new Error(`illegal base64 data in secure value "${ciphertext}" (not this crypter's ciphertext)`);
        }
        return Buffer.from(ciphertext, "base64").toString("utf8");
    },
};

function unmodeled(what: string): Error {
    return new Error(`tests/cliConfig.ts does not model ${what}: refused rather than guessed`);
}

// ---- YAML, as gopkg.in/yaml.v3 reads it -------------------------------------------------------------

/** Plain scalars yaml.v3 reads as other numbers than YAML 1.2 core does (017 is octal, 1_000 an int there). */
function readDifferently(source: string): boolean {
    const numberLike = /^[-+]?(0[xXoObB][0-9a-fA-F_]+|[0-9][0-9_]*(\.[0-9_]*)?([eE][-+]?[0-9_]+)?)$/.test(source);
    return numberLike && (source.includes("_") || /^[-+]?0[0-9xXoObB]/.test(source));
}

function parseYaml(text: string, file: string): GoValue {
    // readFileStripUTF8BOM
    const doc = parseDocument(text.startsWith("\uFEFF") ? text.slice(1) : text, { intAsBigInt: true, merge: false, uniqueKeys: true });
    if (doc.errors.length > 0) {
        throw new Error(`could not unmarshal '${file}': ${doc.errors[0].message}`);
    }
    visit(doc, {
        Pair(_, pair) {
            if (!isScalar(pair.key) || typeof pair.key.value !== "string" || pair.key.value === "<<") {
                throw unmodeled(`a non-string or merge key in ${file}`);
            }
        },
        Scalar(_, node) {
            if (node.type === "PLAIN" && typeof node.source === "string" && readDifferently(node.source)) {
                throw unmodeled(`the plain scalar ${node.source} in ${file} (yaml.v3 reads it differently; quote it)`);
            }
        },
    });
    return doc.toJS() as GoValue;
}

function isMapValue(v: GoValue | undefined): v is { [key: string]: GoValue } {
    return typeof v === "object" && v !== null && !Array.isArray(v);
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const isGoInt = (v: unknown): v is bigint => typeof v === "bigint" && v >= INT64_MIN && v <= INT64_MAX;

/** Go's %T of a decoded YAML value. */
function goTypeName(v: GoValue): string {
    if (v === null) return "<nil>";
    if (Array.isArray(v)) return "[]interface {}";
    return (
        { string: "string", bigint: "int", number: "float64", boolean: "bool", object: "map[string]interface {}" }[typeof v as string] ??
        "?"
    );
}

/** The JSON-schema type name the CLI's validator reports ("expected string or null, but got number"). */
function jsonTypeName(v: GoValue): string {
    if (v === null) return "null";
    if (Array.isArray(v)) return "array";
    return typeof v === "bigint" ? "number" : typeof v;
}

// ---- Project (Pulumi.yaml) ------------------------------------------------------------------------

/** Levenshtein distance, for findClosestKey's suggestion. */
function distance(a: string, b: string): number {
    let row = Array.from({ length: b.length + 1 }, (_, i) => i);
    for (let i = 1; i <= a.length; i++) {
        const next = [i];
        for (let j = 1; j <= b.length; j++) {
            next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
        }
        row = next;
    }
    return row[b.length];
}

/** findClosestKey with maxValidationAttributeDistance 2. */
function findClosestKey(needle: string, haystack: object): string {
    let match = "";
    let closest = 3;
    for (const key of Object.keys(haystack).sort()) {
        const d = distance(needle.toLowerCase(), key.toLowerCase());
        if (d === 0) return key;
        if (d < closest) {
            closest = d;
            match = key;
        }
    }
    return match;
}

const SIMPLE_CONFIG_TYPES = ["string", "integer", "boolean", "array", "object"];
const DECLARATION_ATTRIBUTES = ["type", "items", "description", "secret", "default", "value"];

/** project.json's configItemsType; returns the first violation, if any. */
function itemsSchemaProblem(items: GoValue, at: string): string | undefined {
    if (!isMapValue(items)) return `${at}: expected object, but got ${jsonTypeName(items)}`;
    if (!("type" in items)) return `${at}: missing properties: 'type'`;
    if (isMapValue(items.type)) throw unmodeled(`an object as the 'type' of items (${at})`);
    if (typeof items.type !== "string" || !SIMPLE_CONFIG_TYPES.includes(items.type)) return `${at}/type: oneOf failed`;
    if (items.type === "array" && !("items" in items)) return `${at}: missing properties: 'items'`;
    return "items" in items ? itemsSchemaProblem(items.items, `${at}/items`) : undefined;
}

/** project.json's `config` additionalProperties: oneOf string, integer, boolean, array, configTypeDeclaration. */
function configEntrySchemaProblem(key: string, entry: GoValue): string | undefined {
    const at = `#/config/${key}`;
    if (key === "secret") {
        // project.json declares config.properties.secret: boolean.
        return typeof entry === "boolean" ? undefined : `${at}: expected boolean, but got ${jsonTypeName(entry)}`;
    }
    if (typeof entry === "string" || typeof entry === "boolean" || Array.isArray(entry) || typeof entry === "bigint") return undefined;
    if (typeof entry === "number" && Number.isInteger(entry)) throw unmodeled(`the float shorthand ${entry} of ${key}`);
    if (!isMapValue(entry)) return `${at}: oneOf failed`;
    const extra = Object.keys(entry).filter((k) => !DECLARATION_ATTRIBUTES.includes(k));
    if (extra.length > 0) return `${at}: oneOf failed\n* ${at}: additionalProperties ${extra.map((k) => `'${k}'`).join(", ")} not allowed`;
    if ("type" in entry && (typeof entry.type !== "string" || !SIMPLE_CONFIG_TYPES.includes(entry.type))) {
        return `${at}: oneOf failed\n* ${at}/type: value must be one of ${SIMPLE_CONFIG_TYPES.map((t) => `"${t}"`).join(", ")}`;
    }
    if ("description" in entry && typeof entry.description !== "string") return `${at}: oneOf failed\n* ${at}/description: expected string`;
    if ("secret" in entry && typeof entry.secret !== "boolean") return `${at}: oneOf failed\n* ${at}/secret: expected boolean`;
    const items = "items" in entry ? itemsSchemaProblem(entry.items, `${at}/items`) : undefined;
    return items === undefined ? undefined : `${at}: oneOf failed\n* ${items}`;
}

/** The parts of project.json this port checks; attributes it does not model are refused. */
function projectSchemaProblem(project: { [key: string]: GoValue }): string | undefined {
    for (const key of ["description", "author", "website", "license", "main", "stackConfigDir"]) {
        if (key in project && project[key] !== null && typeof project[key] !== "string") {
            return `#/${key}: expected string or null, but got ${jsonTypeName(project[key])}`;
        }
    }
    for (const key of ["backend", "options", "template", "packages", "plugins"]) {
        if (key in project) throw unmodeled(`the project attribute '${key}'`);
    }
    if ("runtime" in project) {
        const runtime = project.runtime;
        const ok =
            (typeof runtime === "string" && runtime !== "") ||
            (isMapValue(runtime) &&
                Object.keys(runtime).every((k) => k === "name" || k === "options") &&
                (!("name" in runtime) || (typeof runtime.name === "string" && runtime.name !== "")) &&
                (!("options" in runtime) || isMapValue(runtime.options)));
        if (!ok) return "#/runtime: oneOf failed";
    }
    const config = project.config;
    if (typeof config === "string") throw unmodeled("config: <path> (the deprecated stackConfigDir form)");
    if (config !== undefined && config !== null && !isMapValue(config))
        return `#/config: expected object, string or null, but got ${jsonTypeName(config)}`;
    for (const [key, entry] of Object.entries(config ?? {})) {
        const problem = configEntrySchemaProblem(key, entry);
        if (problem !== undefined) return problem;
    }
    return undefined;
}

function configKeyIsNamespacedByProject(projectName: string, configKey: string): boolean {
    return !configKey.includes(":") || configKey.startsWith(`${projectName}:`);
}

function toItems(raw: GoValue): ProjectConfigItemsType {
    const items = raw as { type: string; items?: GoValue };
    return { type: items.type, ...(items.items !== undefined && items.items !== null ? { items: toItems(items.items) } : {}) };
}

/** LoadProjectBytes: ValidateProject, RewriteShorthandConfigValues, then (*Project).Validate. */
export function loadProjectText(text: string, file: string): Project {
    const raw = parseYaml(text, file);
    const invalid = (message: string) => new Error(`could not validate '${file}': ${message}`);
    if (!isMapValue(raw)) throw invalid(`expected project to be an object, was '${goTypeName(raw)}'`);
    if (!("name" in raw)) {
        const closest = findClosestKey("name", raw);
        throw invalid(
            closest !== "" ? `project is missing a 'name' attribute; found '${closest}' instead` : "project is missing a 'name' attribute",
        );
    }
    if (typeof raw.name !== "string" || raw.name === "") throw invalid("project is missing a non-empty string 'name' attribute");
    const problem = projectSchemaProblem(raw);
    if (problem !== undefined) throw invalid(problem);
    const name = raw.name;
    const config = new Map<string, ProjectConfigType>();
    for (const [key, entry] of Object.entries(isMapValue(raw.config) ? raw.config : {})) {
        // RewriteShorthandConfigValues: a primitive (string, int, bool) or an array is a default (project keys) or a value.
        if (typeof entry === "string" || typeof entry === "boolean" || isGoInt(entry) || Array.isArray(entry)) {
            config.set(
                key,
                configKeyIsNamespacedByProject(name, key) ? { default: entry, secret: false } : { value: entry, secret: false },
            );
            continue;
        }
        if (!isMapValue(entry)) throw unmodeled(`the config entry ${key}`); // a uint64 shorthand fails to unmarshal in Go
        config.set(key, {
            ...(typeof entry.type === "string" ? { type: entry.type } : {}),
            ...(entry.items !== undefined && entry.items !== null ? { items: toItems(entry.items) } : {}),
            ...(typeof entry.description === "string" ? { description: entry.description } : {}),
            // yaml `default: null` is Go's nil: no default.
            ...(entry.default !== undefined && entry.default !== null ? { default: entry.default } : {}),
            ...(entry.value !== undefined && entry.value !== null ? { value: entry.value } : {}),
            secret: entry.secret === true,
        });
    }
    const project = { name, config };
    const validation = validateProject(project);
    if (validation !== undefined) throw new Error(`could not unmarshal '${file}': ${validation}`);
    return project;
}

/** (*Project).Validate's config checks: the error message, or undefined. */
export function validateProject(project: Project): string | undefined {
    if (project.name === "") return "project is missing a 'name' attribute";
    for (const [configKey, configType] of project.config) {
        if (configType.default !== undefined && configType.value !== undefined) {
            return `project config '${configKey}' cannot have both a 'default' and 'value' attribute`;
        }
        const typeName = configType.type ?? "";
        if (configKeyIsNamespacedByProject(project.name, configKey)) {
            if (configType.type !== undefined && typeName === "array" && configType.items === undefined) {
                return `The configuration key '${configKey}' declares an array but does not specify the underlying type via the 'items' attribute`;
            }
            if (configType.type !== undefined && configType.default !== undefined) {
                if (!validateConfigValue(typeName, configType.items, configType.default)) {
                    return `The default value specified for configuration key '${configKey}' is not of the expected type '${inferFullTypeName(typeName, configType.items)}'`;
                }
            }
        } else {
            if (configType.type !== undefined) {
                return `Configuration key '${configKey}' is not namespaced by the project and should not define a type`;
            }
            if (configType.default !== undefined) {
                return `Configuration key '${configKey}' is not namespaced by the project and should not define a default value. Did you mean to use the 'value' attribute instead of 'default'?`;
            }
            if (configType.value === undefined) {
                return `Configuration key '${configKey}' is namespaced and must provide an attribute 'value'`;
            }
        }
    }
    return undefined;
}

export function inferFullTypeName(typeName: string, items: ProjectConfigItemsType | undefined): string {
    return items !== undefined ? `array<${inferFullTypeName(items.type, items.items)}>` : typeName;
}

/** strconv.Atoi on 64-bit: optional sign, decimal digits, int64 range. */
function atoiOk(text: string): boolean {
    return /^[-+]?[0-9]+$/.test(text) && BigInt(text) >= INT64_MIN && BigInt(text) <= INT64_MAX;
}

/** ValidateConfigValue (project.go). */
export function validateConfigValue(typeName: string, items: ProjectConfigItemsType | undefined, value: GoValue): boolean {
    if (typeName === "string") return typeof value === "string";
    if (typeName === "integer") {
        if (isGoInt(value)) return true;
        // YAML/JSON floats that are whole numbers, and strings that parse as integers, count.
        if (typeof value === "number" && value === Math.trunc(value)) return true;
        return typeof value === "string" && atoiOk(value);
    }
    if (typeName === "boolean") return value === "true" || value === "false" || typeof value === "boolean";
    if (typeName === "object") return isMapValue(value);
    if (!Array.isArray(value) || items === undefined) return false;
    return value.every((item) => validateConfigValue(items.type, items.items, item));
}

// ---- Values (object.go, value.go) -------------------------------------------------------------------

class Ciphertext {
    constructor(readonly ciphertext: string) {}
}
/** object.go's object: bigint is int64/uint64, number float64, Map a map[string]object. */
type Obj = null | boolean | bigint | number | string | Ciphertext | Obj[] | Map<string, Obj>;

/** unmarshalObject: a decoded YAML/JSON value; {secure: <string>} alone is a ciphertext. */
function toObj(v: GoValue): Obj {
    if (Array.isArray(v)) return v.map(toObj);
    if (isMapValue(v)) {
        const keys = Object.keys(v);
        if (keys.length === 1 && keys[0] === "secure" && typeof v.secure === "string") return new Ciphertext(v.secure);
        return new Map(keys.map((k) => [k, toObj(v[k])]));
    }
    return v;
}

function objSecure(o: Obj): boolean {
    if (o instanceof Ciphertext) return true;
    if (Array.isArray(o)) return o.some(objSecure);
    return o instanceof Map && [...o.values()].some(objSecure);
}

/** encoding/json's rendering (map keys sorted); escapes may differ textually, not in meaning. */
function goJson(o: Obj, decrypt?: (ciphertext: string) => string): string {
    if (o instanceof Ciphertext) return decrypt ? JSON.stringify(decrypt(o.ciphertext)) : `{"secure":${JSON.stringify(o.ciphertext)}}`;
    if (Array.isArray(o)) return `[${o.map((e) => goJson(e, decrypt)).join(",")}]`;
    if (o instanceof Map) {
        const keys = [...o.keys()].sort();
        return `{${keys.map((k) => `${JSON.stringify(k)}:${goJson(o.get(k)!, decrypt)}`).join(",")}}`;
    }
    if (typeof o === "number" && !Number.isFinite(o)) throw new Error(`json: unsupported value: ${o}`);
    return typeof o === "bigint" ? o.toString() : JSON.stringify(o);
}

/** object.MarshalString: scalars become plain strings, containers JSON. */
function toValue(o: Obj): Value {
    if (typeof o === "boolean" || typeof o === "bigint" || typeof o === "number") return { value: goJson(o), secure: false, object: false };
    if (typeof o === "string") return { value: o, secure: false, object: false };
    if (o instanceof Ciphertext) return { value: o.ciphertext, secure: true, object: false };
    return { value: goJson(o), secure: objSecure(o), object: true };
}

/** Value.unmarshalObject (json.Number: int64 if it fits, else float64). */
function fromValue(v: Value): Obj {
    if (!v.object) return v.secure ? new Ciphertext(v.value) : v.value;
    const doc = parseDocument(v.value, { intAsBigInt: true });
    const narrow = (o: Obj): Obj =>
        typeof o === "bigint" && !isGoInt(o)
            ? Number(o)
            : Array.isArray(o)
              ? o.map(narrow)
              : o instanceof Map
                ? new Map([...o].map(([k, e]) => [k, narrow(e)]))
                : o;
    return narrow(toObj(doc.toJS() as GoValue));
}

/** Value.Value(decrypter) / Plaintext.marshalText: the string the program receives. */
function plaintextOf(v: Value, crypter: Crypter): string {
    const o = fromValue(v);
    if (typeof o === "string") return o;
    if (o instanceof Ciphertext) return crypter.decrypt(o.ciphertext);
    return goJson(o, (c) => crypter.decrypt(c));
}

/** createConfigValue: a project default or value as a stack value. */
function createConfigValue(raw: GoValue): Value {
    if (typeof raw === "string" || typeof raw === "boolean" || isGoInt(raw)) return { value: String(raw), secure: false, object: false };
    return { value: goJson(toObj(raw)), secure: false, object: true };
}

// ---- Keys -------------------------------------------------------------------------------------------

/** config.ParseKey; the old `<ns>:config:<name>` form is refused. */
function parseKey(s: string): { namespace: string; name: string } {
    const colons = s.split(":").length - 1;
    if (colons === 2 && s.split(":")[1] === "config") throw unmodeled(`the compat key form ${s}`);
    if (colons !== 1)
        throw new Error(`could not parse ${s} as a configuration key (configuration keys should be of the form \`<namespace>:<name>\`)`);
    const [namespace, name] = s.split(":");
    return { namespace, name };
}

/** parseConfigKey (pkg/workspace/config.go). */
function parseConfigKey(projectName: string, key: string): { namespace: string; name: string } {
    return key.includes(":") ? parseKey(key) : { namespace: projectName, name: key };
}

/** Map.Get(k, true) for a declared key: a name the CLI would read as a path is not modeled. */
function stackGet(stack: StackConfig, key: { namespace: string; name: string }): Value | undefined {
    if (/[.[\]"]/.test(key.name)) throw unmodeled(`the path-like config key ${key.namespace}:${key.name}`);
    return stack.get(`${key.namespace}:${key.name}`);
}

// ---- Stack (Pulumi.<stack>.yaml) --------------------------------------------------------------------

/** LoadProjectStackBytes: the stack's config, keys namespaced with the project's name where bare. */
export function loadProjectStackText(project: Project, text: string, file: string): StackConfig {
    const raw = parseYaml(text, file);
    const stack: StackConfig = new Map();
    if (raw === null) return stack;
    if (!isMapValue(raw)) throw new Error(`expected project to be an object, was '${goTypeName(raw)}'`);
    if ("environment" in raw) throw unmodeled("ESC environments (the stack's `environment`)");
    if (raw.config === undefined || raw.config === null) return stack;
    if (!isMapValue(raw.config)) throw new Error(`could not unmarshal map: the config of ${file} is a ${jsonTypeName(raw.config)}`);
    for (const [key, value] of Object.entries(raw.config)) {
        if (value === null) {
            // The CLI warns and passes "null" on; refused here (checkForEmptyConfig's text).
            throw new Error(
                `No value for configuration key "${key}". This is currently treated as an empty string \`""\`, but will be treated as \`null\` in a future version of pulumi.\nSet the value to \`""\` to avoid this warning.`,
            );
        }
        const parsed = parseKey(key.includes(":") ? key : `${project.name}:${key}`);
        const full = `${parsed.namespace}:${parsed.name}`;
        if (stack.has(full)) throw unmodeled(`${file} setting ${full} twice (bare and namespaced)`);
        stack.set(full, toValue(toObj(value)));
    }
    return stack;
}

/** `pulumi config set [--secret] [--path] <key> <value>` (or the value on stdin, one trailing newline dropped). */
export interface ConfigSet {
    key: string;
    value: string;
    secret?: boolean;
    path?: boolean;
    stdin?: boolean;
    /** --plaintext: without it a plaintext key named like a secret is refused (the CLI also weighs entropy). */
    plaintext?: boolean;
}

type PathSegment = string | number;

/** A strict subset of resource.ParsePropertyPathStrict: name, .name, [N], ["key"]. */
function parsePath(text: string): PathSegment[] {
    const segments: PathSegment[] = [];
    let rest = text;
    while (rest !== "") {
        // A name: bare first, after a dot later.
        const name = segments.length === 0 ? "" : "\\.";
        const m = new RegExp(`^(?:${name}([A-Za-z0-9_$-]+)|\\[([0-9]+)\\]|\\["([^"\\\\]*)"\\])`).exec(rest);
        if (!m) throw unmodeled(`the config path ${text}`);
        segments.push(m[1] ?? (m[2] !== undefined ? Number(m[2]) : m[3]));
        rest = rest.slice(m[0].length);
    }
    if (typeof segments[0] !== "string") throw new Error("first path segement of config key must be a string");
    return segments;
}

/** Value.coerceObject for an untyped value: "true"/"false" and base-10 integers (no leading 0) become typed. */
function coerce(v: Value): Obj {
    if (v.secure || v.object) return fromValue(v);
    if (v.value === "true" || v.value === "false") return v.value === "true";
    if (/^-?[0-9]+$/.test(v.value) && !(v.value.length > 1 && v.value.startsWith("0"))) {
        const n = BigInt(v.value);
        if (n >= INT64_MIN && n < 2n ** 64n) return n;
    }
    return v.value;
}

function newContainer(accessor: PathSegment): Obj {
    return typeof accessor === "number" ? Array<Obj>(accessor + 1).fill(null) : new Map();
}

/** object.Set. */
function setAt(c: Obj, prefix: PathSegment[], at: PathSegment[], value: Obj): Obj {
    if (at.length === 0) return value;
    let container: Obj[] | Map<string, Obj>;
    if (Array.isArray(c) || c instanceof Map) {
        container = c;
    } else if (c === null || prefix.length === 1) {
        // COMPAT in object.Set: a scalar at the first level is replaced by a container.
        container = typeof at[0] === "number" ? Array<Obj>(at[0] + 1).fill(null) : new Map<string, Obj>();
    } else {
        throw new Error(`${prefix.join(".")}: expected ${typeof at[0] === "number" ? "an array" : "a map"}`);
    }
    const here = [...prefix, at[0]];
    if (Array.isArray(container)) {
        const index = at[0];
        if (typeof index !== "number") throw new Error(`${here.join(".")}: key for an array must be an int`);
        if (index > container.length) throw new Error(`${here.join(".")}: array index out of range`);
        const next = [...container, ...(index === container.length ? [null] : [])];
        next[index] = setAt(next[index], here, at.slice(1), value);
        return next;
    }
    const key = at[0];
    if (typeof key !== "string") throw new Error(`${here.join(".")}: key for a map must be a string`);
    if (at.length === 1 && container.size === 0 && key === "secure" && typeof value === "string") {
        throw new Error('maps with the single key "secure" are reserved');
    }
    const next = new Map(container);
    next.set(key, setAt(next.get(key) ?? null, here, at.slice(1), value));
    return next;
}

/** configSetCmd.Run then Map.Set. */
export function configSet(project: Project, stack: StackConfig, set: ConfigSet, crypter: Crypter = BASE64_CRYPTER): void {
    const value = set.stdin ? set.value.replace(/\n$/, "") : set.value;
    // parseConfigKey (io.go): only the top segment of a path is namespaced.
    const split = set.path ? set.key.search(/[[.]/) : -1;
    const top = split > 0 ? set.key.slice(0, split) : set.key;
    const topKey = parseKey(top.includes(":") ? top : `${project.name}:${top}`);
    const name = topKey.name + (split > 0 ? set.key.slice(split) : "");
    if (!set.secret && !set.plaintext && /passwd|pass|password|pwd|secret|token/i.test(name)) {
        throw new Error(
            `config value for '${topKey.namespace}:${name}' looks like a secret; rerun with --secret to encrypt it, or --plaintext if you meant to store in plaintext`,
        );
    }
    const v: Value = set.secret ? { value: crypter.encrypt(value), secure: true, object: false } : { value, secure: false, object: false };
    if (!set.path) {
        stack.set(`${topKey.namespace}:${name}`, v);
        return;
    }
    const segments = parsePath(name);
    const configKey = `${topKey.namespace}:${segments[0] as string}`;
    if (segments.length === 1) {
        stack.set(configKey, v);
        return;
    }
    const existing = stack.get(configKey);
    const root = existing !== undefined ? fromValue(existing) : newContainer(segments[1]);
    stack.set(configKey, toValue(setAt(root, segments.slice(0, 1), segments.slice(1), coerce(v))));
}

// ---- ValidateStackConfigAndApplyProjectConfig ------------------------------------------------------------

function formatMissingKeys(missingKeys: string[]): string {
    if (missingKeys.length === 1) return `'${missingKeys[0]}'`;
    const keys = [...missingKeys].sort();
    return keys.map((k, i) => (i === keys.length - 1 ? `and '${k}'` : i === keys.length - 2 ? `'${k}' ` : `'${k}', `)).join("");
}

/**
 * mergeConfig with validate=true: project defaults/values set where the stack has none, the
 * project's keys without either required, then every typed key's value checked. Mutates `stack`.
 * Throws the CLI's error (up.go prefixes it with "validating stack config: ").
 */
export function validateStackConfigAndApplyProjectConfig(
    stackName: string,
    project: Project,
    stack: StackConfig,
    crypter: Crypter = BASE64_CRYPTER,
): void {
    const missing: string[] = [];
    const keys = [...project.config.keys()].sort();
    for (const projectConfigKey of keys) {
        const configType = project.config.get(projectConfigKey)!;
        const key = parseConfigKey(project.name, projectConfigKey);
        const foundOnStack = stackGet(stack, key) !== undefined;
        const hasDefault = configType.default !== undefined;
        const hasValue = configType.value !== undefined;
        if (!foundOnStack && !hasValue && !hasDefault && key.namespace === project.name) {
            missing.push(projectConfigKey);
            continue;
        }
        if (!foundOnStack && (hasValue || hasDefault)) {
            stack.set(`${key.namespace}:${key.name}`, createConfigValue((hasDefault ? configType.default : configType.value)!));
        }
    }
    if (missing.length > 0) {
        throw new Error(
            `Stack '${stackName}' is missing configuration ${missing.length > 1 ? "values" : "value"} ${formatMissingKeys(missing)}`,
        );
    }
    // validateStackConfigValues: every value is decrypted first (a bad ciphertext fails here).
    for (const value of stack.values()) plaintextOf(value, crypter);
    for (const projectConfigKey of keys) {
        const configType = project.config.get(projectConfigKey)!;
        if (configType.type === undefined) continue;
        const stackValue = stackGet(stack, parseConfigKey(project.name, projectConfigKey)) ?? { value: "", secure: false, object: false };
        if (configType.secret && !stackValue.secure) {
            throw new Error(`Stack '${stackName}' with configuration key '${projectConfigKey}' must be encrypted as it's secret`);
        }
        const decrypted = plaintextOf(stackValue, crypter);
        const content: GoValue = stackValue.object ? (JSON.parse(decrypted) as GoValue) : decrypted;
        if (!validateConfigValue(configType.type, configType.items, content)) {
            throw new Error(
                `Stack '${stackName}' with configuration key '${projectConfigKey}' must be of type '${inferFullTypeName(configType.type, configType.items)}'`,
            );
        }
    }
}

/** What the engine hands the program: Map.Decrypt and Map.SecureKeys, in runProgram's shape. */
export interface LoadedStack {
    config: Record<string, string>;
    secretKeys: string[];
}

export function programConfig(stack: StackConfig, crypter: Crypter = BASE64_CRYPTER): LoadedStack {
    const keys = [...stack.keys()].sort();
    return {
        config: Object.fromEntries(keys.map((k) => [k, plaintextOf(stack.get(k)!, crypter)])),
        secretKeys: keys.filter((k) => stack.get(k)!.secure),
    };
}

/**
 * `pulumi config set ...` for each of `sets`, then `pulumi up` up to the program's start: the
 * project and stack files loaded, defaults merged, the stack validated. A missing stack file is an
 * empty stack, as for the CLI.
 */
export function loadStack(options: {
    projectFile: string;
    stackName: string;
    stackFile?: string;
    sets?: ConfigSet[];
    crypter?: Crypter;
}): LoadedStack {
    const crypter = options.crypter ?? BASE64_CRYPTER;
    const project = loadProjectText(fs.readFileSync(options.projectFile, "utf8"), options.projectFile);
    const stackFile = options.stackFile ?? path.join(path.dirname(options.projectFile), `Pulumi.${options.stackName}.yaml`);
    const stack = fs.existsSync(stackFile)
        ? loadProjectStackText(project, fs.readFileSync(stackFile, "utf8"), stackFile)
        : new Map<string, Value>();
    for (const set of options.sets ?? []) configSet(project, stack, set, crypter);
    try {
        validateStackConfigAndApplyProjectConfig(options.stackName, project, stack, crypter);
    } catch (e) {
        throw new Error(`validating stack config: ${(e as Error).message}`);
    }
    return programConfig(stack, crypter);
}
