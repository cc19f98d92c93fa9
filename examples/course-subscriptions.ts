// dcb.events "Course subscriptions": a course takes at most its capacity of students, and a student
// subscribes to at most `maxCoursesPerStudent` courses (5 by default).
// Consistency boundary: one subscription decision reads two query items, the course's tag
// (`course:<id>`: its definition, capacity changes and subscriptions) and the student's
// subscriptions (`StudentSubscribed` tagged `student:<id>`), and appends with a condition on that
// same two-item query after the read's head. One conditional write guards both rules: a
// subscription to the same course, a subscription of the same student to another course, or a
// capacity change stored since the read refuses it, and the decision is made again. Subscriptions
// of other students to other courses never contend.
// Each event is version 1 of an actor of its own (a fresh `course-<uuid>` or `subscription-<uuid>`),
// so no actor's version serialises anything here: the condition alone does.
// In an application, import from "nats-eventstore".
import { randomUUID } from "node:crypto";
import type { Event, EventStoreClient, Query } from "../src/index.js";
import { type DecisionOptions, retryOnConditionFailed } from "./dcb-retry.js";

export const courseTag = (courseId: string) => `course:${courseId}`;
export const studentTag = (studentId: string) => `student:${studentId}`;

/** Every event of one course: its definition, capacity changes and subscriptions. */
export const courseQuery = (courseId: string): Query => ({ items: [{ tags: [courseTag(courseId)] }] });

/** What a subscription is decided on: the course's events and the student's subscriptions. */
export const subscriptionQuery = (courseId: string, studentId: string): Query => ({
  items: [{ tags: [courseTag(courseId)] }, { types: ["StudentSubscribed"], tags: [studentTag(studentId)] }],
});

export type Written = { eventId: string; position: number };
export type Definition = ({ defined: true } & Written) | { defined: false; reason: "already-defined" };
export type CapacityChange = ({ changed: true } & Written) | { changed: false; reason: "no-such-course" | "below-subscriptions" };
export type Subscription =
  | ({ subscribed: true } & Written)
  | { subscribed: false; reason: "no-such-course" | "already-subscribed" | "course-full" | "student-limit" };

export interface SubscribeOptions extends DecisionOptions {
  maxCoursesPerStudent?: number;
}

/** What the decisions need to know, folded from the events a query returned. */
interface Course {
  /** undefined: the course is not defined. */
  capacity: number | undefined;
  /** The students subscribed to the course. */
  students: Set<string>;
  /** The courses the student is subscribed to (only when the query asked for them). */
  coursesOfStudent: Set<string>;
}

export function defineCourse(
  client: EventStoreClient,
  courseId: string,
  capacity: number,
  options: DecisionOptions = {},
): Promise<Definition> {
  return retryOnConditionFailed(options, async () => {
    const query = courseQuery(courseId);
    const { course, head } = await fold(client, query, courseId, undefined);
    if (course.capacity !== undefined) return { defined: false, reason: "already-defined" };
    return { defined: true, ...(await appendIf(client, query, head, "CourseDefined", { courseId, capacity }, [courseTag(courseId)])) };
  });
}

/** A new capacity, refused below the subscriptions the course already has. */
export function changeCourseCapacity(
  client: EventStoreClient,
  courseId: string,
  capacity: number,
  options: DecisionOptions = {},
): Promise<CapacityChange> {
  return retryOnConditionFailed(options, async () => {
    const query = courseQuery(courseId);
    const { course, head } = await fold(client, query, courseId, undefined);
    if (course.capacity === undefined) return { changed: false, reason: "no-such-course" };
    if (capacity < course.students.size) return { changed: false, reason: "below-subscriptions" };
    return {
      changed: true,
      ...(await appendIf(client, query, head, "CourseCapacityChanged", { courseId, capacity }, [courseTag(courseId)])),
    };
  });
}

export function subscribeStudent(
  client: EventStoreClient,
  courseId: string,
  studentId: string,
  options: SubscribeOptions = {},
): Promise<Subscription> {
  const maxCoursesPerStudent = options.maxCoursesPerStudent ?? 5;
  return retryOnConditionFailed(options, async () => {
    const query = subscriptionQuery(courseId, studentId);
    const { course, head } = await fold(client, query, courseId, studentId);
    if (course.capacity === undefined) return { subscribed: false, reason: "no-such-course" };
    if (course.students.has(studentId)) return { subscribed: false, reason: "already-subscribed" };
    if (course.students.size >= course.capacity) return { subscribed: false, reason: "course-full" };
    if (course.coursesOfStudent.size >= maxCoursesPerStudent) return { subscribed: false, reason: "student-limit" };
    const tags = [courseTag(courseId), studentTag(studentId)];
    return { subscribed: true, ...(await appendIf(client, query, head, "StudentSubscribed", { courseId, studentId }, tags)) };
  });
}

async function fold(client: EventStoreClient, query: Query, courseId: string, studentId: string | undefined) {
  const course: Course = { capacity: undefined, students: new Set(), coursesOfStudent: new Set() };
  const read = client.read(query);
  for await (const { event } of read) {
    const data = event.data as { courseId: string; capacity?: number; studentId?: string };
    if (event.eventType === "CourseDefined" || event.eventType === "CourseCapacityChanged") course.capacity = data.capacity;
    if (event.eventType === "StudentSubscribed") {
      if (data.courseId === courseId) course.students.add(String(data.studentId));
      if (data.studentId === studentId) course.coursesOfStudent.add(data.courseId);
    }
  }
  // A read that ran to its end has a head (0 on an empty stream).
  return { course, head: read.head ?? 0 };
}

/** Stores the event only if no event matching `query` has been stored after `head`. */
async function appendIf(client: EventStoreClient, query: Query, head: number, eventType: string, data: Event["data"], tags: string[]) {
  const actorType = eventType === "StudentSubscribed" ? "subscription" : "course";
  const event: Event = { id: randomUUID(), eventType, actorId: `${actorType}-${randomUUID()}`, version: 1, data, tags };
  const reply = await client.append(event.actorId, [event], { condition: { failIfEventsMatch: query, after: head } });
  return { eventId: event.id, position: reply.sequences[0]! };
}
