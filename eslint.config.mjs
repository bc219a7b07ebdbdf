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
    { files: ["**/*.mjs"], ...tseslint.configs.disableTypeChecked },
);
