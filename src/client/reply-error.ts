import { ServiceErrorCodeHeader, ServiceErrorHeader } from "@nats-io/services";
import type { Msg } from "@nats-io/transport-node";
import {
  ConditionFailedError,
  ErasedError,
  ErrorCodes,
  type EventStoreError,
  type FieldError,
  InternalError,
  NotFoundError,
  NotSupportedError,
  UnavailableError,
  ValidationError,
  VersionConflictError,
} from "../contract/errors.js";
import type { ErrorResponse } from "../contract/types.js";

type ErrorDetails = Partial<ErrorResponse["error"]>;

/**
 * The service's error as the class it threw, rebuilt from an error reply's micro error headers
 * (ADR-32) and JSON body; undefined when the reply is a success. A code this client does not know (a newer
 * service) becomes an InternalError that names it.
 */
export function errorFromReply(msg: Msg): EventStoreError | undefined {
  const header = msg.headers?.get(ServiceErrorCodeHeader);
  if (!header) return undefined;
  const code = Number(header);
  const details = readDetails(msg);
  const message = details.message ?? msg.headers?.get(ServiceErrorHeader) ?? `error ${header}`;
  switch (code) {
    case ErrorCodes.ValidationError:
      return new ValidationError(message, fieldErrors(details.errors));
    case ErrorCodes.NotFoundError:
      return new NotFoundError(message);
    case ErrorCodes.VersionConflictError:
      // One code for both 409s (contract v3): the condition's detail is what tells them apart.
      if (typeof details.condition?.position === "number") return new ConditionFailedError(details.condition.position, message);
      return new VersionConflictError(
        details.actorId ?? "",
        details.attemptedVersion ?? 0,
        details.currentVersion ?? 0,
        message,
        details.conflicts,
      );
    case ErrorCodes.ErasedError:
      return new ErasedError(details.actorId ?? "", details.erasedAt ?? "", message);
    case ErrorCodes.InternalError:
      return new InternalError(message);
    case ErrorCodes.NotSupportedError:
      return new NotSupportedError(message, details.requiredServerVersion ?? "");
    case ErrorCodes.UnavailableError:
      return new UnavailableError(message);
    default:
      return new InternalError(`the service answered error ${header}: ${message}`);
  }
}

/** The body's details; an error reply without a parsable body still has its headers. */
function readDetails(msg: Msg): ErrorDetails {
  try {
    const body = JSON.parse(new TextDecoder().decode(msg.data)) as Partial<ErrorResponse>;
    return typeof body.error === "object" && body.error !== null ? body.error : {};
  } catch {
    return {};
  }
}

function fieldErrors(errors: ErrorDetails["errors"]): FieldError[] {
  return Array.isArray(errors) ? errors.map((e) => ({ path: String(e.path), message: String(e.message) })) : [];
}
