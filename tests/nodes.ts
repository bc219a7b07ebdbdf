// A database host's PostgresNode as the program makes it for the AWS primary of the default stack,
// for tests that need one and vary a field or two.
import { PostgresNode } from "../scripts/postgres";

export const AWS_PRIMARY_NODE: PostgresNode = {
    version: 15,
    role: "primary",
    name: "aws",
    listenIp: "10.10.1.10",
    peerName: "azure",
    peerIp: "10.20.1.10",
    replication: "streaming",
    synchronous: "off",
    synchronousStandbyLoss: "",
    clientCidrs: [],
    maxSlotWalKeepSize: "8GB",
    walSegmentSizeMb: 16,
};
