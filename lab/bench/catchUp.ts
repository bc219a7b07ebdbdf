// The catch-up after a WAN cut, from two 10 Hz series: the primary's WAL position
// (pg_current_wal_lsn) and the standby's replay position (pg_last_wal_replay_lsn), each with its host's
// clock_timestamp. Two samplers because the standby cannot read the primary during the cut; they are
// joined by time. In the lab every host reads the same machine clock; on a deployed stack NTP-synced
// clocks are assumed: an offset of ±0.1 s shifts the join by 0.1 s of WAL, small beside the 1 s
// criterion below.

/** One sample: seconds (on the caller's time axis, e.g. since the cut) and an LSN as a byte position. */
export interface LsnSample {
    t: number;
    lsn: number;
}

/** The standby's distance behind the primary at one standby sample. */
export interface BehindSample {
    t: number;
    bytesBehind: number;
}

export interface CatchUp {
    /** Bytes behind at each standby sample the primary's series covers. */
    series: BehindSample[];
    /** When the standby was back under 1 s behind (first standby sample at or after the restore). */
    caughtUpAt: number;
    /** caughtUpAt − restoredAt. */
    catchUpSeconds: number;
    /** Replay LSN at catch-up − replay LSN at the restore (the latest standby sample at or before it). */
    walReplayedBytes: number;
    /** Bytes behind at the restore (the same sample). */
    bytesBehindAtRestore: number;
}

/** The primary's LSN at `t`, linearly interpolated between its samples; undefined outside them. */
export function primaryLsnAt(primary: LsnSample[], t: number): number | undefined {
    if (primary.length === 0 || t < primary[0].t || t > primary[primary.length - 1].t) {
        return undefined;
    }
    let i = 1;
    while (i < primary.length && primary[i].t < t) {
        i++;
    }
    if (i === primary.length || primary[i].t === t) {
        return primary[Math.min(i, primary.length - 1)].lsn;
    }
    const a = primary[i - 1];
    const b = primary[i];
    return a.lsn + ((b.lsn - a.lsn) * (t - a.t)) / (b.t - a.t);
}

/**
 * Bytes behind at each standby sample: the primary's LSN then minus the replayed LSN. Zero when the
 * standby has everything; a replay position past the interpolated primary one (clock offset,
 * interpolation between 0.1 s samples) also counts as zero.
 */
export function bytesBehind(primary: LsnSample[], standby: LsnSample[]): BehindSample[] {
    return standby.flatMap((s) => {
        const p = primaryLsnAt(primary, s.t);
        return p === undefined ? [] : [{ t: s.t, bytesBehind: Math.max(0, p - s.lsn) }];
    });
}

/**
 * "Back under 1 s behind": the standby has replayed what the primary had written 1 s earlier
 * (replay LSN ≥ the primary's LSN at t − 1). Defined in time rather than bytes so that it does not
 * depend on the load's WAL rate. Returns the first standby sample at or after `restoredAt` that meets
 * it, or undefined while none does (yet).
 */
export function findCatchUp(primary: LsnSample[], standby: LsnSample[], restoredAt: number): CatchUp | undefined {
    const back = standby.find((s) => {
        const earlier = primaryLsnAt(primary, s.t - 1);
        return s.t >= restoredAt && earlier !== undefined && s.lsn >= earlier;
    });
    if (!back) {
        return undefined;
    }
    const atRestore = [...standby].reverse().find((s) => s.t <= restoredAt) ?? standby[0];
    const series = bytesBehind(primary, standby);
    return {
        series,
        caughtUpAt: back.t,
        catchUpSeconds: back.t - restoredAt,
        walReplayedBytes: back.lsn - atRestore.lsn,
        bytesBehindAtRestore: series.find((x) => x.t === atRestore.t)?.bytesBehind ?? NaN,
    };
}

/** findCatchUp, or an error saying how far behind the standby still was when the bound ran out. */
export function requireCatchUp(primary: LsnSample[], standby: LsnSample[], restoredAt: number, boundSeconds: number): CatchUp {
    const found = findCatchUp(primary, standby, restoredAt);
    if (found && found.catchUpSeconds <= boundSeconds) {
        return found;
    }
    const last = bytesBehind(primary, standby).pop();
    throw new Error(
        `the standby was not back under 1 s behind within ${boundSeconds} s of the link's return` +
            (last ? ` (at t = ${last.t.toFixed(1)} s it was ${(last.bytesBehind / 1e6).toFixed(1)} MB behind)` : " (no joined samples)"),
    );
}
