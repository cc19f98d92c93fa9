import { JetStreamApiError } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import { InternalError, StoreFullError, UnavailableError, ValidationError } from "../../src/contract/errors.js";
import {
  fromJetStreamApiError,
  isBatchTooLarge,
  isConsumerExists,
  isConsumerNotFound,
  isKnownBatchMsgId,
  isMessageDeleteFailed,
  isMsgIdInProcess,
  isSequenceNotFound,
  isStreamNotFound,
  isWrongLastSequence,
} from "../../src/contract/nats-failures.js";

const api = (code: number, status = 400) => new JetStreamApiError({ code: status, err_code: code, description: "x" });

describe("JetStream API codes", () => {
  it("recognises each refusal the store acts on by its code, and nothing else", () => {
    const cases: [(err: unknown) => boolean, number[]][] = [
      [isWrongLastSequence, [10071, 10164]],
      [isKnownBatchMsgId, [10201]],
      [isMsgIdInProcess, [10158]],
      [isBatchTooLarge, [10199]],
      [isStreamNotFound, [10059]],
      [isConsumerNotFound, [10014]],
      [isConsumerExists, [10148]],
      [isSequenceNotFound, [10043]],
      [isMessageDeleteFailed, [10057]],
    ];
    const all = cases.flatMap(([, codes]) => codes);
    for (const [is, codes] of cases) {
      for (const code of all) expect(is(api(code)), `${is.name} ${code}`).toBe(codes.includes(code));
      expect(is(new Error("10071"))).toBe(false);
    }
  });

  it("maps API errors to the catalogue: too large is the request's fault, the rest unavailable or internal", () => {
    expect(fromJetStreamApiError(api(10054))).toBeInstanceOf(ValidationError);
    expect(fromJetStreamApiError(api(10097))).toBeInstanceOf(ValidationError);
    for (const code of [10059, 10008, 10118, 10077, 10009, 10109, 10176, 10210]) {
      expect(fromJetStreamApiError(api(code)), String(code)).toBeInstanceOf(UnavailableError);
    }
    // A full store is not "retry": the server's, the account's or JetStream's storage limit, whatever the status.
    for (const code of [10002, 10023, 10047, 10028]) {
      const err = fromJetStreamApiError(api(code, 503));
      expect(err, String(code)).toBeInstanceOf(StoreFullError);
      expect(err.code).toBe(500);
      expect(err.toBody().error.message).toMatch(/^the event store is full .*retrying will not help/);
    }
    expect(fromJetStreamApiError(api(10999, 503))).toBeInstanceOf(UnavailableError);
    expect(fromJetStreamApiError(api(10999))).toBeInstanceOf(InternalError);
  });
});
