// Waiting for "something new" in a single-consumer structure: resolves when the waker handed to `register` is
// called, or when `signal` aborts, whichever comes first; the waker is cleared either way.
export function waitForWake(signal: AbortSignal | undefined, register: (wake: (() => void) | undefined) => void): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      signal?.removeEventListener("abort", done);
      register(undefined);
      resolve();
    };
    register(done);
    signal?.addEventListener("abort", done, { once: true });
  });
}
