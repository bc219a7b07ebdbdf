// The crosscloud CrossGuard pack: `pulumi preview --policy-pack policy` (see README.md).
// The policies live in policies.ts as plain data; constructing the PolicyPack starts the gRPC server
// the Pulumi CLI talks to, so only the CLI loads this file.
import { PolicyPack } from "@pulumi/policy";
import { policies } from "./policies";

new PolicyPack("crosscloud", {
    description:
        "Guardrails for the crosscloud program: closed SSH and IKE, private database hosts, encrypted and protected data, IMDSv2, sane sizes.",
    policies,
});
