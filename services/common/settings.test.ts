import { describe, expect, it } from "vitest";
import { boolean, duration, integer, labels, list, readSettings, settingsMarkdown, SettingsError, text } from "./settings.js";

const TABLE = {
  port: { env: "CC_T_PORT", default: "8080", description: "Port.", parse: integer(0, 65535) },
  name: { env: "CC_T_NAME", default: "worker", description: "Name.", parse: text },
  wait: { env: "CC_T_WAIT", default: "30s", description: "Wait.", parse: duration },
  tags: { env: "CC_T_TAGS", default: "", description: "Tags.", parse: labels },
};

function settingsError(fn: () => unknown): SettingsError {
  try {
    fn();
  } catch (err) {
    if (err instanceof SettingsError) return err;
    throw err;
  }
  throw new Error("no SettingsError thrown");
}

describe("readSettings", () => {
  it("uses the defaults when the environment has nothing", () => {
    expect(readSettings(TABLE, {})).toEqual({ port: 8080, name: "worker", wait: 30_000, tags: {} });
  });

  it("reads and parses the environment", () => {
    const s = readSettings(TABLE, { CC_T_PORT: "9090", CC_T_NAME: "  w1 ", CC_T_WAIT: "5m", CC_T_TAGS: "region=eu", OTHER: "x" });
    expect(s).toEqual({ port: 9090, name: "w1", wait: 300_000, tags: { region: "eu" } });
  });

  it("overrides beat the environment, which beats the default", () => {
    const env = { CC_T_PORT: "9090", CC_T_NAME: "from-env" };
    const s = readSettings(TABLE, env, { port: "7070", wait: "1h" });
    expect(s.port).toBe(7070); // override over env
    expect(s.name).toBe("from-env"); // env over default
    expect(s.wait).toBe(3_600_000); // override over default
    expect(s.tags).toEqual({}); // default
  });

  it("an undefined override or env value falls through to the next source", () => {
    const s = readSettings(TABLE, { CC_T_PORT: undefined, CC_T_NAME: "env" }, { name: undefined });
    expect(s.port).toBe(8080);
    expect(s.name).toBe("env");
  });

  it("names the variable, the raw value and what is expected", () => {
    const err = settingsError(() => readSettings(TABLE, { CC_T_PORT: "eighty" }));
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toBe('CC_T_PORT="eighty": expected a whole number from 0 to 65535');
  });

  it("reports a bad override under the variable it overrides", () => {
    const err = settingsError(() => readSettings(TABLE, {}, { wait: "soon" }));
    expect(err.message).toBe('CC_T_WAIT="soon": expected a duration such as 30s, 5m or 1h');
  });

  it("quotes the raw value as JSON", () => {
    const err = settingsError(() => readSettings(TABLE, { CC_T_TAGS: 'say "hi"' }));
    expect(err.message).toBe('CC_T_TAGS="say \\"hi\\"": expected key=value pairs separated by commas, got "say "hi""');
  });

  it("a bad default is reported like a bad value", () => {
    const table = { n: { env: "CC_T_N", default: "many", description: "", parse: integer(1, 2) } };
    expect(settingsError(() => readSettings(table, {})).message).toBe('CC_T_N="many": expected a whole number from 1 to 2');
  });
});

describe("settingsMarkdown", () => {
  it("renders one row per setting, — for no default", () => {
    expect(settingsMarkdown(TABLE).split("\n")).toEqual([
      "| variable | default | meaning |",
      "| --- | --- | --- |",
      "| `CC_T_PORT` | `8080` | Port. |",
      "| `CC_T_NAME` | `worker` | Name. |",
      "| `CC_T_WAIT` | `30s` | Wait. |",
      "| `CC_T_TAGS` | — | Tags. |",
    ]);
  });
});

describe("parsers", () => {
  it("text trims", () => {
    expect(text("  a b  ")).toBe("a b");
    expect(text("")).toBe("");
  });

  it.each([
    ["42", 42],
    [" 7 ", 7],
    ["0", 0],
    ["100", 100],
  ])("integer(0, 100) reads %j as %d", (raw, n) => {
    expect(integer(0, 100)(raw)).toBe(n);
  });

  it.each([["101"], ["-1"], ["4.5"], ["abc"], ["NaN"], ["Infinity"]])("integer(0, 100) refuses %j", (raw) => {
    expect(() => integer(0, 100)(raw)).toThrow("expected a whole number from 0 to 100");
  });

  it.each([[""], ["  "], ["0x10"], ["1e3"], ["0b11"], ["+5"]])("integer(0, 65535) refuses %j", (raw) => {
    expect(() => integer(0, 65535)(raw)).toThrow("expected a whole number from 0 to 65535");
  });

  it.each([["1"], ["true"], ["YES"], [" on "]])("boolean reads %j as true", (raw) => {
    expect(boolean(raw)).toBe(true);
  });

  it.each([[""], ["0"], ["false"], ["No"], ["off"]])("boolean reads %j as false", (raw) => {
    expect(boolean(raw)).toBe(false);
  });

  it("boolean refuses anything else", () => {
    expect(() => boolean("maybe")).toThrow("expected true or false");
  });

  it.each([
    ["250ms", 250],
    ["30s", 30_000],
    ["5m", 300_000],
    ["1h", 3_600_000],
    ["90", 90_000],
    ["0", 0],
    ["1.5s", 1500],
    ["0.5", 500],
    [" 2m ", 120_000],
    ["0.25ms", 0],
  ])("duration reads %j as %d ms", (raw, ms) => {
    expect(duration(raw)).toBe(ms);
  });

  it.each([[""], ["5d"], ["-1s"], ["1 m"], ["s"], ["1.s"], ["1e3"], ["5M"], ["1h30m"]])("duration refuses %j", (raw) => {
    expect(() => duration(raw)).toThrow("expected a duration such as 30s, 5m or 1h");
  });

  it("labels reads k=v pairs, trimming keys and values", () => {
    expect(labels("region=eu,gpu=true")).toEqual({ region: "eu", gpu: "true" });
    expect(labels(" a = b , c=d ")).toEqual({ a: "b", c: "d" });
    expect(labels("a=b,,c=d,")).toEqual({ a: "b", c: "d" });
    expect(labels("k=")).toEqual({ k: "" });
    expect(labels("k=v=w")).toEqual({ k: "v=w" });
    expect(labels("k=1,k=2")).toEqual({ k: "2" });
  });

  it("labels of empty text is an empty map", () => {
    expect(labels("")).toEqual({});
    expect(labels(" , ")).toEqual({});
  });

  it.each([["novalue", "novalue"], ["=v", "=v"], ["a=b,c", "c"]])("labels refuses %j naming the pair", (raw, pair) => {
    expect(() => labels(raw)).toThrow(`expected key=value pairs separated by commas, got "${pair}"`);
  });

  it("list splits on commas, trims and drops empty entries", () => {
    expect(list("a, b,,c ,")).toEqual(["a", "b", "c"]);
    expect(list("")).toEqual([]);
  });
});
