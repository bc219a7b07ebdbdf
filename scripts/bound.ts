// A bound on work that has none of its own (an SSH command, a whole `pulumi up`): the caller gets an
// error with `message` once `seconds` have passed; the work itself is not cancelled.

/** `work`'s result, or a rejection with `message` after `seconds`. */
export async function withinSeconds<T>(work: Promise<T>, seconds: number, message: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(message)), seconds * 1000);
    });
    try {
        return await Promise.race([work, bound]);
    } finally {
        clearTimeout(timer);
    }
}
