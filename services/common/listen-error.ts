// A service that cannot take its port says why in one line and what to change, instead of dying with a stack trace.
// The causes are the platform's (errno codes from listen(2)); anything else is not a listen problem and is rethrown.

const CAUSES: Record<string, string> = {
  EADDRINUSE: "another process is listening on that port",
  EACCES: "ports below 1024 need privileges",
  EADDRNOTAVAIL: "that address does not belong to this machine",
};

/**
 * The one-line message for a listen failure, or undefined when `err` is not one. `names` are what the user sets the
 * port and address with (environment variables for the services, flags for `cc up`).
 */
export function listenErrorMessage(err: unknown, host: string, port: number, names = { port: "PORT", host: "CC_HOST" }): string | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const cause = code ? CAUSES[code] : undefined;
  if (!cause) return undefined;
  const where = `${host.includes(":") ? `[${host}]` : host}:${port}`;
  const fix = code === "EADDRNOTAVAIL" ? `set ${names.host} to one of its addresses (or 0.0.0.0)` : `set ${names.port} to a free port (0 picks one)`;
  return `cannot listen on ${where}: ${cause} (${code}); ${fix}`;
}
