/**
 * The one retry helper of the tree: exponential backoff, and a loop that retries transient failures
 * until a time budget is spent. The database calls, the writers' decorators and the COPY writer's
 * connection retries all wait by it; the queue's redelivery delay doubles by it too.
 */

/** `base` doubled `n` times, at most `cap`. */
export const exponential = (base: number, n: number, cap: number): number => Math.min(cap, base * 2 ** Math.max(0, n));

/** Wait before retry `n` (0-based): 100 ms doubled each time up to 2 s, jittered ±50% so retries of many requests spread out. */
export const backoffMs = (n: number): number => exponential(100, n, 2000) * (0.5 + Math.random());

export interface RetryPolicy {
  /** How long transient failures are retried; 0: one attempt. */
  retryMs: number;
  /** The failure in the caller's terms (e.g. a raw Neon error sorted by NEON_ANSWERS). */
  classify(error: unknown): Error;
  /** Whether the classified failure is worth another attempt. */
  transient(failure: Error): boolean;
  /** Told of each retry before its wait (for the log). */
  onRetry?(failure: Error, waitMs: number): void;
}

/**
 * Runs `attempt` again after transient failures, with jittered exponential backoff, until
 * policy.retryMs has passed; throws the classified failure otherwise.
 */
export async function retrying<T>(policy: RetryPolicy, attempt: (n: number) => Promise<T>): Promise<T> {
  // With retryMs 0 the first wait already passes the deadline: one attempt, no retries.
  const until = Date.now() + policy.retryMs;
  for (let n = 0; ; n++) {
    try {
      return await attempt(n);
    } catch (error) {
      const failure = policy.classify(error);
      const wait = backoffMs(n);
      if (!policy.transient(failure) || Date.now() + wait > until) throw failure;
      policy.onRetry?.(failure, wait);
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}
