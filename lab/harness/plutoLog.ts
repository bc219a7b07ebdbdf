// Reading pluto's journal (`journalctl -u ipsec -o short-unix`) in the lab's scenarios. Pure functions of
// the text, so the phrases they rely on are unit-tested against lines Libreswan 4.10 really printed.
//
// Which gateway initiates a negotiation is not fixed: after both restart together, either side's IKE SA
// may be the one kept, and only its initiator schedules the rekeys. Each phrase below is therefore the
// one both roles print ("initiator ..." on one gateway, "responder ..." on the other), so counting on one
// gateway counts every negotiation once, whichever side started it. "deleting established Child SA" (the
// old SA going away) is not a negotiation and does not match.

/** A Child SA or IKE SA that replaced an older one: "#14: initiator rekeyed Child SA #12 using #13". */
const REKEYED = /: (?:initiator|responder) rekeyed (?:Child|IKE) SA #\d+/;

/** A Child SA negotiated from nothing (not a rekey): "#2: responder established Child SA using #1". */
const CHILD_ESTABLISHED = /: (?:initiator|responder) established Child SA using #\d+/;

const lines = (journal: string): string[] => journal.split("\n").filter(Boolean);

/** How many Child SA and IKE SA rekeys one gateway's journal shows, whichever side initiated them. */
export function rekeyCount(journal: string): number {
    return lines(journal).filter((line) => REKEYED.test(line)).length;
}

/** Epoch seconds (short-unix) of the first new Child SA (established, not rekeyed), if any. */
export function firstChildSaEstablished(journal: string): number | undefined {
    const line = lines(journal).find((l) => CHILD_ESTABLISHED.test(l));
    return line === undefined ? undefined : Number(line.split(" ")[0]);
}
