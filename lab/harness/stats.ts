// Medians with their spread, and percentiles: every figure in the report is one of these.

export interface Spread {
    median: number;
    min: number;
    max: number;
    n: number;
}

export function percentile(values: number[], p: number): number {
    if (values.length === 0) {
        return NaN;
    }
    const sorted = [...values].sort((a, b) => a - b);
    const rank = (p / 100) * (sorted.length - 1);
    const lo = Math.floor(rank);
    const hi = Math.ceil(rank);
    return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
}

export function spread(values: number[]): Spread {
    return {
        median: percentile(values, 50),
        min: values.length ? Math.min(...values) : NaN,
        max: values.length ? Math.max(...values) : NaN,
        n: values.length,
    };
}

/** `123 (110–130, n=3)` with `digits` decimals. */
export function fmt(s: Spread | undefined, digits = 0): string {
    if (!s || s.n === 0 || Number.isNaN(s.median)) {
        return "–";
    }
    return `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)}, n=${s.n})`;
}

export function ratio(a: Spread | undefined, b: Spread | undefined): number {
    return a && b && b.median > 0 ? a.median / b.median : NaN;
}
