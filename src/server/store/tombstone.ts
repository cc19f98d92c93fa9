/** The tombstone an erase leaves on the actor's subject: no event data, the reason as given. */
export function tombstone(actorId: string, version: number, reason: string | undefined): { erasedAt: string; json: Uint8Array } {
  const erasedAt = new Date().toISOString();
  const body = { actorId, version, erasedAt, ...(reason === undefined ? {} : { reason }) };
  return { erasedAt, json: new TextEncoder().encode(JSON.stringify(body)) };
}
