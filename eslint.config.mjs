// eslint: typescript-eslint's type-aware rules plus Pulumi's (no Output inside template literals).
import js from "@eslint/js";
import pulumi from "@pulumi/eslint-plugin";
import tseslint from "typescript-eslint";

// The product's floors: config.ts -> components/ -> scripts/ (pure renderers, shared types) -> host, and
// operator/ (commands run by hand, without the Pulumi program) on scripts/. An import may only point down.
const floor = (files, group, message) => ({ files, rules: { "no-restricted-imports": ["error", { patterns: [{ group, message }] }] } });
const productFloors = [
    floor(
        ["scripts/**/*.ts"],
        ["../components/*", "../config", "../index", "../operator/*", "../lab/*", "../tests/*"],
        "scripts/ is the ground floor: it imports nothing of the program, the operator commands, the lab or tests.",
    ),
    floor(
        ["components/**/*.ts"],
        ["../config", "../index", "../operator/*", "../lab/*", "../tests/*"],
        "components/ import scripts/ and each other only: config.ts and index.ts sit above them.",
    ),
    floor(
        ["operator/**/*.ts"],
        ["../components/*", "../index", "../lab/*", "../tests/*"],
        "operator commands import scripts/ (and config.ts if they must), never the program's components.",
    ),
];

// The mock runtime's and the lab's floors: the product (index.ts, config.ts, components/, scripts/,
// operator/, policy/, examples/) -> mockcloud/ (the mock runtime) -> lab/harness -> lab/bench ->
// lab/scenarios -> lab/main.ts; tests/ stand on top and may import anything. An import may only point
// down. Matched on the import as written (relative paths). The rule is typescript-eslint's copy of
// no-restricted-imports: a block setting the core rule for the same files (the product's own floors)
// then adds to these patterns instead of replacing them.

// Imports of the repository's top-level dirs, from a file at any depth:
const into = (...dirs) => `^(\\./|(\\.\\./)+)(${dirs.join("|")})(/|$)`;
// Imports of lab/'s other parts, from a file in one of them:
const intoLab = (...parts) => `^(\\.\\./)+(lab/)?(${parts.join("|")})(/|$)`;
const labFloor = (files, patterns) => ({
    files,
    rules: {
        "@typescript-eslint/no-restricted-imports": ["error", { patterns: patterns.map(([regex, message]) => ({ regex, message })) }],
    },
});
const NO_TESTS = [into("tests"), "tests/ stand on top: nothing outside them imports them (shared mocks live in mockcloud/)."];
const labFloors = [
    labFloor(
        ["index.ts", "config.ts", "components/**/*.ts", "scripts/**/*.ts", "operator/**/*.ts", "policy/**/*.ts", "examples/**/*.ts"],
        [[into("tests", "lab", "mockcloud"), "the product imports neither the mock runtime (mockcloud/), the lab nor tests."]],
    ),
    labFloor(
        ["mockcloud/**/*.ts"],
        [[into("tests", "lab"), "mockcloud/ (the mock runtime) imports the product only: neither tests nor the lab."]],
    ),
    labFloor(
        ["lab/harness/**/*.ts"],
        [
            NO_TESTS,
            [
                intoLab("bench", "scenarios", "main"),
                "lab/harness is the lab's ground floor: it imports neither bench/, scenarios/ nor main.ts (shared pieces move down into harness/).",
            ],
        ],
    ),
    labFloor(
        ["lab/bench/**/*.ts"],
        [NO_TESTS, [intoLab("scenarios", "main"), "lab/bench imports lab/harness, never the scenarios or main.ts."]],
    ),
    labFloor(["lab/scenarios/**/*.ts"], [NO_TESTS, [intoLab("main"), "lab/scenarios import harness/ and bench/, never main.ts."]]),
    labFloor(["lab/*.ts"], [NO_TESTS]),
];

export default tseslint.config(
    { ignores: ["node_modules/**", "bin/**", ".lab/**"] },
    js.configs.recommended,
    ...tseslint.configs.recommendedTypeChecked,
    {
        files: ["**/*.ts"],
        languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
        plugins: { "@pulumi": pulumi },
        rules: {
            "@pulumi/no-output-in-template-literal": "error",
            "@pulumi/no-output-instance-in-template-literal": "error",
            // The mock runner and the lab read untyped engine payloads on purpose.
            "@typescript-eslint/no-explicit-any": "off",
            "@typescript-eslint/no-unsafe-assignment": "off",
            "@typescript-eslint/no-unsafe-member-access": "off",
            "@typescript-eslint/no-unsafe-call": "off",
            "@typescript-eslint/no-unsafe-argument": "off",
            "@typescript-eslint/no-unsafe-return": "off",
            "@typescript-eslint/no-require-imports": "off",
        },
    },
    ...productFloors,
    ...labFloors,
    { files: ["**/*.mjs"], ...tseslint.configs.disableTypeChecked },
);
