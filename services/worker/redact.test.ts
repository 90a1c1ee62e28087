import { describe, expect, it } from "vitest";
import { createLogger } from "../common/logger.js";
import { REDACTED, Secrets, StreamRedactor } from "./redact.js";

describe("redaction", () => {
  it("replaces every occurrence of every secret, the longer first", () => {
    const secrets = new Secrets();
    secrets.add("sk-ant-secret-1234");
    secrets.add("sk-ant-secret-1234-longer");
    expect(secrets.redact("a sk-ant-secret-1234 b sk-ant-secret-1234-longer c")).toBe(`a ${REDACTED} b ${REDACTED} c`);
    expect(secrets.contains("nothing here")).toBe(false);
    expect(secrets.redactBytes(Buffer.from("x sk-ant-secret-1234 y")).toString()).toBe(`x ${REDACTED} y`);
  });

  it("ignores values too short to be a credential, and forgets one when removed (as often as added)", () => {
    const secrets = new Secrets();
    secrets.add("short");
    expect(secrets.size).toBe(0);
    const first = secrets.add("token-abcdefgh");
    const second = secrets.add("token-abcdefgh");
    first();
    expect(secrets.redact("token-abcdefgh")).toBe(REDACTED);
    second();
    second();
    expect(secrets.redact("token-abcdefgh")).toBe("token-abcdefgh");
  });

  it("a stream holds back the end of a chunk that could start a secret, and lets it go when it does not", () => {
    const secrets = new Secrets();
    secrets.add("ghp_0123456789abcdef");
    const stream = new StreamRedactor(secrets);
    const out: string[] = [];
    out.push(stream.push(Buffer.from("clone with ghp_0123")).toString());
    expect(stream.holding).toBe(true);
    out.push(stream.push(Buffer.from("456789abcdef done gh")).toString());
    out.push(stream.push(Buffer.from("ost")).toString());
    out.push(stream.push(Buffer.from(" end g")).toString());
    out.push(stream.flush().toString());
    expect(out.join("")).toBe(`clone with ${REDACTED} done ghost end g`);
    expect(out[0]).toBe("clone with ");
    expect(stream.holding).toBe(false);
  });

  it("with no secrets, a stream passes chunks through untouched", () => {
    const stream = new StreamRedactor(new Secrets());
    const chunk = Buffer.from("sk-");
    expect(stream.push(chunk)).toBe(chunk);
  });

  it("a logger made with the secrets writes none of them, wherever in the record they are", () => {
    const secrets = new Secrets();
    const lines: string[] = [];
    const logger = createLogger("worker", "info", { format: "json", destination: { write: (l: string) => void lines.push(l) }, scrub: (l) => secrets.redact(l) });
    secrets.add("ghp_repository_token_123");
    logger.info({ err: { message: "clone of https://x-access-token:ghp_repository_token_123@host failed" }, note: "ghp_repository_token_123" }, "with ghp_repository_token_123");
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toContain("ghp_repository_token_123");
    expect(lines[0]).toContain(REDACTED);
  });
});
