// The console's HTML shell and style sheet. The page itself is src/console/page, compiled by the
// project's build; these two are small enough to live here, so that dist/ holds everything served.

/** The shell; the token (base64url, so safe in an attribute) is what the page sends with each change. */
export function indexHtml(token: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="console-token" content="${token}">
<title>nats-eventstore console</title>
<link rel="stylesheet" href="/console.css">
<script type="module" src="/page/main.js"></script>
</head>
<body>
<header>
  <h1>nats-eventstore</h1>
  <nav>
    <a href="#service" data-view="service">Service</a>
    <a href="#actors" data-view="actors">Actors</a>
    <a href="#tail" data-view="tail">Live tail</a>
    <a href="#projections" data-view="projections">Projections</a>
  </nav>
  <form id="open-actor"><input name="actor" placeholder="open an actor by id" aria-label="actor id"><button>Open</button></form>
</header>
<main id="view"><p class="muted">Loading ...</p></main>
<noscript>The console needs JavaScript.</noscript>
</body>
</html>
`;
}

export const CSS = `
:root { --fg: #1d2430; --muted: #687385; --line: #e1e5ea; --bg: #f7f8fa; --accent: #2463eb; --bad: #b42318; --badbg: #fef3f2; --ok: #067647; --row: 28px;
  font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
* { box-sizing: border-box; }
body { margin: 0; }
header { display: flex; gap: 24px; align-items: center; padding: 10px 20px; background: #111827; color: #fff; }
header h1 { font-size: 16px; margin: 0; font-weight: 600; }
nav { display: flex; gap: 4px; }
nav a { color: #cbd5e1; text-decoration: none; padding: 6px 10px; border-radius: 6px; }
nav a.active, nav a:hover { background: #1f2937; color: #fff; }
#open-actor { margin-left: auto; display: flex; gap: 6px; }
#open-actor input { width: 260px; }
main { padding: 16px 20px; max-width: 1400px; }
h2 { font-size: 18px; margin: 4px 0 12px; }
h3 { font-size: 15px; margin: 18px 0 8px; }
section.card > h3:first-child { margin-top: 2px; }
section.card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; margin-bottom: 16px; }
table { border-collapse: collapse; width: 100%; background: #fff; }
th, td { text-align: left; padding: 5px 10px; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { font-weight: 600; color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
dl.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(180px, 1fr)); gap: 8px 24px; margin: 0; }
dl.facts dt { color: var(--muted); font-size: 12px; }
dl.facts dd { margin: 0; font-variant-numeric: tabular-nums; }
.muted { color: var(--muted); }
.error { color: var(--bad); background: var(--badbg); border: 1px solid #fecdca; border-radius: 6px; padding: 8px 12px; margin: 8px 0; white-space: pre-wrap; }
.ok { color: var(--ok); }
.badge { display: inline-block; padding: 0 6px; border-radius: 4px; background: #eef2f6; font-size: 12px; margin-right: 4px; }
.badge.erased { background: var(--badbg); color: var(--bad); }
button { font: inherit; padding: 4px 10px; border: 1px solid #cbd5e1; background: #fff; border-radius: 6px; cursor: pointer; }
button.danger { border-color: #fda29b; color: var(--bad); }
button:disabled { opacity: .5; cursor: default; }
input, select { font: inherit; padding: 4px 8px; border: 1px solid #cbd5e1; border-radius: 6px; }
a { color: var(--accent); }
.toolbar { display: flex; gap: 8px; align-items: center; margin: 8px 0; flex-wrap: wrap; }
.split { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); gap: 16px; align-items: start; }
.events { height: 60vh; overflow-y: auto; position: relative; background: #fff; border: 1px solid var(--line); border-radius: 8px; }
.events .spacer { position: relative; }
.row { height: var(--row); display: grid; grid-template-columns: 70px 190px 210px minmax(0, 1fr); gap: 8px; align-items: center;
  padding: 0 10px; border-bottom: 1px solid var(--line); font-size: 13px; }
.row span { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.row.head { font-weight: 600; color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .03em; border: 0; }
.events .row { position: absolute; left: 0; right: 0; cursor: pointer; }
.events .row:hover { background: #f1f5f9; }
.events .row.selected { background: #e0eaff; }
.detail pre, pre.json { margin: 0; font: 12px/1.5 ui-monospace, SFMono-Regular, Menlo, monospace; white-space: pre-wrap; word-break: break-word; }
details.json { font: 12px/1.5 ui-monospace, SFMono-Regular, Menlo, monospace; }
details.json details.json { margin-left: 16px; }
details.json summary { cursor: pointer; }
.kv { margin-left: 16px; }
.k { color: #7c3aed; } .s { color: #067647; } .n { color: #b54708; } .l { color: #2463eb; }
.tail { font: 12px/1.5 ui-monospace, SFMono-Regular, Menlo, monospace; }
.tail tr.new { animation: flash 1.5s ease-out; }
@keyframes flash { from { background: #fef9c3; } to { background: #fff; } }
dialog { border: 1px solid var(--line); border-radius: 10px; padding: 18px 20px; width: 480px; }
dialog label { display: block; margin: 10px 0 4px; font-weight: 600; }
dialog input { width: 100%; }
dialog .warn { color: var(--bad); font-size: 13px; }
dialog .buttons { display: flex; gap: 8px; justify-content: flex-end; margin-top: 14px; }
`;
