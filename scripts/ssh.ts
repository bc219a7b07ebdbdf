// Runs a command:remote:Command's `create` over SSH the way pulumi-command does: user (default
// root), port (default 22), private key, pinned host key (a mismatch is a failed dial), a jump host
// (`proxy`), dial retries up to `dialErrorLimit` (default 10, -1 = unlimited) with the SDK's
// backoff (0.1 s growing by 1.5 to 5 s), `perDialTimeout` (default 15 s) per dial, stdin, logging.
import { createHash } from "crypto";
import { Client, ClientChannel, ConnectConfig, utils as sshUtils } from "ssh2";
import { Duplex } from "stream";

export interface ConnectionLike {
    host: string;
    port?: number;
    user?: string;
    privateKey?: string;
    password?: string;
    hostKey?: string;
    dialErrorLimit?: number;
    perDialTimeout?: number;
    proxy?: ConnectionLike;
}

export interface CommandResult {
    stdout: string;
    stderr: string;
}

/** Raised when the remote command exits non-zero: names the resource, the host and stderr. */
export class RemoteCommandError extends Error {}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function describe(c: ConnectionLike): string {
    const target = `${c.user ?? "root"}@${c.host}:${c.port ?? 22}`;
    return c.proxy ? `${target} via ${describe(c.proxy)}` : target;
}

/** OpenSSH-style fingerprint of a public key blob: SHA256:base64 without padding. */
export function fingerprint(blob: Buffer): string {
    return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/**
 * A new ed25519 key pair in OpenSSH format (the lab's admin key, the tests' keys). ssh2 1.17's
 * generateKeyPairSync strips every leading zero byte of the public key, so about 1 key in 256 comes out
 * 31 bytes long and neither half parses (mscdex/ssh2#1390, #1513, open): such a draw is discarded.
 */
export function generateEd25519KeyPair(comment?: string): { private: string; public: string } {
    for (;;) {
        const pair = sshUtils.generateKeyPairSync("ed25519", comment === undefined ? undefined : { comment });
        if (!(sshUtils.parseKey(pair.public) instanceof Error) && !(sshUtils.parseKey(pair.private) instanceof Error)) {
            return pair;
        }
    }
}

/**
 * Checks the presented host key against the pinned one. On a mismatch it records a message naming
 * both fingerprints in `refused` (ssh2 itself only says "Host denied (verification failed)").
 */
function hostVerifier(c: ConnectionLike, refused: { message?: string }): ConnectConfig["hostVerifier"] {
    if (!c.hostKey) {
        return undefined; // as the provider: without hostKey the key is not checked
    }
    const parsed = sshUtils.parseKey(c.hostKey);
    if (parsed instanceof Error || Array.isArray(parsed)) {
        throw new Error(`hostKey is not an OpenSSH public key: ${c.hostKey}`);
    }
    const blob = parsed.getPublicSSH();
    return (key: Buffer) => {
        if (Buffer.compare(key, blob) === 0) {
            return true;
        }
        refused.message = `host key mismatch: ${c.host} presented ${fingerprint(key)}, but the pinned hostKey is ${fingerprint(blob)}; refusing to connect (the host was replaced or someone is in the middle)`;
        return false;
    };
}

/** One SSH handshake, over `sock` when given (the jump host's forwarded channel). */
function connectOnce(c: ConnectionLike, sock?: Duplex): Promise<Client> {
    return new Promise((resolve, reject) => {
        const client = new Client();
        const refused: { message?: string } = {};
        const timeoutMs = (c.perDialTimeout ?? 15) * 1000;
        let settled = false;
        // The whole handshake is bounded, over a jump host's channel too.
        const timer = setTimeout(() => {
            settled = true;
            client.destroy();
            reject(new Error(`no SSH handshake with ${c.host} within ${timeoutMs / 1000} s`));
        }, timeoutMs);
        client.once("ready", () => {
            settled = true;
            clearTimeout(timer);
            resolve(client);
        });
        // A listener for the client's whole life: ssh2 can emit two errors for one failure (a reset
        // socket, then "Connection lost before handshake" when it closes), and an error nobody
        // listens to ends the process. Only the first one before "ready" decides the dial; errors
        // of a ready client reach its user (runRemoteCommand) as a closed channel.
        client.on("error", (err) => {
            if (settled) {
                return;
            }
            settled = true;
            clearTimeout(timer);
            client.end();
            reject(refused.message ? new Error(refused.message) : err);
        });
        client.connect({
            host: c.host,
            port: c.port ?? 22,
            username: c.user ?? "root",
            privateKey: c.privateKey,
            password: c.password,
            sock,
            readyTimeout: timeoutMs,
            hostVerifier: hostVerifier(c, refused),
        });
    });
}

/** Opens a TCP channel through the jump host; bounded, like the rest of the dial, by perDialTimeout. */
function forwardOut(jump: Client, host: string, port: number, timeoutSeconds: number): Promise<ClientChannel> {
    return new Promise((resolve, reject) => {
        const timer = setTimeout(
            () => reject(new Error(`no TCP connection to ${host}:${port} through the jump host within ${timeoutSeconds} s`)),
            timeoutSeconds * 1000,
        );
        jump.forwardOut("127.0.0.1", 0, host, port, (err, channel) => {
            clearTimeout(timer);
            return err ? reject(err) : resolve(channel);
        });
    });
}

/** Dials with the provider's retry policy; resolves to a ready client (and the jump client to close). */
export async function dial(c: ConnectionLike): Promise<{ client: Client; jump?: Client }> {
    const limit = c.dialErrorLimit ?? 10;
    let delay = 100;
    for (let dials = 1; ; dials++) {
        let jump: Client | undefined;
        try {
            if (c.proxy) {
                jump = await connectOnce(c.proxy);
                const channel = await forwardOut(jump, c.host, c.port ?? 22, c.perDialTimeout ?? 15);
                return { client: await connectOnce(c, channel), jump };
            }
            return { client: await connectOnce(c) };
        } catch (err) {
            jump?.end();
            if (limit >= 0 && dials > limit) {
                throw new Error(`could not dial ${describe(c)} after ${dials} attempts: ${(err as Error).message}`);
            }
            await sleep(delay);
            delay = Math.min(delay * 1.5, 5000);
        }
    }
}

/** Runs `command` with `stdin` on the host; rejects with RemoteCommandError on a non-zero exit. */
export async function runRemoteCommand(resource: string, c: ConnectionLike, command: string, stdin?: string): Promise<CommandResult> {
    const { client, jump } = await dial(c);
    try {
        return await new Promise<CommandResult>((resolve, reject) => {
            client.exec(command, (err, stream) => {
                if (err) {
                    reject(err);
                    return;
                }
                let stdout = "";
                let stderr = "";
                stream.on("data", (d: Buffer) => (stdout += d.toString()));
                stream.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
                stream.on("close", (code: number | null, signal?: string) => {
                    if (code === 0) {
                        resolve({ stdout, stderr });
                    } else {
                        reject(
                            new RemoteCommandError(
                                `${resource} failed on ${describe(c)} (exit ${code ?? signal ?? "status unknown: the connection closed"}):\n${stderr.trim().split("\n").slice(-15).join("\n")}`,
                            ),
                        );
                    }
                });
                stream.end(stdin ?? "");
            });
        });
    } finally {
        client.end();
        jump?.end();
    }
}
