// One step run on a host over SSH: a rendered script sent on stdin to a fixed command line, with a
// hash of the script in `triggers` so that the engine re-runs the step exactly when it would change.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { HostScript, RUN_SCRIPT_FROM_STDIN, contentHash, renderHostScript } from "../scripts/render";
import { SshHost, connectionTo } from "./hosts";

export interface HostStepArgs {
    host: SshHost;
    /** The admin private key (secret). */
    privateKey: pulumi.Input<string>;
    /** The key for the jump host, when it differs from `privateKey` (an admin key rotation). */
    proxyPrivateKey?: pulumi.Input<string>;
    /** The step, from resolved values (may hold secrets: the Output stays secret). */
    script: pulumi.Output<HostScript>;
}

/** A remote.Command that runs `script` as root on `host`. */
export function hostStep(name: string, args: HostStepArgs, opts: pulumi.CustomResourceOptions): command.remote.Command {
    const rendered = args.script.apply(renderHostScript);
    return new command.remote.Command(
        name,
        {
            connection: connectionTo(args.host, args.privateKey, args.proxyPrivateKey),
            create: RUN_SCRIPT_FROM_STDIN,
            // The script (and any secret in it) travels on stdin: never on a command line.
            stdin: rendered,
            triggers: [rendered.apply(contentHash)],
            // Scripts print progress and status only, never a secret, so their output may be logged.
            logging: "stdoutAndStderr",
            // The previous stdout would be sent as environment variables that sshd drops anyway.
            addPreviousOutputInEnv: false,
        },
        opts,
    );
}

/** The `crosscloud: status: ...` line a check step prints last. */
export function stepStatus(step: command.remote.Command): pulumi.Output<string> {
    return step.stdout.apply((out) => /^crosscloud: status: (.*)$/m.exec(out ?? "")?.[1] ?? "unknown");
}
