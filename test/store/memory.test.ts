import { MemoryEventStore } from "../../src/server/store/memory.js";
import { storeConformance } from "./conformance.js";

const store = new MemoryEventStore({ snapshotsKeep: 3 });
storeConformance("memory", () => store);
