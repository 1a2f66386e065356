"""The dashboard's stylesheet (inline in the page: nothing is fetched)."""

from __future__ import annotations

CSS = """
:root { --ink: #1f2933; --muted: #6b7785; --line: #d9e0e7; --bg: #f6f8fa; --card: #fff;
  --champion: #2f7d4f; --previous: #5b7fb8; --bar: #9aa9b8; --forced: #d9822b;
  --rollback: #c2413b; --pass: #2f7d4f; --fail: #c2413b; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--ink); background: var(--bg); }
header { padding: 18px 28px; background: #16324f; color: #fff; }
header h1 { margin: 0 0 4px; font-size: 20px; }
header p { margin: 0; color: #cfd9e3; }
header a { color: #fff; }
#champion-id { font-size: 16px; }
main { padding: 8px 28px 40px; max-width: 1200px; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 8px;
  padding: 14px 20px 18px; margin: 18px 0; overflow-x: auto; }
h2 { margin: 0 0 10px; font-size: 17px; }
h3 { margin: 0 0 6px; font-size: 15px; }
.figure { margin: 4px 0 12px; }
.cards { display: flex; flex-wrap: wrap; gap: 14px; }
.card { flex: 1 1 320px; border: 1px solid var(--line); border-radius: 6px; padding: 12px 14px; }
.card.champion { border-left: 5px solid var(--champion); }
.card.previous { border-left: 5px solid var(--previous); }
.card p { margin: 2px 0; }
.id { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; }
.muted { color: var(--muted); fill: var(--muted); }
.small { font-size: 11px; }
table { border-collapse: collapse; margin-top: 6px; }
table.metrics th { text-align: left; font-weight: 500; padding: 1px 14px 1px 0;
  color: var(--muted); }
table.grid { width: 100%; }
table.grid th, table.grid td { border-bottom: 1px solid var(--line); padding: 4px 8px;
  text-align: left; vertical-align: top; }
table.grid td:nth-child(-n+3), table.grid th, .num, .badge { white-space: nowrap; }
.num { text-align: right !important; font-variant-numeric: tabular-nums; }
.badge { display: inline-block; padding: 0 7px; border-radius: 9px; font-size: 12px;
  color: #fff; background: var(--bar); }
.badge.champion, .badge.passed, .badge.k-promote { background: var(--champion); }
.badge.previous { background: var(--previous); }
.badge.forced, .badge.k-forced { background: var(--forced); }
.badge.failed, .badge.k-rollback { background: var(--rollback); }
svg.chart { max-width: 100%; height: auto; font-size: 12px; }
svg .chart-title { font-weight: 600; fill: var(--ink); }
svg .label { fill: var(--ink); }
svg .value { fill: var(--muted); }
svg .small { font-size: 10px; }
svg .axis { stroke: #8795a1; stroke-width: 1; }
svg .zero { stroke: #8795a1; stroke-dasharray: 2 3; }
svg .reference { stroke: var(--champion); stroke-dasharray: 4 3; stroke-width: 1.5; }
svg .threshold { stroke: var(--forced); stroke-dasharray: 5 3; stroke-width: 1.5; }
svg .bar { fill: var(--bar); }
svg .s-champion { fill: var(--champion); }
svg .s-previous { fill: var(--previous); }
svg .m-promote { fill: var(--champion); }
svg .m-forced { fill: var(--forced); }
svg .m-rollback { fill: var(--rollback); }
svg .m-archive { fill: #8795a1; }
svg .m-new { fill: #b8c2cc; }
svg .k-forced { fill: var(--forced); font-weight: 600; }
svg .k-rollback { fill: var(--rollback); font-weight: 600; }
svg .ci-pass { stroke: var(--pass); stroke-width: 3; }
svg .ci-fail { stroke: var(--fail); stroke-width: 3; }
svg .ci-pass-dot { fill: var(--pass); }
svg .ci-fail-dot { fill: var(--fail); }
"""
