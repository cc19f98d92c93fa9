import { ENDPOINTS, type EndpointName, type ServeDeps } from "../endpoints.js";
import type { RequestValidator } from "../validation.js";

/** Filled in as a request is understood, so that an error can be logged with its context. */
export interface RequestContext {
  actorId?: string;
}

export type Handler = (body: Uint8Array, ctx: RequestContext) => Promise<Uint8Array | string>;

export interface HandlerDeps extends ServeDeps {
  validator: RequestValidator;
}

/** An endpoint's handler: parse and validate the request, call its store operation, encode the reply. */
export function createHandler<E extends EndpointName>(name: E, { validator, ...deps }: HandlerDeps): Handler {
  const { serve } = ENDPOINTS[name];
  return async (body, ctx) => {
    const request = validator.parse(name, body);
    // For the log; a request about several actors names none at its top.
    const { actorId } = request as { actorId?: unknown };
    if (typeof actorId === "string") ctx.actorId = actorId;
    const reply = await serve(request, body, deps);
    return reply instanceof Uint8Array ? reply : JSON.stringify(reply);
  };
}
