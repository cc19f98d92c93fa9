import type { NatsConnection } from "@nats-io/transport-node";
import type { ConnectionState } from "./metrics.js";

/** Follows a connection's status: up or down, and how often it came back. */
export function followConnection(nc: NatsConnection, name: string): ConnectionState {
  const state: ConnectionState = { name, connected: !nc.isClosed(), reconnects: 0 };
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect") state.connected = false;
      if (s.type === "reconnect") {
        state.connected = true;
        state.reconnects++;
      }
    }
  })();
  void nc.closed().then(() => {
    state.connected = false;
  });
  return state;
}
