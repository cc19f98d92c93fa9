import { JetStreamApiError } from "@nats-io/jetstream";
import { errors as natsErrors } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import { FencedError, PermissionError, StreamChangedError, toEventStoreError } from "../../src/client/errors.js";
import {
  ConditionFailedError,
  ErasedError,
  ErrorCodes,
  InternalError,
  NotFoundError,
  NotSupportedError,
  StoreFullError,
  UnavailableError,
  ValidationError,
  VersionConflictError,
} from "../../src/contract/errors.js";
import { RequestTimeoutError } from "../../src/server/jetstream/errors.js";
import { toStoreError } from "../../src/server/jetstream-store/translate.js";

describe("error catalogue", () => {
  it("keeps its wire codes stable", () => {
    expect(ErrorCodes).toEqual({
      ValidationError: 400,
      PermissionError: 403,
      NotFoundError: 404,
      StreamChangedError: 404,
      VersionConflictError: 409,
      ConditionFailedError: 409,
      FencedError: 409,
      ErasedError: 410,
      InternalError: 500,
      StoreFullError: 500,
      NotSupportedError: 501,
      UnavailableError: 503,
    });
    const instances = [
      new ValidationError("v"),
      new PermissionError("p", "publish", "eventstore.save"),
      new NotFoundError("n"),
      new StreamChangedError("EVENTS", "missing"),
      new VersionConflictError("a", 1, 2),
      new ConditionFailedError(7),
      new FencedError("f"),
      new ErasedError("a", "2026-01-01T00:00:00.000Z"),
      new InternalError("i"),
      new StoreFullError(10023, "insufficient resources"),
      new NotSupportedError("s", "2.12.0"),
      new UnavailableError("u"),
    ];
    for (const e of instances) expect(e.code).toBe(ErrorCodes[e.name as keyof typeof ErrorCodes]);
  });

  it("puts the details in the body, and hides a 500's message", () => {
    expect(new VersionConflictError("order-1", 2, 5).toBody()).toEqual({
      error: {
        code: 409,
        message: 'version conflict for actor "order-1": attempted version 2, current version 5',
        actorId: "order-1",
        attemptedVersion: 2,
        currentVersion: 5,
      },
    });
    expect(new ValidationError("bad", [{ path: "/version", message: "must be integer" }]).toBody()).toEqual({
      error: { code: 400, message: "bad", errors: [{ path: "/version", message: "must be integer" }] },
    });
    expect(new NotSupportedError("old server", "2.12.0").toBody().error).toMatchObject({ requiredServerVersion: "2.12.0" });
    expect(new InternalError("secret /path/to/file.js:12").toBody()).toEqual({ error: { code: 500, message: "internal error" } });
  });

  it("maps JetStream and connection failures by code, not by text, in the client", () => {
    const api = (code: number, status = 400) => new JetStreamApiError({ code: status, err_code: code, description: "x" });
    expect(toEventStoreError(api(10008, 503))).toBeInstanceOf(UnavailableError);
    expect(toEventStoreError(api(10059, 404))).toBeInstanceOf(UnavailableError);
    expect(toEventStoreError(api(10999))).toBeInstanceOf(InternalError);
    expect(toEventStoreError(api(10054))).toBeInstanceOf(ValidationError);
    expect(toEventStoreError(api(10047, 500))).toBeInstanceOf(StoreFullError);
    expect(toEventStoreError(api(10077, 503))).toBeInstanceOf(UnavailableError);
    const refused = new natsErrors.PermissionViolationError(
      'Permissions Violation for Publish to "eventstore.save"',
      "publish",
      "eventstore.save",
    );
    const viaRequest = toEventStoreError(new natsErrors.RequestError(refused.message, { cause: refused }));
    expect(viaRequest).toBeInstanceOf(PermissionError);
    expect(viaRequest).toMatchObject({ code: 403, operation: "publish", subject: "eventstore.save" });
    expect(toEventStoreError(new natsErrors.TimeoutError())).toBeInstanceOf(UnavailableError);
    expect(toEventStoreError(new natsErrors.NoRespondersError("$JS.API"))).toBeInstanceOf(UnavailableError);
    expect(toEventStoreError(new Error("boom"))).toBeInstanceOf(InternalError);
    const conflict = new VersionConflictError("a", 1, 1);
    expect(toEventStoreError(conflict)).toBe(conflict);
  });

  it("maps them alike in the service, where a permission refused is the operator's 500 and the requester's timeout a 503", () => {
    const api = (code: number, status = 400) => new JetStreamApiError({ code: status, err_code: code, description: "x" });
    expect(toStoreError(api(10008, 503))).toBeInstanceOf(UnavailableError);
    expect(toStoreError(api(10047, 500))).toBeInstanceOf(StoreFullError);
    expect(toStoreError(new RequestTimeoutError("no reply"))).toBeInstanceOf(UnavailableError);
    const refused = new natsErrors.PermissionViolationError('Permissions Violation for Publish to "$JS.API.x"', "publish", "$JS.API.x");
    const err = toStoreError(new natsErrors.RequestError(refused.message, { cause: refused }));
    expect(err).toBeInstanceOf(InternalError);
    expect(err.message).toBe(
      "the service's NATS user lacks a permission: NATS refused the publish to $JS.API.x: not permitted for this connection's user; see docs/security.md",
    );
    expect(toStoreError(new Error("boom"))).toBeInstanceOf(InternalError);
  });
});
