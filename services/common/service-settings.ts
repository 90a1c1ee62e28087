// Settings that worker and router share, spread into each one's table: where and how they listen, and how they
// report (logs and metrics). One definition, so the two READMEs tables and the two services cannot drift apart.
import { parseLogFormat } from "./logger.js";
import { boolean, integer, text } from "./settings.js";

export const LISTEN_SETTINGS = {
  port: { env: "PORT", default: "8080", description: "Port to listen on (gRPC, gRPC-Web and Connect on one port).", parse: integer(0, 65535) },
  host: { env: "CC_HOST", default: "0.0.0.0", description: "Address to listen on.", parse: text },
  tlsCert: { env: "CC_TLS_CERT", default: "", description: "PEM certificate chain: serve TLS (h2 and HTTP/1.1 by ALPN) instead of cleartext h2c. With CC_TLS_KEY.", parse: text },
  tlsKey: { env: "CC_TLS_KEY", default: "", description: "PEM private key for CC_TLS_CERT.", parse: text },
};

export const REPORTING_SETTINGS = {
  logLevel: { env: "CC_LOG_LEVEL", default: "info", description: "pino log level: debug, info, warn, error, silent.", parse: text },
  logFormat: {
    env: "CC_LOG_FORMAT",
    default: "auto",
    description: "Log lines as `json` (one pino object a line), `pretty` (`time level component message key=value`), or `auto`: pretty on a terminal, JSON otherwise.",
    parse: parseLogFormat,
  },
  metrics: {
    env: "CC_METRICS",
    default: "on",
    description: "Serve Prometheus metrics at GET /metrics on the same port, without a token (`off` to turn off).",
    parse: boolean,
  },
};
