import type { EndpointName } from "../../contract/endpoints.js";
import { OPERATIONS, type ServeDeps } from "./operations.js";
import type { RequestValidator } from "./validation.js";

/** Filled in as a request is understood, so that an error can be logged with its context. */
export interface RequestContext {
  actorId?: string;
}

/** The reply: an object to encode as JSON, or the reply's JSON already encoded. */
export type Handler = (body: Uint8Array, ctx: RequestContext) => Promise<unknown>;

export interface HandlerDeps extends ServeDeps {
  validator: RequestValidator;
}

/**
 * An endpoint's handler: parse and validate the request, call its store operation. Not async: it
 * throws a refusal where it finds one, and its caller awaits it inside a try (a layer of promises
 * fewer on every request).
 */
export function createHandler<E extends EndpointName>(name: E, { validator, ...deps }: HandlerDeps): Handler {
  const { serve } = OPERATIONS[name];
  return (body, ctx) => {
    const request = validator.parse(name, body);
    // For the log; a request about several actors names none at its top.
    const { actorId } = request as { actorId?: unknown };
    if (typeof actorId === "string") ctx.actorId = actorId;
    return serve(request, body, deps);
  };
}
