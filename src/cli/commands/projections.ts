import type { ProjectionInfo, ProjectionResetTo } from "../../client/projection.js";
import { NotFoundError } from "../../contract/errors.js";
import { type Flags, integerFlag, positionals } from "../args.js";
import type { Command } from "../context.js";
import { UsageError } from "../usage.js";

/** `projections ls`, `projections reset NAME --start|--seq N|--time T`, `projections rm NAME`. */
export const projections: Command = (args, flags) => {
  const [action, ...rest] = args;
  if (action === "ls") {
    positionals(rest, []);
    return async ({ client, out }) => {
      const list = await client.projections();
      if (out.json) return out.value(list);
      if (list.length === 0) return out.line("no projections");
      await out.table(list.map(row));
    };
  }
  if (action === "reset") {
    const [name] = positionals(rest, ["name"]);
    const to = resetTarget(flags);
    return async ({ client, out }) => {
      await out.value({ name, resetTo: await client.resetProjection(name!, to) });
    };
  }
  if (action === "rm") {
    const [name] = positionals(rest, ["name"]);
    return async ({ client, out }) => {
      if (!(await client.removeProjection(name!))) throw new NotFoundError(`no projection ${JSON.stringify(name)}`);
      await out.value({ name, removed: true });
    };
  }
  throw new UsageError(`projections takes ls, reset or rm, got ${action === undefined ? "nothing" : JSON.stringify(action)}`);
};

function resetTarget(flags: Flags): ProjectionResetTo {
  const given = [flags.start === true, flags.seq !== undefined, flags.time !== undefined].filter(Boolean).length;
  if (given !== 1) throw new UsageError("projections reset takes one of --start, --seq N, --time T");
  if (flags.start) return "start";
  if (flags.seq !== undefined) return { seq: integerFlag(flags, "seq", 1, 1) };
  const time = new Date(flags.time!);
  if (Number.isNaN(time.getTime())) throw new UsageError(`--time must be a time (RFC 3339), got "${flags.time}"`);
  return { time };
}

function row(p: ProjectionInfo): Record<string, string | number> {
  return {
    name: p.name,
    mode: p.mode,
    filter: p.filter,
    ack_floor: p.ackFloor,
    pending: p.pending,
    redelivered: p.redelivered,
    active: p.active || "-",
    failed: p.failed ?? "-",
    skipped: p.skipped.length > 0 ? p.skipped.join(",") : "-",
  };
}
