// Polls a condition (bounded), for state that has no event to await, such as the process table or another
// process's registry. The bound is generous (a loaded 2-core machine can take tens of seconds to start claude) and stays
// under the tests' own 60 s timeout, so a condition that never holds fails with this message, not a vitest timeout.
export async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 40_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 25));
  }
}
