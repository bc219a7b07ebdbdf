// scripts/ssh.ts, the runner the lab and npm run failover use for command:remote:Command steps, against
// in-process SSH servers: it must behave as pulumi-command v1.2.1 does, never more leniently.
// Sources: pulumi/pulumi-command v1.2.1 (7f3eb6f) provider/pkg/provider/remote/connection.go and
// commandOutputs.go; golang.org/x/crypto v0.48.0 ssh/client.go, ssh/channel.go, ssh/session.go.
import * as assert from "assert";
import { AddressInfo, Server as NetServer, Socket, connect as netConnect, createServer } from "net";
import { Server, ServerChannel, utils as sshUtils } from "ssh2";
import { ConnectionLike, KeptConnection, generateEd25519KeyPair, goQuote, runRemoteCommand } from "../scripts/ssh";

/** What a fake host does with its n-th TCP connection. */
type Behaviour =
    | { hostKeys: string[]; delayMs?: number } // an SSH server with these host keys (after delayMs, silent)
    | "close" // closes it at once, as a booting host's port might
    | "reset-in-handshake"; // resets it on the client's first bytes (its version line)

type Exec = (stream: ServerChannel, command: string) => void;

interface FakeHost {
    port: number;
    /** TCP connections accepted. */
    connections: number;
    /** direct-tcpip channel opens asked of it as a jump host. */
    channelOpens: number;
    /** Ends every connection it has (as a host's reboot would), still listening. */
    drop(): void;
    close(): Promise<void>;
}

const ok: Exec = (stream) => {
    stream.write("ok\n");
    stream.exit(0);
    stream.end();
};

/**
 * An SSH host on 127.0.0.1 whose n-th connection gets behaviours[n] (the last one repeats). It accepts
 * any authentication, runs `exec`, and forwards direct-tcpip channels as OpenSSH does (confirmed once its
 * TCP connect succeeded, refused otherwise), refusing the first `refuseChannelOpens`.
 */
async function fakeHost(behaviours: Behaviour[], options: { exec?: Exec; refuseChannelOpens?: number } = {}): Promise<FakeHost> {
    const sockets = new Set<Socket>();
    const track = (s: Socket) => {
        sockets.add(s);
        s.on("error", () => undefined);
        s.on("close", () => sockets.delete(s));
    };
    const sshServer = (hostKeys: string[]) =>
        new Server({ hostKeys }, (client) => {
            client.on("error", () => undefined);
            client.on("authentication", (ctx) => ctx.accept());
            client.on("ready", () => {
                client.on("session", (accept) => {
                    accept().on("exec", (acceptExec, _reject, info) => (options.exec ?? ok)(acceptExec(), info.command));
                });
                client.on("tcpip", (accept, reject, info) => {
                    host.channelOpens++;
                    if (host.channelOpens <= (options.refuseChannelOpens ?? 0)) {
                        reject();
                        return;
                    }
                    const out = netConnect(info.destPort, info.destIP);
                    track(out);
                    out.once("error", () => reject());
                    out.once("connect", () => {
                        const channel = accept();
                        channel.on("error", () => undefined);
                        out.pipe(channel).pipe(out);
                        out.on("close", () => channel.destroy());
                        channel.on("close", () => out.destroy());
                    });
                });
            });
        });
    const net: NetServer = createServer((socket) => {
        track(socket);
        const behaviour = behaviours[Math.min(host.connections, behaviours.length - 1)];
        host.connections++;
        if (behaviour === "close") {
            socket.destroy();
        } else if (behaviour === "reset-in-handshake") {
            socket.once("data", () => socket.resetAndDestroy());
        } else {
            const inject = () => sshServer(behaviour.hostKeys).injectSocket(socket);
            if (behaviour.delayMs) {
                setTimeout(inject, behaviour.delayMs);
            } else {
                inject();
            }
        }
    });
    await new Promise<void>((resolve) => net.listen(0, "127.0.0.1", resolve));
    const host: FakeHost = {
        port: (net.address() as AddressInfo).port,
        connections: 0,
        channelOpens: 0,
        drop: () => sockets.forEach((s) => s.destroy()),
        close: () =>
            new Promise<void>((resolve) => {
                sockets.forEach((s) => s.destroy());
                net.close(() => resolve());
            }),
    };
    return host;
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
    const s = createServer();
    await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
    const port = (s.address() as AddressInfo).port;
    await new Promise<void>((resolve) => s.close(() => resolve()));
    return port;
}

const clientKey = generateEd25519KeyPair();
const jumpKey = generateEd25519KeyPair();
const targetKey = generateEd25519KeyPair();
const otherKey = generateEd25519KeyPair();

const to = (host: FakeHost, hostKey: string, more: Partial<ConnectionLike> = {}): ConnectionLike => ({
    host: "127.0.0.1",
    port: host.port,
    user: "u",
    privateKey: clientKey.private,
    hostKey,
    ...more,
});

const hosts: FakeHost[] = [];
async function started(behaviours: Behaviour[], options?: Parameters<typeof fakeHost>[1]): Promise<FakeHost> {
    const host = await fakeHost(behaviours, options);
    hosts.push(host);
    return host;
}
afterEach(async function () {
    await Promise.all(hosts.splice(0).map((h) => h.close()));
});

const MISMATCH = /host key mismatch: 127\.0\.0\.1 presented SHA256:\S+, but the pinned hostKey is SHA256:\S+; refusing to connect/;

describe("SSH host key pinning (scripts/ssh.ts, as the lab and npm run failover use it)", function () {
    it("refuses a host presenting another key, naming both fingerprints", async function () {
        const host = await started([{ hostKeys: [otherKey.private] }]);
        await assert.rejects(runRemoteCommand("t", to(host, targetKey.public, { dialErrorLimit: 0 }), "true"), MISMATCH);
    });
    it("offers only the pinned key's algorithm, as connection.go SSHConfig (HostKeyAlgorithms) at v1.2.1", async function () {
        // The host has an ed25519 key, which ssh2 prefers, and the pinned ECDSA one.
        const ecdsa = sshUtils.generateKeyPairSync("ecdsa", { bits: 256 });
        const host = await started([{ hostKeys: [targetKey.private, ecdsa.private] }]);
        const result = await runRemoteCommand("t", to(host, ecdsa.public, { dialErrorLimit: 0 }), "true");
        assert.strictEqual(result.stdout, "ok\n");
    });
    it("fails before any dial on a host key that does not parse, as connection.go SSHConfig at v1.2.1", async function () {
        const host = await started([{ hostKeys: [targetKey.private] }]);
        await assert.rejects(runRemoteCommand("t", to(host, "ssh-ed25519 AAAA"), "true"), /^Error: failed to parse host key: /);
        assert.strictEqual(host.connections, 0);
    });
});

describe("direct dial retries, as pulumi-command v1.2.1 connection.go (Connection.Dial, dialWithRetry)", function () {
    it("retries a host that resets the connection before the handshake, then names it, without crashing the process", async function () {
        // A socket error followed by its close: ssh2 emits two errors (the reset, then "Connection lost
        // before handshake"); a second one without a listener would end the whole lab run.
        let accepted = 0;
        const server = createServer((socket) => {
            accepted++;
            // After the client saw the connection open, before any byte of the handshake.
            setTimeout(() => socket.resetAndDestroy(), 50);
        });
        await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
        try {
            const port = (server.address() as AddressInfo).port;
            await assert.rejects(
                runRemoteCommand("t", { host: "127.0.0.1", port, user: "u", password: "p", dialErrorLimit: 2 }, "true"),
                /^Error: Dial u@127\.0\.0\.1:\d+: after 2 failed attempts: ssh: handshake failed: (read ECONNRESET|Connection lost before handshake)$/,
            );
            // Let the sockets' close events run: a crash would surface here as an uncaught error.
            await new Promise((resolve) => setTimeout(resolve, 200));
            assert.strictEqual(accepted, 3);
        } finally {
            server.close();
        }
    });
    it("(a) retries a host presenting another key on a new connection and succeeds once it presents the pinned one", async function () {
        const host = await started([{ hostKeys: [otherKey.private] }, { hostKeys: [otherKey.private] }, { hostKeys: [targetKey.private] }]);
        const result = await runRemoteCommand("t", to(host, targetKey.public, { dialErrorLimit: 2 }), "true");
        assert.strictEqual(result.stdout, "ok\n");
        assert.strictEqual(host.connections, 3);
    });
    it("(a) dials dialErrorLimit + 1 times, then says 'after <dialErrorLimit> failed attempts' as dialWithRetry does", async function () {
        const host = await started([{ hostKeys: [otherKey.private] }]);
        await assert.rejects(runRemoteCommand("t", to(host, targetKey.public, { dialErrorLimit: 1 }), "true"), (err: Error) => {
            assert.match(err.message, /^Dial u@127\.0\.0\.1:\d+: after 1 failed attempts: ssh: handshake failed: host key mismatch: /);
            return true;
        });
        assert.strictEqual(host.connections, 2);
    });
    it("bounds the TCP connect only by perDialTimeout (ssh.Dial's net.DialTimeout), not the handshake", async function () {
        // x/crypto v0.48.0 ssh/client.go: ClientConfig.Timeout is "the maximum amount of time for the TCP
        // connection to establish"; NewClientConn sets no deadline.
        const host = await started([{ hostKeys: [targetKey.private], delayMs: 1500 }]);
        const result = await runRemoteCommand("t", to(host, targetKey.public, { dialErrorLimit: 0, perDialTimeout: 1 }), "true");
        assert.strictEqual(result.stdout, "ok\n");
        assert.strictEqual(host.connections, 1);
    });
});

describe("dial through a jump host, as pulumi-command v1.2.1 connection.go (Connection.Dial with proxy)", function () {
    const via = (target: FakeHost, jump: FakeHost, limits: { target: number; jump: number }) =>
        to(target, targetKey.public, { dialErrorLimit: limits.target, proxy: to(jump, jumpKey.public, { dialErrorLimit: limits.jump }) });

    it("(b) fails when the target presents another key on its first handshake: the retries reuse the channel x/crypto closed", async function () {
        const jump = await started([{ hostKeys: [jumpKey.private] }]);
        const target = await started([{ hostKeys: [otherKey.private] }, { hostKeys: [targetKey.private] }]);
        await assert.rejects(runRemoteCommand("t", via(target, jump, { target: 3, jump: 3 }), "true"), (err: Error) => {
            assert.match(
                err.message,
                /^Dial u@127\.0\.0\.1:\d+ via u@127\.0\.0\.1:\d+ \(SSH handshake over the jump host's channel, retried on that channel as the provider does\): proxy: after 3 failed attempts: ssh: handshake failed: EOF \(first failure: ssh: handshake failed: host key mismatch: 127\.0\.0\.1 presented SHA256:\S+, but the pinned hostKey is SHA256:\S+; refusing to connect/,
            );
            return true;
        });
        // One jump connection, one channel, one handshake with the target: nothing was dialled anew.
        assert.deepStrictEqual([jump.connections, jump.channelOpens, target.connections], [1, 1, 1]);
    });
    it("(c) fails when the target resets during its first handshake, likewise", async function () {
        const jump = await started([{ hostKeys: [jumpKey.private] }]);
        const target = await started(["reset-in-handshake", { hostKeys: [targetKey.private] }]);
        await assert.rejects(runRemoteCommand("t", via(target, jump, { target: 3, jump: 3 }), "true"), (err: Error) => {
            assert.match(
                err.message,
                /^Dial u@127\.0\.0\.1:\d+ via u@127\.0\.0\.1:\d+ \(SSH handshake over the jump host's channel, retried on that channel as the provider does\): proxy: after 3 failed attempts: ssh: handshake failed: EOF \(first failure: ssh: handshake failed: Connection lost before handshake\)$/,
            );
            return true;
        });
        assert.deepStrictEqual([jump.connections, jump.channelOpens, target.connections], [1, 1, 1]);
    });
    it("(b) with dialErrorLimit 0 reports the target's key mismatch itself (one attempt, as the provider)", async function () {
        const jump = await started([{ hostKeys: [jumpKey.private] }]);
        const target = await started([{ hostKeys: [otherKey.private] }]);
        await assert.rejects(runRemoteCommand("t", via(target, jump, { target: 0, jump: 0 }), "true"), (err: Error) => {
            assert.match(err.message, /\): proxy: after 0 failed attempts: ssh: handshake failed: host key mismatch: /);
            return true;
        });
    });
    it("(d) retries a jump host that closes, then presents another key, on new connections with its own dialErrorLimit", async function () {
        // "Dial proxy": ssh.Dial to the jump host under dialWithRetry with c.Proxy's dialErrorLimit.
        const jump = await started(["close", { hostKeys: [otherKey.private] }, { hostKeys: [jumpKey.private] }]);
        const target = await started([{ hostKeys: [targetKey.private] }]);
        const result = await runRemoteCommand("t", via(target, jump, { target: 0, jump: 2 }), "true");
        assert.strictEqual(result.stdout, "ok\n");
        assert.deepStrictEqual([jump.connections, target.connections], [3, 1]);
    });
    it("(d) names the jump host's phase when it stays unreachable", async function () {
        const port = await closedPort();
        const target = await started([{ hostKeys: [targetKey.private] }]);
        const c = to(target, targetKey.public, {
            dialErrorLimit: 5,
            proxy: { host: "127.0.0.1", port, user: "u", privateKey: clientKey.private, hostKey: jumpKey.public, dialErrorLimit: 1 },
        });
        await assert.rejects(
            runRemoteCommand("t", c, "true"),
            new RegExp(
                `^Error: Dial proxy u@127\\.0\\.0\\.1:${port} \\(jump host to 127\\.0\\.0\\.1:${target.port}\\): proxy: after 1 failed attempts: dial tcp 127\\.0\\.0\\.1:${port}: connect ECONNREFUSED 127\\.0\\.0\\.1:${port}$`,
            ),
        );
        assert.strictEqual(target.connections, 0);
    });
    it("(d) retries a refused channel to the target on the same jump connection, with the target's dialErrorLimit", async function () {
        // "Dial from proxy": proxyClient.Dial("tcp", endpoint) under dialWithRetry with c's dialErrorLimit.
        const jump = await started([{ hostKeys: [jumpKey.private] }], { refuseChannelOpens: 1 });
        const target = await started([{ hostKeys: [targetKey.private] }]);
        const result = await runRemoteCommand("t", via(target, jump, { target: 1, jump: 0 }), "true");
        assert.strictEqual(result.stdout, "ok\n");
        assert.deepStrictEqual([jump.connections, jump.channelOpens, target.connections], [1, 2, 1]);
    });
    it("(d) names the channel phase when the target stays unreachable from the jump host", async function () {
        const jump = await started([{ hostKeys: [jumpKey.private] }]);
        const port = await closedPort();
        const c = to(jump, targetKey.public, { port, dialErrorLimit: 1, proxy: to(jump, jumpKey.public, { dialErrorLimit: 0 }) });
        await assert.rejects(
            runRemoteCommand("t", c, "true"),
            new RegExp(
                `^Error: Dial from proxy u@127\\.0\\.0\\.1:${jump.port} to 127\\.0\\.0\\.1:${port}: proxy: after 1 failed attempts: ssh: rejected: `,
            ),
        );
        assert.deepStrictEqual([jump.connections, jump.channelOpens], [1, 2]);
    });
});

describe("a failing command's error, as pulumi-command v1.2.1 commandOutputs.go (run): stdout and stderr as they came", function () {
    const failing =
        (writes: ["out" | "err", string][], exit: number | string): Exec =>
        (stream) => {
            for (const [to, text] of writes) {
                (to === "out" ? stream : stream.stderr).write(text);
            }
            if (typeof exit === "number") {
                stream.exit(exit);
            } else {
                stream.exit(exit, false, "");
            }
            stream.end();
        };
    it("(e) carries diagnostics written only to stdout", async function () {
        const host = await started([{ hostKeys: [targetKey.private] }], { exec: failing([["out", "pg_isready: no response\n"]], 3) });
        await assert.rejects(runRemoteCommand("postgres-aws-node", to(host, targetKey.public), 'check "db"'), (err: Error) => {
            assert.strictEqual(
                err.message,
                `postgres-aws-node failed on u@127.0.0.1:${host.port}: Process exited with status 3: running "check \\"db\\"":\npg_isready: no response\n`,
            );
            return true;
        });
    });
    it("(e) carries stdout and stderr interleaved in the order they came, all of it", async function () {
        const lines: ["out" | "err", string][] = [
            ["out", "step 1\n"],
            ["err", "warning: slow\n"],
            ["out", "step 2\n"],
        ];
        for (let i = 3; i <= 40; i++) {
            lines.push(["err", `detail ${i}\n`]);
        }
        const host = await started([{ hostKeys: [targetKey.private] }], { exec: failing(lines, 1) });
        await assert.rejects(runRemoteCommand("t", to(host, targetKey.public), "bash -s"), (err: Error) => {
            assert.strictEqual(
                err.message,
                `t failed on u@127.0.0.1:${host.port}: Process exited with status 1: running "bash -s":\n${lines.map(([, text]) => text).join("")}`,
            );
            return true;
        });
    });
    it("(e) reports a signal as x/crypto's Waitmsg does (status 128 + signal)", async function () {
        const host = await started([{ hostKeys: [targetKey.private] }], { exec: failing([["out", "x\n"]], "TERM") });
        await assert.rejects(
            runRemoteCommand("t", to(host, targetKey.public), "sleep 9"),
            new RegExp(
                `^Error: t failed on u@127\\.0\\.0\\.1:${host.port}: Process exited with status 143 from signal TERM: running "sleep 9":\\nx\\n$`,
            ),
        );
    });
    it("quotes the command as Go's %q does", function () {
        assert.strictEqual(goQuote('a "b" \\ c\n\t\x01\x7f é ✓ \u00a0 😀'), '"a \\"b\\" \\\\ c\\n\\t\\x01\\x7f é ✓ \\u00a0 😀"');
    });
});

describe("KeptConnection (npm run bench against a deployed stack): one dial for many commands", function () {
    const echo: Exec = (stream, command) => {
        stream.write(`ran ${command}\n`);
        stream.exit(command === "fail" ? 3 : 0);
        stream.end();
    };

    it("runs every command through the jump host on one connection each, a failing one included", async function () {
        const jump = await started([{ hostKeys: [jumpKey.private] }]);
        const target = await started([{ hostKeys: [targetKey.private] }], { exec: echo });
        const kept = new KeptConnection(to(target, targetKey.public, { proxy: to(jump, jumpKey.public) }));
        try {
            const outputs = [];
            for (const command of ["a", "b", "c"]) {
                outputs.push((await kept.run("bench", command)).stdout);
            }
            await assert.rejects(
                kept.run("bench", "fail"),
                /^Error: bench failed on u@127\.0\.0\.1:\d+ via u@127\.0\.0\.1:\d+: Process exited with status 3: running "fail":\nran fail\n$/,
            );
            outputs.push((await kept.run("bench", "d")).stdout);
            assert.deepStrictEqual(outputs, ["ran a\n", "ran b\n", "ran c\n", "ran d\n"]);
            assert.deepStrictEqual([jump.connections, jump.channelOpens, target.connections], [1, 1, 1]);
        } finally {
            kept.close();
        }
    });

    it("dials again for the next command once the connection was lost", async function () {
        const target = await started([{ hostKeys: [targetKey.private] }], { exec: echo });
        const kept = new KeptConnection(to(target, targetKey.public));
        try {
            assert.strictEqual((await kept.run("bench", "a")).stdout, "ran a\n");
            target.drop();
            const deadline = Date.now() + 5000;
            while (kept.isOpen()) {
                if (Date.now() > deadline) {
                    throw new Error("the kept connection did not notice within 5 s that the host closed it");
                }
                await new Promise((resolve) => setTimeout(resolve, 20));
            }
            assert.strictEqual((await kept.run("bench", "b")).stdout, "ran b\n");
            assert.strictEqual(target.connections, 2);
        } finally {
            kept.close();
        }
    });
});
