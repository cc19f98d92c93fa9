import { MemoryEventStore } from "../../src/server/store/memory.js";
import { storeConformance } from "./conformance.js";
import { storeConformanceV3 } from "./conformance-v3.js";

const store = new MemoryEventStore({ snapshotsKeep: 3 });
storeConformance("memory", () => store);
storeConformanceV3("memory", () => store);
