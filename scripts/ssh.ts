// Runs a command:remote:Command's `create` over SSH as pulumi-command v1.2.1 does, and never more
// leniently: user (default root), port (default 22), private key, pinned host key, a jump host
// (`proxy`), dial retries, perDialTimeout, stdin, and its error text. The dial reproduces
// provider/pkg/provider/remote/connection.go (Connection.Dial, dialWithRetry) phase by phase:
//   direct:  "Dial"             ssh.Dial (TCP connect, then handshake), retried on a new connection
//   proxy:   "Dial proxy"       ssh.Dial of the jump host, retried with the jump host's own dialErrorLimit
//            "Dial from proxy"  proxyClient.Dial("tcp", target): a direct-tcpip channel on that one jump
//                               connection, retried on it with the target's dialErrorLimit
//            "Dial"             ssh.NewClientConn over that one channel, retried on it; x/crypto
//                               v0.48.0 (ssh/client.go, NewClientConn) closes the channel on a failed
//                               handshake, so every retry fails ("ssh: handshake failed: EOF"):
//                               through a jump host a wrong target key or a reset handshake fails the step.
// Each phase: dialErrorLimit + 1 attempts, 0.1 s backoff growing 1.5x to 5 s. perDialTimeout bounds only the
// TCP connects (x/crypto ClientConfig.Timeout), the target's unused behind a jump host.
import { createHash } from "crypto";
import { Socket, connect as tcpConnect, isIPv6 } from "net";
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

/** A database host's SSH coordinates as plain values (the `databaseHosts` output, for `npm run failover`). */
export interface SshHostOutput {
    address: string;
    user: string;
    hostKey: string;
    via?: SshHostOutput;
}

/** The connection to a host of the `databaseHosts` output: its pinned host key, through its jump host if any. */
export function connectionFor(host: SshHostOutput, privateKey: string): ConnectionLike {
    const base = { host: host.address, user: host.user, hostKey: host.hostKey, privateKey, dialErrorLimit: 3, perDialTimeout: 15 };
    return host.via ? { ...base, proxy: connectionFor(host.via, privateKey) } : base;
}

export interface CommandResult {
    stdout: string;
    stderr: string;
}

/**
 * Raised when the remote command does not exit 0: names the resource and the host, then the provider's
 * own error (remote/commandOutputs.go, run): `<run error>: running "<command>":\n<stdout and stderr>`.
 */
export class RemoteCommandError extends Error {}

// connection.go: dialErrorDefault, and the perDialTimeout default set in Annotate.
const DEFAULT_DIAL_ERROR_LIMIT = 10;
const DEFAULT_PER_DIAL_TIMEOUT = 15;
// pulumi/pulumi sdk/go/common/util/retry (until.go, Retryer.Until), which dialWithRetry calls with the
// defaults: the first retry after 100 ms, each next delay 1.5 times longer, at most 5 s.
const RETRY_DELAY_MS = 100;
const RETRY_BACKOFF = 1.5;
const RETRY_MAX_DELAY_MS = 5000;
/**
 * The provider puts no deadline on an SSH handshake nor on a direct-tcpip channel open (ClientConfig.Timeout
 * is only ssh.Dial's TCP connect): a peer that never answers holds `pulumi up` forever. This runner gives
 * such a phase this long, more than OpenSSH's LoginGraceTime (120 s) and Linux's TCP connect timeout
 * (~127 s) behind a jump host, so every end a real peer gives arrives first and is handled as the provider
 * handles it; past it the dial fails without retry, as the provider would still be waiting.
 */
const NO_DEADLINE_LIMIT_SECONDS = 300;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** net.JoinHostPort, as connection.go builds its endpoints. */
const joinHostPort = (host: string, port: number) => (isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`);

function describe(c: ConnectionLike): string {
    const target = `${c.user ?? "root"}@${joinHostPort(c.host, c.port ?? 22)}`;
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

/** A phase without a deadline in the provider outlived NO_DEADLINE_LIMIT_SECONDS: not retried. */
class NoDeadlineError extends Error {}

/**
 * connection.go, dialWithRetry over retry.Until: attempt `try` = 0, 1, ...; a failure is final once
 * try + 1 > maxAttempts (unless maxAttempts is -1 or less: unlimited), so dialErrorLimit N allows N + 1
 * attempts, and the provider's error then says "after N failed attempts: <last error>". The provider
 * reports only the last error; when it differs from the first (a retry on a closed channel) the first is
 * added, as it names the cause.
 */
async function dialWithRetry<T>(phase: string, wrap: string, maxAttempts: number, f: () => Promise<T>): Promise<T> {
    let delay = RETRY_DELAY_MS;
    let first: string | undefined;
    for (let attempt = 0; ; attempt++) {
        delay = Math.min(delay, RETRY_MAX_DELAY_MS);
        try {
            return await f();
        } catch (e) {
            const err = e instanceof Error ? e : new Error(String(e));
            first ??= err.message;
            if (err instanceof NoDeadlineError) {
                throw new Error(`${phase}: ${wrap}${err.message}`);
            }
            if (maxAttempts > -1 && attempt + 1 > maxAttempts) {
                const cause = first !== err.message ? ` (first failure: ${first})` : "";
                throw new Error(`${phase}: ${wrap}after ${attempt} failed attempts: ${err.message}${cause}`);
            }
            await sleep(delay);
            delay *= RETRY_BACKOFF;
        }
    }
}

function parseHostKey(hostKey: string) {
    const parsed = sshUtils.parseKey(hostKey);
    if (parsed instanceof Error || Array.isArray(parsed)) {
        throw new Error(`failed to parse host key: ${parsed instanceof Error ? parsed.message : "more than one key"}: ${hostKey}`);
    }
    return parsed;
}

/**
 * connection.go, SSHConfig: a host key or private key that does not parse fails the step before any
 * dial, without retry (the target's first, then the jump host's, prefixed "proxy: ").
 */
function checkConfig(c: ConnectionLike, wrap: string): void {
    try {
        if (c.hostKey != null) {
            parseHostKey(c.hostKey);
        }
        if (c.privateKey != null) {
            const parsed = sshUtils.parseKey(c.privateKey);
            if (parsed instanceof Error) {
                throw parsed;
            }
        }
    } catch (err) {
        throw new Error(`${wrap}${(err as Error).message}`);
    }
}

/**
 * connection.go, SSHConfig: with hostKey, ssh.FixedHostKey plus HostKeyAlgorithms = [its type] (only that
 * algorithm is offered); without it, any key is accepted. On a mismatch it records a message naming both
 * fingerprints in `refused` (x/crypto says only "ssh: host key mismatch", ssh2 "Host denied").
 */
function hostKeyCheck(c: ConnectionLike, refused: { message?: string }): Pick<ConnectConfig, "hostVerifier" | "algorithms"> {
    if (c.hostKey == null) {
        return {};
    }
    const parsed = parseHostKey(c.hostKey);
    const blob = parsed.getPublicSSH();
    return {
        algorithms: { serverHostKey: [parsed.type] },
        hostVerifier: (key: Buffer) => {
            if (Buffer.compare(key, blob) === 0) {
                return true;
            }
            refused.message = `host key mismatch: ${c.host} presented ${fingerprint(key)}, but the pinned hostKey is ${fingerprint(blob)}; refusing to connect (the host was replaced or someone is in the middle)`;
            return false;
        },
    };
}

/** net.DialTimeout(tcp, addr, perDialTimeout) as ssh.Dial calls it: 0 means no bound. */
function tcpDial(host: string, port: number, timeoutSeconds: number): Promise<Socket> {
    return new Promise((resolve, reject) => {
        const addr = joinHostPort(host, port);
        const sock = tcpConnect({ host, port });
        let settled = false;
        const fail = (message: string) => {
            if (settled) {
                return;
            }
            settled = true;
            clearTimeout(timer);
            sock.destroy();
            reject(new Error(`dial tcp ${addr}: ${message}`));
        };
        const timer =
            timeoutSeconds > 0
                ? setTimeout(() => fail(`i/o timeout (perDialTimeout ${timeoutSeconds} s)`), timeoutSeconds * 1000)
                : undefined;
        // Kept for the socket's life: once it is handed to ssh2, ssh2 reports its errors.
        sock.on("error", (err) => fail(err.message));
        sock.once("connect", () => {
            settled = true;
            clearTimeout(timer);
            resolve(sock);
        });
    });
}

/**
 * ssh.NewClientConn over `sock`: version exchange, key exchange, host key check, authentication. No
 * deadline but NO_DEADLINE_LIMIT_SECONDS. On failure `sock` is closed, as NewClientConn does (c.Close()).
 */
function handshake(c: ConnectionLike, sock: Duplex): Promise<Client> {
    return new Promise((resolve, reject) => {
        const client = new Client();
        const refused: { message?: string } = {};
        let settled = false;
        const fail = (err: Error) => {
            settled = true;
            clearTimeout(timer);
            client.end();
            sock.destroy();
            reject(err);
        };
        const timer = setTimeout(
            () =>
                fail(
                    new NoDeadlineError(
                        `no SSH handshake with ${c.host} within ${NO_DEADLINE_LIMIT_SECONDS} s (pulumi-command sets no deadline here and would still be waiting; not retried)`,
                    ),
                ),
            NO_DEADLINE_LIMIT_SECONDS * 1000,
        );
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
            if (!settled) {
                fail(new Error(`ssh: handshake failed: ${refused.message ?? err.message}`));
            }
        });
        try {
            client.connect({
                host: c.host,
                port: c.port ?? 22,
                username: c.user ?? "root",
                privateKey: c.privateKey,
                password: c.password,
                sock,
                readyTimeout: 0, // ssh2's own 20 s default would bound what the provider does not
                ...hostKeyCheck(c, refused),
            });
        } catch (err) {
            fail(err as Error);
        }
    });
}

/** ssh.Dial: a new TCP connection bounded by perDialTimeout, then the handshake over it. */
async function sshDial(c: ConnectionLike): Promise<Client> {
    const sock = await tcpDial(c.host, c.port ?? 22, c.perDialTimeout ?? DEFAULT_PER_DIAL_TIMEOUT);
    return handshake(c, sock);
}

/**
 * proxyClient.Dial("tcp", endpoint) (x/crypto ssh/tcpip.go): a direct-tcpip channel from 0.0.0.0:0 on
 * the jump connection; the jump host answers once its TCP connect to the target succeeded or failed.
 */
function forwardOut(jump: Client, host: string, port: number): Promise<ClientChannel> {
    return new Promise((resolve, reject) => {
        let settled = false;
        const timer = setTimeout(() => {
            settled = true;
            reject(
                new NoDeadlineError(
                    `no answer from the jump host to a channel to ${joinHostPort(host, port)} within ${NO_DEADLINE_LIMIT_SECONDS} s (pulumi-command sets no deadline here and would still be waiting; not retried)`,
                ),
            );
        }, NO_DEADLINE_LIMIT_SECONDS * 1000);
        try {
            jump.forwardOut("0.0.0.0", 0, host, port, (err, channel) => {
                if (settled) {
                    channel?.destroy();
                    return;
                }
                settled = true;
                clearTimeout(timer);
                return err ? reject(new Error(`ssh: rejected: ${err.message}`)) : resolve(channel);
            });
        } catch (err) {
            // ssh2 throws "Not connected" once the jump connection is gone (x/crypto: an error too).
            settled = true;
            clearTimeout(timer);
            reject(err instanceof Error ? err : new Error(String(err)));
        }
    });
}

/**
 * One attempt of the provider's target handshake over the jump host's channel. The provider retries
 * ssh.NewClientConn on the same net.Conn, which the failed attempt closed: x/crypto then fails at once
 * writing its version line (ssh/channel.go writePacket after sentClose: io.EOF). ssh2 handed a closed
 * channel would wait silently, so a closed channel fails here as x/crypto's does.
 */
function handshakeOver(c: ConnectionLike, channel: ClientChannel): Promise<Client> {
    if (channel.destroyed || channel.writableEnded || !channel.writable) {
        return Promise.reject(new Error("ssh: handshake failed: EOF"));
    }
    return handshake(c, channel);
}

const limitOf = (c: ConnectionLike) => c.dialErrorLimit ?? DEFAULT_DIAL_ERROR_LIMIT;

/** connection.go, Connection.Dial: resolves to a ready client (and the jump client to close with it). */
export async function dial(c: ConnectionLike): Promise<{ client: Client; jump?: Client }> {
    checkConfig(c, "");
    if (c.proxy) {
        checkConfig(c.proxy, "proxy: ");
    }
    if (!c.proxy) {
        return { client: await dialWithRetry(`Dial ${describe(c)}`, "", limitOf(c), () => sshDial(c)) };
    }
    const proxy = c.proxy;
    const target = joinHostPort(c.host, c.port ?? 22);
    const jump = await dialWithRetry(`Dial proxy ${describe(proxy)} (jump host to ${target})`, "proxy: ", limitOf(proxy), () =>
        sshDial(proxy),
    );
    try {
        const channel = await dialWithRetry(`Dial from proxy ${describe(proxy)} to ${target}`, "proxy: ", limitOf(c), () =>
            forwardOut(jump, c.host, c.port ?? 22),
        );
        const client = await dialWithRetry(
            `Dial ${describe(c)} (SSH handshake over the jump host's channel, retried on that channel as the provider does)`,
            "proxy: ",
            limitOf(c),
            () => handshakeOver(c, channel),
        );
        return { client, jump };
    } catch (err) {
        jump.end();
        throw err;
    }
}

// x/crypto ssh/session.go, the signals map: an exit-signal without exit-status gives status 128 + this.
const SIGNAL_NUMBERS: Record<string, number> = {
    ABRT: 6,
    ALRM: 14,
    FPE: 8,
    HUP: 1,
    ILL: 4,
    INT: 2,
    KILL: 9,
    PIPE: 13,
    QUIT: 3,
    SEGV: 11,
    TERM: 15,
    USR1: 10,
    USR2: 12,
};

/** session.Run's error (x/crypto ssh/session.go: Session.wait, Waitmsg.String, ExitMissingError); undefined on exit 0. */
function runError(exit: { code?: number | null; signal?: string; desc?: string }): string | undefined {
    if (exit.code === 0) {
        return undefined;
    }
    const signal = exit.signal?.replace(/^SIG/, "");
    if (typeof exit.code !== "number" && !signal) {
        // Also what a connection lost mid-command gives: the session's requests end without a status.
        return "wait: remote command exited without exit status or exit signal";
    }
    const status = typeof exit.code === "number" ? exit.code : 128 + (SIGNAL_NUMBERS[signal!] ?? 0);
    return `Process exited with status ${status}${signal ? ` from signal ${signal}` : ""}${exit.desc ? `. Reason was: ${exit.desc}` : ""}`;
}

/** Go's %q (strconv.Quote), as the provider quotes the command in its error. */
export function goQuote(s: string): string {
    const named: Record<string, string> = { "\x07": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v" };
    let out = '"';
    for (const ch of s) {
        const cp = ch.codePointAt(0)!;
        if (ch === '"' || ch === "\\") {
            out += `\\${ch}`;
        } else if (ch === " " || /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u.test(ch)) {
            out += ch;
        } else if (named[ch]) {
            out += named[ch];
        } else if (cp < 0x20 || cp === 0x7f) {
            out += `\\x${cp.toString(16).padStart(2, "0")}`;
        } else if (cp >= 0xd800 && cp <= 0xdfff) {
            out += "\ufffd"; // a lone surrogate reaches the host as U+FFFD
        } else if (cp < 0x10000) {
            out += `\\u${cp.toString(16).padStart(4, "0")}`;
        } else {
            out += `\\U${cp.toString(16).padStart(8, "0")}`;
        }
    }
    return `${out}"`;
}

/**
 * Runs `command` with `stdin` on the host; rejects with RemoteCommandError unless it exits 0. The error
 * carries stdout and stderr interleaved as they arrived, all of it, as the provider's does
 * (remote/commandOutputs.go, run: both streams also go to stdouterrbuf, whatever `logging` says, which
 * only chooses what is logged).
 */
export async function runRemoteCommand(resource: string, c: ConnectionLike, command: string, stdin?: string): Promise<CommandResult> {
    const { client, jump } = await dial(c);
    try {
        return await execOn(client, resource, c, command, stdin);
    } finally {
        client.end();
        jump?.end();
    }
}

/** One exec channel on a ready client: `command` with `stdin`, settled as runRemoteCommand describes. */
function execOn(client: Client, resource: string, c: ConnectionLike, command: string, stdin?: string): Promise<CommandResult> {
    return new Promise<CommandResult>((resolve, reject) => {
        client.exec(command, (err, stream) => {
            if (err) {
                reject(err);
                return;
            }
            const stdout: Buffer[] = [];
            const stderr: Buffer[] = [];
            const both: Buffer[] = [];
            let exit: { code?: number | null; signal?: string; desc?: string } = {};
            stream.on("data", (d: Buffer) => (stdout.push(d), both.push(d)));
            stream.stderr.on("data", (d: Buffer) => (stderr.push(d), both.push(d)));
            stream.on("exit", (code: number | null, signal?: string, _dump?: boolean, desc?: string) => (exit = { code, signal, desc }));
            // Settles once both streams are closed: ssh2 may close stderr after the channel.
            let open = 2;
            const closed = () => {
                if (--open > 0) {
                    return;
                }
                const failure = runError(exit);
                if (failure === undefined) {
                    resolve({ stdout: Buffer.concat(stdout).toString(), stderr: Buffer.concat(stderr).toString() });
                } else {
                    reject(
                        new RemoteCommandError(
                            `${resource} failed on ${describe(c)}: ${failure}: running ${goQuote(command)}:\n${Buffer.concat(both).toString()}`,
                        ),
                    );
                }
            };
            stream.once("close", closed);
            stream.stderr.once("close", closed);
            stream.end(stdin ?? "");
        });
    });
}

/**
 * One connection kept for many commands on a host, for a tool of ours that runs hundreds (`npm run
 * bench` against a deployed stack): a dial costs a key exchange with each host on the way (seconds on a
 * small VM), an exec channel on a kept connection does not. The program's steps still dial per command,
 * as pulumi-command does. A connection found closed is dialled again once, before the command is sent.
 */
export class KeptConnection {
    private connected?: Promise<{ client: Client; jump?: Client }>;

    constructor(private readonly c: ConnectionLike) {}

    async run(resource: string, command: string, stdin?: string): Promise<CommandResult> {
        return execOn((await this.connect()).client, resource, this.c, command, stdin);
    }

    /** Whether a connection is kept (or being dialled) now. */
    isOpen(): boolean {
        return this.connected !== undefined;
    }

    /** Ends the connection (and its jump host's); a later run dials again. */
    close(): void {
        const connected = this.connected;
        this.connected = undefined;
        void connected?.then(
            ({ client, jump }) => {
                client.end();
                jump?.end();
            },
            () => undefined,
        );
    }

    private connect(): Promise<{ client: Client; jump?: Client }> {
        if (!this.connected) {
            const connected = dial(this.c);
            this.connected = connected;
            // A failed dial, or a connection (or its jump host's) that closed: the next run dials again.
            const lost = () => {
                if (this.connected === connected) {
                    this.connected = undefined;
                }
            };
            connected.then(({ client, jump }) => {
                client.once("close", lost);
                jump?.once("close", lost);
            }, lost);
        }
        return this.connected;
    }
}
