import { Svcm } from "@nats-io/services";
import type { NatsConnection } from "@nats-io/transport-node";
import { expect } from "vitest";
import { changeCourseCapacity, courseQuery, defineCourse, subscribeStudent } from "../../examples/course-subscriptions.js";
import { createInvoice, invoicesQuery } from "../../examples/invoice-numbers.js";
import { claimUsername, releaseUsername, usernameQuery } from "../../examples/unique-username.js";
import { EventStoreClient, type EventStoreClientOptions, type WriteOptions } from "../../src/client/client.js";
import { ConditionFailedError } from "../../src/contract/errors.js";
import type { Event, PositionedEvent, Query } from "../../src/contract/types.js";
import type { StoredEventMsg } from "./stored-events.js";

// The three dcb.events examples (examples/) raced by concurrent clients, and the checks of what
// they stored: the domain's invariant read back from the log, and every acknowledged write stored
// exactly once. Used through two service replicas (test/examples/dcb.test.ts) and on a 3-node
// cluster whose stream leader is killed (test/faults/dcb-cluster.test.ts).

/** A write an example reported done: its event id at its position. */
export interface Acked {
  id: string;
  position: number;
}

/** What a race did, for the checks. */
export interface Race {
  acked: Acked[];
  /** Appends refused because an event matching the condition was stored after the read. */
  conditionFailures: number;
  /** Attempts the clients sent again (timeouts, no responders, 503s). */
  retries: number;
  /** Appends answered `duplicate: true`: a retry of a write that was stored but not answered. */
  duplicates: number;
}

/** A client that counts its refused conditions and its retries into the race's record. */
class RacingClient extends EventStoreClient {
  constructor(
    nc: NatsConnection,
    private readonly race: Race,
    options: EventStoreClientOptions,
  ) {
    super(nc, { ...options, retry: { ...options.retry, onRetry: () => race.retries++ } });
  }

  override async append(actorId: string, events: Event[], options?: WriteOptions) {
    try {
      const reply = await super.append(actorId, events, options);
      if (reply.duplicate) this.race.duplicates++;
      return reply;
    } catch (err) {
      if (err instanceof ConditionFailedError) this.race.conditionFailures++;
      throw err;
    }
  }
}

export interface RaceOptions {
  /** The connections the clients share, round robin. */
  connections: NatsConnection[];
  client?: EventStoreClientOptions;
  /** Decisions per example call (generous: a race loses many). */
  attempts?: number;
  /** Called after each acknowledged write (to act in the middle of a race). */
  onAck?: () => void;
}

function racingClients(options: RaceOptions, race: Race) {
  const clients = options.connections.map((nc) => new RacingClient(nc, race, options.client ?? {}));
  return (i: number) => clients[i % clients.length]!;
}

const newRace = (): Race => ({ acked: [], conditionFailures: 0, retries: 0, duplicates: 0 });
function ack(race: Race, options: RaceOptions, written: { eventId: string; position: number }) {
  race.acked.push({ id: written.eventId, position: written.position });
  options.onAck?.();
}
const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;
const DEFAULT_ATTEMPTS = 200;

/** The position of the last acknowledged write: how far a replica must have come to hold them all. */
export const lastPosition = (acked: Acked[]) => Math.max(0, ...acked.map((a) => a.position));

/** Every event matching the query, read through the service. */
export async function readQuery(nc: NatsConnection, query: Query): Promise<PositionedEvent[]> {
  const out: PositionedEvent[] = [];
  for await (const e of new EventStoreClient(nc).read(query)) out.push(e);
  return out;
}

/**
 * Every acknowledged write is stored once at its acknowledged position, and nothing else is:
 * `read` is what a query of the race's events returned; `raw`, the race's event messages as one
 * replica holds them in the stream (index messages aside), when the caller can tell them apart.
 */
export function expectStoredOnce(acknowledged: Acked[], read: PositionedEvent[], raw?: StoredEventMsg[]) {
  const acked = acknowledged.map((a) => `${a.id}@${a.position}`).sort();
  expect(read.map((e) => `${e.event.id}@${e.position}`).sort()).toEqual(acked);
  if (raw) expect(raw.map((s) => `${s.id}@${s.seq}`).sort()).toEqual(acked);
}

// ---- unique username -------------------------------------------------------------------------

export interface UsernameRaceOptions extends RaceOptions {
  names: string[];
  users: number;
  /** Claims each user tries; a successful claim is released right after. */
  rounds: number;
}

/** Users claim random names from a few and release what they got; others try to release what they do not hold. */
export async function raceUsernames(options: UsernameRaceOptions): Promise<Race> {
  const race = newRace();
  const client = racingClients(options, race);
  const decide = { attempts: options.attempts ?? DEFAULT_ATTEMPTS };
  const user = async (n: number) => {
    const userId = `user-${n}`;
    for (let round = 0; round < options.rounds; round++) {
      const name = pick(options.names);
      const claim = await claimUsername(client(n), name, userId, decide);
      if (!claim.claimed) {
        // Not the holder (unless it already held it, which it never keeps): refused as a value.
        expect(claim.holder).not.toBe(userId);
        const release = await releaseUsername(client(n), name, userId, decide);
        expect(release).toMatchObject({ released: false });
        continue;
      }
      ack(race, options, claim);
      const release = await releaseUsername(client(n + 1), name, userId, decide);
      if (!release.released) throw new Error(`${userId} could not release ${name}, held by ${release.holder}`);
      ack(race, options, release);
    }
  };
  await Promise.all(Array.from({ length: options.users }, (_, n) => user(n)));
  return race;
}

/** Each name's log alternates a claim and the same user's release: one holder at a time; returns the claims per name. */
export async function expectOneHolderAtATime(nc: NatsConnection, names: string[]): Promise<{ read: PositionedEvent[]; claims: number[] }> {
  const read: PositionedEvent[] = [];
  const claims: number[] = [];
  for (const name of names) {
    const events = await readQuery(nc, usernameQuery(name));
    let holder: string | undefined;
    for (const { event } of events) {
      const userId = String(event.data.userId);
      if (event.eventType === "UsernameClaimed") {
        expect(holder, `${name} claimed by ${userId} while ${holder} held it`).toBeUndefined();
        holder = userId;
      } else {
        expect(event.eventType).toBe("UsernameReleased");
        expect(userId, `${name} released by ${userId} while ${holder} held it`).toBe(holder);
        holder = undefined;
      }
    }
    // Every claim of the race was released.
    expect(holder).toBeUndefined();
    expect(events.map((e) => e.position)).toEqual(events.map((e) => e.position).sort((a, b) => a - b));
    claims.push(events.filter((e) => e.event.eventType === "UsernameClaimed").length);
    read.push(...events);
  }
  return { read, claims };
}

// ---- course subscriptions --------------------------------------------------------------------

export interface CourseRaceOptions extends RaceOptions {
  courses: string[];
  capacity: number;
  students: string[];
  maxCoursesPerStudent: number;
}

/**
 * Each course defined by two clients at once; then every student subscribes to every course at
 * once, while the first course's capacity is raised by 2 and the second's lowered to 2; then every
 * student tries every course once more, so that each refusal of the last round is the final state's.
 */
export async function raceCourses(options: CourseRaceOptions): Promise<Race> {
  const race = newRace();
  const client = racingClients(options, race);
  const attempts = options.attempts ?? DEFAULT_ATTEMPTS;
  const record = (r: { eventId: string; position: number }) => ack(race, options, r);

  for (const courseId of options.courses) {
    const both = await Promise.all([0, 1].map((i) => defineCourse(client(i), courseId, options.capacity, { attempts })));
    const defined = both.filter((d) => d.defined);
    expect(defined).toHaveLength(1);
    for (const d of defined) record(d);
    expect(both.filter((d) => !d.defined)).toEqual([{ defined: false, reason: "already-defined" }]);
  }

  const storm = () =>
    options.students.flatMap((studentId, s) =>
      options.courses.map(async (courseId, c) => {
        const r = await subscribeStudent(client(s + c), courseId, studentId, {
          attempts,
          maxCoursesPerStudent: options.maxCoursesPerStudent,
        });
        if (r.subscribed) record(r);
        return r;
      }),
    );
  const [first, second] = options.courses;
  const changes = [
    changeCourseCapacity(client(0), first!, options.capacity + 2, { attempts }),
    changeCourseCapacity(client(1), second!, 2, { attempts }),
  ];
  const firstStorm = await Promise.all(storm());
  for (const change of await Promise.all(changes)) {
    if (change.changed) record(change);
    else expect(change.reason).toBe("below-subscriptions");
  }
  const lastStorm = await Promise.all(storm());
  for (const r of [...firstStorm, ...lastStorm]) if (!r.subscribed) expect(r.reason).not.toBe("no-such-course");
  return race;
}

/**
 * In position order, no course ever holds more students than its capacity then, no student more
 * than the limit, nobody twice in a course, and no capacity below the course's subscriptions; at the
 * end every course is full or every student who is not in it has reached the limit.
 */
export async function expectCoursesWithinLimits(
  nc: NatsConnection,
  options: Pick<CourseRaceOptions, "courses" | "students" | "maxCoursesPerStudent">,
): Promise<PositionedEvent[]> {
  const read = await readQuery(nc, { items: options.courses.map((c) => courseQuery(c).items[0]) as Query["items"] });
  const capacity = new Map<string, number>();
  const studentsOf = new Map(options.courses.map((c) => [c, new Set<string>()]));
  const coursesOf = new Map(options.students.map((s) => [s, new Set<string>()]));
  for (const { event } of read) {
    const data = event.data as { courseId: string; capacity: number; studentId: string };
    const students = studentsOf.get(data.courseId)!;
    if (event.eventType === "StudentSubscribed") {
      expect(students.has(data.studentId), `${data.studentId} twice in ${data.courseId}`).toBe(false);
      students.add(data.studentId);
      coursesOf.get(data.studentId)!.add(data.courseId);
      expect(students.size, `${data.courseId} over its capacity`).toBeLessThanOrEqual(capacity.get(data.courseId)!);
      expect(coursesOf.get(data.studentId)!.size, `${data.studentId} over the limit`).toBeLessThanOrEqual(options.maxCoursesPerStudent);
    } else {
      if (event.eventType === "CourseDefined") expect(capacity.has(data.courseId)).toBe(false);
      else expect(event.eventType).toBe("CourseCapacityChanged");
      expect(data.capacity).toBeGreaterThanOrEqual(students.size);
      capacity.set(data.courseId, data.capacity);
    }
  }
  // Exact: the last round refused a student only because the course was full or the student at the limit.
  for (const courseId of options.courses) {
    const students = studentsOf.get(courseId)!;
    if (students.size === capacity.get(courseId)) continue;
    for (const studentId of options.students) {
      if (!students.has(studentId))
        expect(coursesOf.get(studentId)!.size, `${studentId} refused by ${courseId}`).toBe(options.maxCoursesPerStudent);
    }
  }
  return read;
}

// ---- invoice numbers -------------------------------------------------------------------------

export interface InvoiceRaceOptions extends RaceOptions {
  workers: number;
  invoicesPerWorker: number;
}

export async function raceInvoices(options: InvoiceRaceOptions): Promise<Race & { numbers: number[] }> {
  const race = { ...newRace(), numbers: [] as number[] };
  const client = racingClients(options, race);
  const worker = async (n: number) => {
    for (let i = 0; i < options.invoicesPerWorker; i++) {
      const invoice = await createInvoice(
        client(n),
        { customer: `customer-${n}`, amount: i },
        { attempts: options.attempts ?? DEFAULT_ATTEMPTS },
      );
      ack(race, options, invoice);
      race.numbers.push(invoice.number);
    }
  };
  await Promise.all(Array.from({ length: options.workers }, (_, n) => worker(n)));
  return race;
}

/** Every invoice of the stream, in position order, is numbered 1, 2, 3 ...: no gap and no repeat. */
export async function expectInvoiceNumbers(nc: NatsConnection): Promise<PositionedEvent[]> {
  const read = await readQuery(nc, invoicesQuery);
  expect(read.map((e) => e.event.data.number)).toEqual(Array.from({ length: read.length }, (_, i) => i + 1));
  return read;
}

/** Resolves once `replicas` service processes answer a ping (a resumed one has read what waited for it). */
export async function untilReplicasAnswer(nc: NatsConnection, replicas: number): Promise<void> {
  const svcm = new Svcm(nc).client({ strategy: "count", maxMessages: replicas, maxWait: 1000 });
  for (;;) {
    let answered = 0;
    for await (const _ of await svcm.ping("eventstore")) answered++;
    if (answered >= replicas) return;
  }
}

/** Requests each service replica answered on an endpoint. */
export async function requestsPerReplica(nc: NatsConnection, endpoint: string): Promise<number[]> {
  const out: number[] = [];
  for await (const s of await new Svcm(nc).client().stats("eventstore")) {
    out.push(s.endpoints?.find((e) => e.name === endpoint)?.num_requests ?? 0);
  }
  return out;
}
