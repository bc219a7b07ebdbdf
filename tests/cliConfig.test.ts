// tests/cliConfig.ts against the Pulumi CLI's own test cases, ported, so the loader is shown to agree
// with the CLI; the shipped stack files go through it in tests/stackFiles.test.ts.
import * as assert from "assert";
import {
    BASE64_CRYPTER,
    Project,
    ProjectConfigType,
    StackConfig,
    loadProjectStackText,
    loadProjectText,
    validateProject,
    validateStackConfigAndApplyProjectConfig,
} from "./cliConfig";

/** The file name errors name; the texts are loaded from memory. */
const FILE = "/tmp/project.yaml";

/** The raw values (Value(NopDecrypter), as the Go tests' getConfigValue reads them). */
function rawValues(stack: StackConfig): Record<string, string> {
    return Object.fromEntries([...stack].map(([k, v]) => [k, v.value]).sort(([a], [b]) => a.localeCompare(b)));
}

/** loadProjectFromText, loadProjectStackFromText, then ValidateStackConfigAndApplyProjectConfig for stack 'dev'. */
function validate(projectYaml: string, stackYaml: string): StackConfig {
    const project = loadProjectText(projectYaml, FILE);
    const stack = loadProjectStackText(project, stackYaml, FILE);
    validateStackConfigAndApplyProjectConfig("dev", project, stack);
    return stack;
}

interface StackCase {
    project: string;
    stack: string;
    /** The whole stack config afterwards (the Go tests' Len plus each value). */
    values?: Record<string, string>;
    error?: string;
}

// pkg/workspace/config_project_test.go at pulumi/pulumi@1b5949891b3cefcb9974752b24a5ecef0acc86c8. Not ported:
// TestEnvironmentMerge (ESC environments, which the loader refuses; see below).
const STACK_CASES: [string, StackCase[]][] = [
    [
        "TestStackConfigIsInheritedFromProjectConfig",
        [
            {
                project: "name: test\nruntime: dotnet\nconfig:\n  instanceSize: t3.micro\n  instanceCount: 20\n  protect: true",
                stack: "config:\n  test:instanceSize: t4.large",
                values: { "test:instanceCount": "20", "test:instanceSize": "t4.large", "test:protect": "true" },
            },
        ],
    ],
    [
        "TestNamespacedConfigValuesAreInheritedCorrectly",
        [
            {
                project:
                    'name: test\nruntime: dotnet\nconfig:\n  aws:region: us-west-1\n  pulumi:disable-default-providers: ["*"]\n  instanceSize: t3.micro',
                stack: "config:\n  test:instanceSize: t4.large",
                values: { "aws:region": "us-west-1", "pulumi:disable-default-providers": '["*"]', "test:instanceSize": "t4.large" },
            },
        ],
    ],
    [
        "TestLoadingStackConfigWithoutNamespacingTheProject",
        [
            {
                project: "name: test\nruntime: dotnet\nconfig:\n  aws:region: us-west-1\n  instanceSize: t3.micro",
                stack: "config:\n  instanceSize: t4.large",
                values: { "aws:region": "us-west-1", "test:instanceSize": "t4.large" },
            },
        ],
    ],
    [
        "TestUntypedProjectConfigValuesAreNotValidated",
        [
            {
                project: "name: test\nruntime: dotnet\nconfig:\n  instanceSize: t3.micro\n  aws:region: us-west-1",
                stack: "config:\n  instanceSize: 9999\n  aws:region: 42",
                values: { "aws:region": "42", "test:instanceSize": "9999" },
            },
        ],
    ],
    [
        "TestUntypedProjectConfigValuesWithOnlyDefaultOrOnlyValue",
        [
            {
                project: "name: test\nruntime: dotnet\nconfig:\n  instanceSize:\n    default: t3.micro\n  region:\n    value: us-west-1",
                stack: "config:\n  aws:answer: 42",
                values: { "aws:answer": "42", "test:instanceSize": "t3.micro", "test:region": "us-west-1" },
            },
        ],
    ],
    [
        "TestUntypedStackConfigValuesDoNeedProjectDeclaration",
        [
            {
                project: "name: test\nruntime: dotnet\nconfig:\n  createVpc: true",
                stack: "config:\n  instanceSize: 42",
                values: { "test:createVpc": "true", "test:instanceSize": "42" },
            },
        ],
    ],
    [
        "TestUntypedProjectConfigObjectValuesPassedDownToStack",
        [
            {
                project:
                    "name: test\nruntime: dotnet\nconfig:\n  instanceSize:\n    value:\n      hello: world\n  aws:config:\n    value:\n      region: us-west-1",
                stack: "config:\n  aws:whatever: 42",
                values: { "aws:config": '{"region":"us-west-1"}', "aws:whatever": "42", "test:instanceSize": '{"hello":"world"}' },
            },
        ],
    ],
    [
        "TestStackConfigErrorsWhenStackValueIsNotCorrectlyTyped",
        [
            {
                project:
                    "name: test\nruntime: dotnet\nconfig:\n  values:\n    type: array\n    items:\n      type: string\n    default: [value]",
                stack: "config:\n  test:values: someValue\n",
                error: "Stack 'dev' with configuration key 'values' must be of type 'array<string>'",
            },
        ],
    ],
    [
        "TestStackConfigIntegerTypeIsCorrectlyValidated",
        [
            {
                project: "name: test\nruntime: dotnet\nconfig:\n  importantNumber:\n    type: integer\n",
                stack: "config:\n  test:importantNumber: 20\n",
                values: { "test:importantNumber": "20" },
            },
            {
                project: "name: test\nruntime: dotnet\nconfig:\n  importantNumber:\n    type: integer\n",
                stack: "config:\n  test:importantNumber: hello\n",
                error: "Stack 'dev' with configuration key 'importantNumber' must be of type 'integer'",
            },
        ],
    ],
    [
        "TestStackConfigErrorsWhenMissingStackValueForConfigTypeWithNoDefault",
        [
            {
                project: "name: test\nruntime: dotnet\nconfig:\n  values:\n    type: array\n    items:\n      type: string",
                stack: "",
                error: "Stack 'dev' is missing configuration value 'values'",
            },
        ],
    ],
    [
        "TestStackConfigErrorsWhenMissingTwoStackValueForConfigTypeWithNoDefault",
        [
            {
                project:
                    "name: test\nruntime: dotnet\nconfig:\n  another:\n    type: string\n  values:\n    type: array\n    items:\n      type: string",
                stack: "",
                error: "Stack 'dev' is missing configuration values 'another' and 'values'",
            },
        ],
    ],
    [
        "TestStackConfigErrorsWhenMissingMultipleStackValueForConfigTypeWithNoDefault",
        [
            {
                project:
                    "name: test\nruntime: dotnet\nconfig:\n  hello:\n    type: integer\n  values:\n    type: array\n    items:\n      type: string\n  world:\n    type: string",
                stack: "",
                error: "Stack 'dev' is missing configuration values 'hello', 'values' and 'world'",
            },
        ],
    ],
    [
        "TestStackConfigDoesNotErrorWhenProjectHasNotDefinedConfig",
        [
            {
                project: "name: test\nruntime: dotnet",
                stack: "config:\n  hello: 21\n  world: 42\n  another: 42",
                values: { "test:another": "42", "test:hello": "21", "test:world": "42" },
            },
        ],
    ],
    [
        "TestStackConfigSecretIsCorrectlyValidated",
        [
            {
                project: "name: test\nruntime: dotnet\nconfig:\n  importantNumber:\n    type: integer\n    secret: true\n",
                // config.Base64Crypter's EncryptValue("20")
                stack: `config:\n  test:importantNumber:\n    secure: ${BASE64_CRYPTER.encrypt("20")}\n`,
                values: { "test:importantNumber": "MjA=" },
            },
            {
                project: "name: test\nruntime: dotnet\nconfig:\n  importantNumber:\n    type: integer\n    secret: true\n",
                stack: "config:\n  test:importantNumber: 20\n",
                error: "Stack 'dev' with configuration key 'importantNumber' must be encrypted as it's secret",
            },
        ],
    ],
    [
        "TestStackConfigUInt64",
        [
            {
                project: "name: test\nruntime: dotnet",
                stack: "config:\n  test:instanceSize: 18446744073709551615",
                values: { "test:instanceSize": "18446744073709551615" },
            },
        ],
    ],
];

const untyped = (c: Omit<ProjectConfigType, "secret">): ProjectConfigType => ({ ...c, secret: false });
const project = (config: [string, ProjectConfigType][]): Project => ({ name: "test", config: new Map(config) });

// sdk/go/common/workspace/project_test.go at the same commit: the config cases and the name checks.
// Not ported: the runtime/template/backend/plugins schema cases (the loader refuses those attributes).
const PROJECT_VALIDATE_CASES: [string, Project, string | undefined][] = [
    [
        "TestProjectValidationSucceedsForObjectConfigType",
        project([["example", untyped({ type: "object", default: { hello: "world" } })]]),
        undefined,
    ],
    [
        "TestProjectValidationFailsForIncorrectDefaultValueType",
        project([["instanceSize", untyped({ type: "integer", default: "hello" })]]),
        "The default value specified for configuration key 'instanceSize' is not of the expected type 'integer'",
    ],
    [
        "TestProjectValidationFailsForIncorrectDefaultValueType",
        project([["values", untyped({ type: "array", items: { type: "array", items: { type: "string" } }, default: ["hello"] })]]),
        "The default value specified for configuration key 'values' is not of the expected type 'array<array<string>>'",
    ],
    [
        "TestProjectValidationSucceedsForCorrectDefaultValueType",
        project([["instanceSize", untyped({ type: "integer", default: 1n })]]),
        undefined,
    ],
    [
        "TestProjectValidationSucceedsForCorrectDefaultValueType",
        project([["values", untyped({ type: "array", items: { type: "array", items: { type: "string" } }, default: [["hello"]] })]]),
        undefined,
    ],
];

const PROJECT_LOAD_ERRORS: [string, string, string][] = [
    ["TestProjectLoadJSON/wrong type", '"hello  "', `could not validate '${FILE}': expected project to be an object, was 'string'`],
    ["TestProjectLoadJSON/missing name attribute", "{}", `could not validate '${FILE}': project is missing a 'name' attribute`],
    [
        "TestProjectLoadJSON/bad name",
        '{"name": ""}',
        `could not validate '${FILE}': project is missing a non-empty string 'name' attribute`,
    ],
    [
        "TestProjectLoadJSONInformativeErrors/a missing name attribute",
        '{"Name": "project", "runtime": "test"}',
        `could not validate '${FILE}': project is missing a 'name' attribute; found 'Name' instead`,
    ],
    [
        "TestNamespacedProjectConfigShouldNotBeExplicitlyTyped",
        "name: test\nruntime: dotnet\nconfig:\n  aws:region:\n    type: string\n    value:\n      region: us-west-1",
        `could not unmarshal '${FILE}': Configuration key 'aws:region' is not namespaced by the project and should not define a type`,
    ],
    [
        "TestProjectConfigCannotHaveBothValueAndDefault",
        "name: test\nruntime: dotnet\nconfig:\n  instanceSize:\n    type: string\n    default: t3.micro\n    value: t4.large",
        `could not unmarshal '${FILE}': project config 'instanceSize' cannot have both a 'default' and 'value' attribute`,
    ],
    [
        "TestProjectConfigCannotBeTypedArrayWithoutItems",
        "name: test\nruntime: dotnet\nconfig:\n  instanceSize:\n    type: array\n    default: [t3.micro, t4.large]",
        `could not unmarshal '${FILE}': The configuration key 'instanceSize' declares an array but does not specify the underlying type via the 'items' attribute`,
    ],
    [
        "TestNamespacedProjectConfigShouldNotBeProvideDefault",
        "name: test\nruntime: dotnet\nconfig:\n  aws:region:\n    default: us-west-1",
        `could not unmarshal '${FILE}': Configuration key 'aws:region' is not namespaced by the project and should not define a default value. Did you mean to use the 'value' attribute instead of 'default'?`,
    ],
];

describe("tests/cliConfig.ts agrees with the Pulumi CLI's own tests", function () {
    for (const [name, cases] of STACK_CASES) {
        it(name, function () {
            for (const c of cases) {
                if (c.error !== undefined) {
                    assert.throws(() => validate(c.project, c.stack), { message: c.error });
                } else {
                    assert.deepStrictEqual(rawValues(validate(c.project, c.stack)), c.values);
                }
            }
        });
    }

    it("TestEnvironmentMerge is not ported: a stack with an ESC environment is refused, not half-read", function () {
        const p = loadProjectText("name: test\nruntime: nodejs", FILE);
        assert.throws(() => loadProjectStackText(p, "environment:\n  - dev\nconfig:\n  test:string: foo", FILE), {
            message: "tests/cliConfig.ts does not model ESC environments (the stack's `environment`): refused rather than guessed",
        });
    });

    for (const [name, p, error] of PROJECT_VALIDATE_CASES) {
        it(`${name} (${[...p.config.values()].map((t) => JSON.stringify(t.default, (_, v: unknown) => (typeof v === "bigint" ? Number(v) : v))).join()})`, function () {
            assert.strictEqual(validateProject(p), error);
        });
    }

    it("TestProjectLoadsConfigSchemas", function () {
        const loaded = loadProjectText(
            "name: test\nruntime: dotnet\nconfig:\n  integerSchemaFull:\n    type: integer\n    description: a very important value\n    default: 1\n" +
                "  integerSchemaSimple: 20\n  textSchemaFull:\n    type: string\n    default: t3.micro\n  textSchemaSimple: t4.large\n" +
                "  booleanSchemaFull:\n    type: boolean\n    default: true\n  booleanSchemaSimple: false\n" +
                "  simpleArrayOfStrings:\n    type: array\n    items:\n      type: string\n    default: [hello]\n" +
                "  arrayOfArrays:\n    type: array\n    items:\n      type: array\n      items:\n        type: string\n" +
                "  secretString:\n    type: string\n    secret: true\n  ",
            FILE,
        );
        assert.deepStrictEqual(Object.fromEntries(loaded.config), {
            integerSchemaFull: { type: "integer", description: "a very important value", default: 1n, secret: false },
            integerSchemaSimple: { default: 20n, secret: false },
            textSchemaFull: { type: "string", default: "t3.micro", secret: false },
            textSchemaSimple: { default: "t4.large", secret: false },
            booleanSchemaFull: { type: "boolean", default: true, secret: false },
            booleanSchemaSimple: { default: false, secret: false },
            simpleArrayOfStrings: { type: "array", items: { type: "string" }, default: ["hello"], secret: false },
            arrayOfArrays: { type: "array", items: { type: "array", items: { type: "string" } }, secret: false },
            secretString: { type: "string", secret: true },
        });
    });

    for (const [name, text, error] of PROJECT_LOAD_ERRORS) {
        it(name, function () {
            assert.throws(() => loadProjectText(text, FILE), { message: error });
        });
    }
});

describe("tests/cliConfig.ts on what the CLI's tests leave out", function () {
    it('counts default: "" as a default (hasDefault is Default != nil), and hands the program ""', function () {
        const stack = validate('name: test\nconfig:\n  test:optional:\n    type: string\n    default: ""', "");
        assert.deepStrictEqual(rawValues(stack), { "test:optional": "" });
    });

    it("counts default: null as no default", function () {
        assert.throws(() => validate("name: test\nconfig:\n  test:optional:\n    type: string\n    default: null", ""), {
            message: "Stack 'dev' is missing configuration value 'test:optional'",
        });
    });

    it("takes integers as strings, as whole YAML floats, or as YAML ints, and nothing else", function () {
        const p = "name: test\nconfig:\n  n:\n    type: integer\n    default: 1";
        for (const ok of ['"16"', "16", "16.0", '"-3"']) {
            assert.doesNotThrow(() => validate(p, `config:\n  test:n: ${ok}`), ok);
        }
        for (const bad of ['"16.5"', "16.5", '" 16"', "sixteen", "[16]", '"9223372036854775808"']) {
            assert.throws(
                () => validate(p, `config:\n  test:n: ${bad}`),
                { message: "Stack 'dev' with configuration key 'n' must be of type 'integer'" },
                bad,
            );
        }
    });

    it("refuses plain scalars Go's YAML decoder reads as other numbers", function () {
        assert.throws(() => validate("name: test", "config:\n  test:n: 017"), {
            message:
                "tests/cliConfig.ts does not model the plain scalar 017 in /tmp/project.yaml (yaml.v3 reads it differently; quote it): refused rather than guessed",
        });
    });
});
