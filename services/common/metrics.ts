// Prometheus metrics for worker and router: each server keeps its own prom-client Registry (tests run several
// servers in one process), answers GET /metrics on its one port, and counts what its streams carry with an
// interceptor. State that already lives somewhere (sessions, tasks, workers, health) is read when Prometheus
// scrapes, not copied on every change.
import { isMessage } from "@bufbuild/protobuf";
import type { Interceptor } from "@connectrpc/connect";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type * as http from "node:http";
import { RunEventSchema, type ResultSummary, type RunEvent } from "../../gen/claudecluster/v1/run_pb.js";
import type { Logger } from "./logger.js";
import type { RequestHandler } from "./serve.js";

export const METRICS_PATH = "/metrics";

/** The metric names' common prefix. */
export const PREFIX = "claudecluster_";

/** Router-added latency: from a worker's event arriving to it leaving for a caller. */
export const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1];

type Read = () => number;
type ReadLabelled<L extends string> = () => Iterable<[Partial<Record<L, string>>, number]>;

export class ServerMetrics {
  readonly registry = new Registry();
  private readonly streamEvents: Counter<"service" | "method">;
  private readonly streamBytes: Counter<"service" | "method">;
  private readonly costUsd: Counter;
  private readonly tokens: Counter<"type">;
  private readonly beforeScrape: (() => void)[] = [];
  private readonly eventHooks: ((event: RunEvent) => void)[] = [];

  constructor(private readonly logger?: Logger) {
    // Process metrics under their usual names (process_cpu_seconds_total, nodejs_heap_size_used_bytes...).
    collectDefaultMetrics({ register: this.registry });
    this.streamEvents = this.counter("stream_events_total", "Messages sent on server-streaming RPCs (RunEvents for Run and Attach).", ["service", "method"]);
    this.streamBytes = this.counter("stream_bytes_total", "Response bytes of server-streaming RPCs as written to the connection (framing included).", ["service", "method"]);
    this.costUsd = this.counter("claude_cost_usd_total", "API cost in US dollars that claude reported in the result summaries of ended tasks.");
    this.tokens = this.counter("claude_tokens_total", "Tokens that claude reported in the result summaries of ended tasks, by type.", ["type"]);
    for (const type of ["input", "output", "cache_creation", "cache_read"]) this.tokens.inc({ type }, 0);
  }

  counter<L extends string = never>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    return new Counter({ name: PREFIX + name, help, labelNames, registers: [this.registry] });
  }

  histogram(name: string, help: string, buckets: number[]): Histogram {
    return new Histogram({ name: PREFIX + name, help, buckets, registers: [this.registry] });
  }

  /** A gauge read when Prometheus scrapes. */
  gauge(name: string, help: string, read: Read): void {
    new Gauge({
      name: PREFIX + name,
      help,
      registers: [this.registry],
      collect() {
        this.set(read());
      },
    });
  }

  /** A labelled gauge read when Prometheus scrapes: series not read this time disappear. */
  labelledGauge<L extends string>(name: string, help: string, labelNames: readonly L[], read: ReadLabelled<L>): void {
    new Gauge({
      name: PREFIX + name,
      help,
      labelNames,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [labels, value] of read()) this.set(labels, value);
      },
    });
  }

  /** Runs before every scrape, before any metric is read: for counters brought up to date from kept state. */
  onScrape(fn: () => void | Promise<void>): void {
    this.beforeScrape.push(fn);
  }

  /** Adds claude's cost and token counts from a result summary. */
  recordResult(result: ResultSummary | undefined): void {
    if (!result) return;
    if (result.totalCostUsd > 0) this.costUsd.inc(result.totalCostUsd);
    const u = result.usage;
    if (!u) return;
    this.tokens.inc({ type: "input" }, Number(u.inputTokens));
    this.tokens.inc({ type: "output" }, Number(u.outputTokens));
    this.tokens.inc({ type: "cache_creation" }, Number(u.cacheCreationInputTokens));
    this.tokens.inc({ type: "cache_read" }, Number(u.cacheReadInputTokens));
  }

  /** For createConnectHandler's `streamBytes`: counts the bytes of a streaming response as they are written. */
  readonly countStreamBytes = (service: string, method: string): ((bytes: number) => void) => {
    const child = this.streamBytes.labels({ service, method });
    return (bytes) => child.inc(bytes);
  };

  /**
   * Shows `fn` each RunEvent a stream sends, as it passes (the worker counts ended sessions and claude's cost from
   * `exited`, the router observes its latency).
   */
  onEvent(fn: (event: RunEvent) => void): void {
    this.eventHooks.push(fn);
  }

  /** Counts the messages of every server stream, and shows the RunEvents among them to the onEvent hooks. */
  interceptor(): Interceptor {
    const hooks = this.eventHooks;
    return (next) => async (req) => {
      const res = await next(req);
      if (!res.stream) return res;
      const counted = this.streamEvents.labels({ service: req.service.typeName, method: req.method.name });
      const source = res.message;
      return {
        ...res,
        message: (async function* () {
          for await (const message of source) {
            counted.inc();
            if (hooks.length > 0 && isMessage(message, RunEventSchema)) for (const hook of hooks) hook(message);
            yield message;
          }
        })(),
      };
    };
  }

  /** The exposition text, after the onScrape hooks. */
  async scrape(): Promise<string> {
    for (const fn of this.beforeScrape) await fn();
    return this.registry.metrics();
  }

  /** Answers GET /metrics and passes every other request to `next`. */
  handler(next: RequestHandler): RequestHandler {
    return (req, res) => {
      if ((req.url ?? "").split("?", 1)[0] !== METRICS_PATH) {
        next(req, res);
        return;
      }
      const out = res as http.ServerResponse;
      if (req.method !== "GET" && req.method !== "HEAD") {
        out.statusCode = 405;
        out.setHeader("allow", "GET, HEAD");
        out.end();
        return;
      }
      this.scrape().then(
        (text) => {
          out.statusCode = 200;
          out.setHeader("content-type", this.registry.contentType);
          out.end(req.method === "HEAD" ? undefined : text);
        },
        (err: unknown) => {
          this.logger?.error({ err }, "metrics scrape failed");
          out.statusCode = 500;
          out.end();
        },
      );
    };
  }
}

// When each event arrived from its worker (router), so the time the router adds can be measured where the event
// leaves for a caller. Weak: an event that is never delivered is forgotten with it.
const received = new WeakMap<object, number>();

export function markReceived(event: object, now = performance.now()): void {
  received.set(event, now);
}

/** Seconds since markReceived(event), once per event (the first delivery); undefined when not marked. */
export function takeReceived(event: object, now = performance.now()): number | undefined {
  const at = received.get(event);
  if (at === undefined) return undefined;
  received.delete(event);
  return (now - at) / 1000;
}
