// Writes the README's configuration tables from schemas/config.json, between the marker comments,
// so that what the README says about a variable is what the service checks. `--check` fails when
// the README is stale.
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const readmePath = join(root, "README.md");
const BEGIN = "<!-- configuration: generated from schemas/config.json by npm run gen:docs; do not edit -->";
const END = "<!-- configuration: end -->";

const code = (value) => `\`${value}\``;

/** The rule a value must follow, in words. */
function rule(property) {
  if (property.enum) return property.enum.map(code).join(", ");
  if (property.type === "integer") return `integer, ${property.minimum} to ${property.maximum}`;
  const parts = [property.pattern && code(property.pattern), property.maxLength && `at most ${property.maxLength} characters`];
  return parts.filter(Boolean).join(", ");
}

/** A Markdown table with its columns padded, as a formatter would leave it. */
function table(header, rows) {
  const cells = [header, ...rows].map((row) => row.map((cell) => String(cell).replaceAll("|", "\\|")));
  const widths = header.map((_, i) => Math.max(3, ...cells.map((row) => row[i].length)));
  const line = (row) => `| ${row.map((cell, i) => cell.padEnd(widths[i])).join(" | ")} |`;
  return [line(cells[0]), line(widths.map((w) => "-".repeat(w))), ...cells.slice(1).map(line)].join("\n");
}

function variables(properties) {
  const rows = Object.entries(properties).map(([name, p]) => [
    code(name),
    p.default === undefined ? "" : code(p.default),
    rule(p),
    p.description,
  ]);
  return table(["variable", "default", "rule", "meaning"], rows);
}

export function generateDocs(readme) {
  const schema = JSON.parse(readFileSync(join(root, "schemas", "config.json"), "utf8"));
  const start = readme.indexOf(BEGIN);
  const end = readme.indexOf(END);
  if (start < 0 || end < start) throw new Error(`README.md lacks the markers ${BEGIN} ... ${END}`);
  const generated = [
    BEGIN,
    "",
    "How to reach NATS and which store, read by the service and by the CLI:",
    "",
    variables(schema.definitions.connection.properties),
    "",
    "The service's own settings, which the CLI ignores:",
    "",
    variables(schema.properties),
    "",
    "",
  ].join("\n");
  return readme.slice(0, start) + generated + readme.slice(end);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const readme = readFileSync(readmePath, "utf8");
  const updated = generateDocs(readme);
  if (!process.argv.includes("--check")) writeFileSync(readmePath, updated);
  else if (updated !== readme) {
    console.error("README.md's configuration tables are stale: run npm run gen:docs");
    process.exitCode = 1;
  }
}
