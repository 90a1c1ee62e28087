// Opens the router a command talks to: the configured one, or (for `cc run` only) an embedded local cluster when
// nothing is configured.
import { ExitCode } from "../exit-codes.js";
import { connectRouter, type RouterClient } from "./client.js";
import { resolveConnection, type ConnectionFlags } from "./connection.js";
import { embeddedLogger, startLocalCluster } from "./embedded.js";
import { CliError } from "./errors.js";

export interface OpenRouter {
  url: string;
  client: RouterClient;
  /** The cluster was started for this call. */
  embedded: boolean;
  close(): Promise<void>;
}

export const NO_ROUTER_MESSAGE =
  "no router configured — start one with `cc up` and set --router (or CC_ROUTER_URL), or save it with `cc config set local --router URL`";

export async function openRouter(
  env: Record<string, string | undefined>,
  flags: ConnectionFlags,
  options: { allowEmbedded?: boolean; workspaceRoot?: string } = {},
): Promise<OpenRouter> {
  const conn = resolveConnection(env, flags);
  if (conn.router !== "") {
    const c = connectRouter(conn.router, conn.token);
    return { url: conn.router, client: c.client, embedded: false, close: async () => c.close() };
  }
  if (!options.allowEmbedded) throw new CliError(NO_ROUTER_MESSAGE, ExitCode.Unreachable);
  const cluster = await startLocalCluster({
    workers: 1,
    forOneCommand: true,
    ...(options.workspaceRoot ? { workspaceRoot: options.workspaceRoot } : {}),
    logger: await embeddedLogger(env),
  });
  // The embedded router reads its settings from the environment, CC_TOKEN included.
  const c = connectRouter(cluster.url, env["CC_TOKEN"] ?? "");
  return {
    url: cluster.url,
    client: c.client,
    embedded: true,
    async close() {
      c.close();
      await cluster.close();
    },
  };
}
