import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import net, { type AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { clientSockets, commandLine, socketHolders } from "./connection-owner.js";

describe("connection owner", () => {
  const children: ChildProcess[] = [];
  const servers: net.Server[] = [];
  afterEach(async () => {
    for (const c of children.splice(0)) if (c.exitCode === null) c.kill("SIGKILL");
    for (const s of servers.splice(0)) s.close();
  });

  /** A server on loopback, and a child process holding one connection to it; resolves with the accepted socket. */
  async function connectFromChild(): Promise<{ server: net.Server; child: ChildProcess; accepted: net.Socket }> {
    const server = net.createServer();
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    const accepted = once(server, "connection");
    const child = spawn(process.execPath, ["-e", `require("net").connect(${port}, "127.0.0.1"); setInterval(() => {}, 1000)`], { stdio: "ignore" });
    children.push(child);
    const [socket] = (await accepted) as [net.Socket];
    return { server, child, accepted: socket };
  }

  it("finds the process at the other end of a loopback connection by the client's port", async () => {
    const { server, child, accepted } = await connectFromChild();
    const port = (server.address() as AddressInfo).port;
    const inodes = clientSockets("self", { localPort: accepted.remotePort!, remotePort: port });
    expect(inodes.size).toBe(1);
    expect([...socketHolders([child.pid!, process.pid], inodes).keys()]).toEqual([child.pid]);
    expect(commandLine(child.pid!)).toContain(" -e ");
  });

  it("without the client's port: every client of the port, none of them the server", async () => {
    const { server, child } = await connectFromChild();
    const port = (server.address() as AddressInfo).port;
    const inodes = clientSockets(child.pid!, { remotePort: port });
    expect(inodes.size).toBe(1);
    expect(socketHolders([process.pid], inodes).size).toBe(0);
    expect(socketHolders([child.pid!], inodes).size).toBe(1);
  });

  it("a port nobody is connected to has no clients; a gone process has no command line", () => {
    expect(clientSockets("self", { remotePort: 1 }).size).toBe(0);
    expect(commandLine(2 ** 22 + 17)).toBe("");
  });
});
