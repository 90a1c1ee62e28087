// Serves Connect routes on Node's http/http2 servers, like connectNodeAdapter, but reports failed responses through
// our logger: a caller that disconnects in the middle of a stream is routine for a streaming service, not an error
// worth printing to stderr (connectNodeAdapter console.error()s it).
import { Code, ConnectError, createConnectRouter, type ConnectRouter, type ConnectRouterOptions } from "@connectrpc/connect";
import { universalRequestFromNodeRequest, universalResponseToNodeResponse } from "@connectrpc/connect-node";
import type * as http from "node:http";
import type * as http2 from "node:http2";
import type { Logger } from "./logger.js";
import type { RequestHandler } from "./serve.js";

export interface AdapterOptions extends ConnectRouterOptions {
  routes: (router: ConnectRouter) => void;
  logger: Logger;
}

export function createConnectHandler(options: AdapterOptions): RequestHandler {
  const { routes, logger, ...routerOptions } = options;
  const router = createConnectRouter(routerOptions);
  routes(router);
  const paths = new Map(router.handlers.map((h) => [h.requestPath, h]));
  return (req, res) => {
    const handler = paths.get(req.url?.split("?", 2)[0] ?? "");
    const nodeReq = req as http.IncomingMessage | http2.Http2ServerRequest;
    const nodeRes = res as http.ServerResponse | http2.Http2ServerResponse;
    if (!handler) {
      nodeRes.statusCode = 404;
      nodeRes.end();
      return;
    }
    handler(universalRequestFromNodeRequest(nodeReq, nodeRes, undefined, undefined))
      .then((uRes) => universalResponseToNodeResponse(uRes, nodeRes))
      .catch((reason: unknown) => {
        const err = ConnectError.from(reason);
        const callerGone = err.code === Code.Aborted || err.code === Code.Canceled || nodeRes.destroyed || req.destroyed;
        const fields = { method: handler.method.name, service: handler.service.typeName, err: err.message };
        if (callerGone) logger.debug(fields, "caller went away during the response");
        else logger.warn(fields, "response failed");
      });
  };
}
