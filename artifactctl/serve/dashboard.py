"""The dashboard: one self-contained HTML page rendered on the server.

No script and nothing loaded from anywhere: inline CSS and inline SVG charts
(``charts``), so the page works offline, as a CI artifact (``artifactctl report``)
and under a ``default-src 'none'`` content security policy. Four sections, each
with one chart: the champion and previous champion, every experiment, the
promotion history, and the last promotion test.
"""

from __future__ import annotations

import time
from html import escape
from typing import Any
from urllib.parse import quote

from artifactctl.project import Project
from artifactctl.serve import charts, documents, registries
from artifactctl.serve.charts import Bar, Mark, fmt
from artifactctl.serve.errors import NotFound
from artifactctl.serve.style import CSS

KEY_METRICS = ("rmse", "mae", "r2")


def gather(project: Project) -> dict[str, Any]:
    """Everything the page shows, read once."""
    from artifactctl.registry.queries import list_experiments

    return {
        "champion": _optional(documents.champion, project, "champion"),
        "previous": _optional(documents.champion, project, "previous"),
        "experiments": list_experiments(project),
        "events": documents.history(project)["events"],
        "tests": documents.promotion_tests(project),
        "promotion": project.settings.promotion,
    }


def _optional(func: Any, *args: Any) -> Any:
    try:
        return func(*args)
    except NotFound:
        return None


def render(project: Project, static: bool = False) -> str:
    """The page; ``static``: for a file (links to the API are left out)."""
    from artifactctl import __version__

    data = gather(project)
    champ = data["champion"]
    title = f"artifactctl: {project.root.name}"
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    head = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
    )
    champion_line = (
        f'champion <strong id="champion-id">{escape(champ["id"])}</strong>'
        if champ
        else '<span id="champion-id" class="muted">no champion yet</span>'
    )
    query = registries.query(project)
    links = (
        "" if static else f' · <a href="/docs">API</a> · <a href="/api/champion{query}">JSON</a>'
    )
    header = (
        f"<header><h1>{escape(project.root.name)}</h1><p>{champion_line} · "
        f"generated {stamp} by artifactctl {escape(__version__)}{links}</p>"
        f"{'' if static else _registry_nav(project)}</header>"
    )
    sections = [
        _champions(data),
        _experiments(data),
        _history(data),
        _last_test(data),
    ]
    return head + header + "<main>" + "".join(sections) + "</main></body></html>\n"


def _registry_nav(project: Project) -> str:
    """Links to the other registries (model families), when there are several."""
    names = registries.names(project)
    if len(names) < 2:
        return ""
    shown = project.registry_name or registries.DEFAULT
    items = [
        f'<strong aria-current="page">{escape(name)}</strong>'
        if name == shown
        else f'<a href="/?registry={quote(name)}">{escape(name)}</a>'
        for name in names
    ]
    return f'<nav id="registries" aria-label="registries">registries: {" · ".join(items)}</nav>'


def _section(ident: str, title: str, chart: str, body: str) -> str:
    return (
        f'<section id="{ident}"><h2>{escape(title)}</h2>'
        f'<div class="figure">{chart}</div>{body}</section>'
    )


# ---------------------------------------------------------------------- champions


def _champions(data: dict[str, Any]) -> str:
    champ, prev = data["champion"], data["previous"]
    series = [(f"champion {c['id']}", c["metrics"], "s-champion") for c in [champ] if c]
    series += [(f"previous {p['id']}", p["metrics"], "s-previous") for p in [prev] if p]
    metrics = _metric_names([s[1] for s in series])
    chart = (
        charts.grouped_bars("metrics: champion and previous", metrics, series)
        if series
        else charts.empty("metrics: champion and previous", "no champion yet")
    )
    cards = "".join(_card(doc, label) for doc, label in ((champ, "champion"), (prev, "previous")))
    return _section("champions", "Champion", chart, f'<div class="cards">{cards}</div>')


def _card(doc: dict[str, Any] | None, label: str) -> str:
    if doc is None:
        hint = "promote one with <code>artifactctl promote ID</code>" if label == "champion" else ""
        return f'<div class="card empty"><h3>no {label}</h3><p class="muted">{hint}</p></div>'
    promoted = doc["promoted"]
    forced = ' <span class="badge forced">forced</span>' if promoted.get("forced") else ""
    rows = "".join(
        f"<tr><th>{escape(str(k))}</th><td>{escape(fmt(v))}</td></tr>"
        for k, v in doc["metrics"].items()
    )
    files = ", ".join(escape(f["name"]) for f in doc["files"])
    reason = f"<p>reason: {escape(str(promoted['reason']))}</p>" if promoted.get("reason") else ""
    return (
        f'<div class="card {label}"><h3>{label} <span class="id">{escape(doc["id"])}</span>'
        f"{forced}</h3><p>{escape(str(doc.get('model') or ''))}, {escape(doc['phase'])}"
        f" · {escape(doc.get('desc') or '')}</p>"
        f'<p class="muted">promoted {escape(str(promoted.get("time") or "?"))} by '
        f"{escape(str(promoted.get('user') or '?'))}"
        f" against {escape(str(promoted.get('against') or '-'))}</p>{reason}"
        f'<table class="metrics">{rows}</table><p class="muted small">files: {files}</p></div>'
    )


def _metric_names(metric_dicts: list[dict[str, Any]]) -> list[str]:
    present = {k for d in metric_dicts for k, v in d.items() if isinstance(v, int | float)}
    first = [m for m in KEY_METRICS if m in present]
    return first + sorted(present - set(first) - {"n_eval"})


# -------------------------------------------------------------------- experiments


def _experiments(data: dict[str, Any]) -> str:
    rows = data["experiments"]
    promotion = data["promotion"]
    metric = promotion.metric
    better = "lower" if promotion.direction == "lower" else "higher"
    classes = {"champion": "s-champion", "previous": "s-previous"}
    bars = [
        Bar(r.id, float(r.metrics[metric]), classes.get(r.role, "bar"), r.role)
        for r in rows
        if isinstance(r.metrics.get(metric), int | float)
    ]
    champ = data["champion"]
    reference = None
    if champ and isinstance(champ["metrics"].get(metric), int | float):
        reference = (float(champ["metrics"][metric]), "champion")
    chart = charts.bar_chart(
        f"{metric} per experiment ({better} is better)", bars, reference=reference
    )
    names = _metric_names([r.metrics for r in rows])
    head = "".join(f"<th>{escape(h)}</th>" for h in ("ID", "phase", "model", "state", "role"))
    head += "".join(f'<th class="num">{escape(m)}</th>' for m in names) + "<th>description</th>"
    body = "".join(_experiment_row(r, names) for r in rows)
    table = f'<table class="grid"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    return _section("experiments", "Experiments", chart, table)


def _experiment_row(r: Any, names: list[str]) -> str:
    role = f'<span class="badge {escape(r.role)}">{escape(r.role)}</span>' if r.role else ""
    cells = [r.id, r.phase, r.model, r.state]
    out = "".join(f"<td>{escape(str(c))}</td>" for c in cells) + f"<td>{role}</td>"
    out += "".join(f'<td class="num">{escape(fmt(r.metrics.get(m)))}</td>' for m in names)
    return f"<tr>{out}<td>{escape(r.desc)}</td></tr>"


# ------------------------------------------------------------------------ history


def _history(data: dict[str, Any]) -> str:
    events = data["events"]
    marks = [_mark(e) for e in events]
    chart = charts.timeline("promotion history", marks)
    rows = "".join(_event_row(e) for e in reversed(events))
    head = "".join(
        f"<th>{h}</th>" for h in ("when", "event", "from → to", "who", "gates", "reason")
    )
    table = (
        f'<table class="grid"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'
        if events
        else '<p class="muted">the ledger is empty</p>'
    )
    return _section("history", "Promotion history", chart, table)


def _kind(e: dict[str, Any]) -> str:
    kind = str(e.get("event", ""))
    return "forced" if kind == "promote" and e.get("forced") else kind


def _move(e: dict[str, Any]) -> str:
    if e.get("event") == "promote":
        return f"{e.get('replaced') or '-'} → {e.get('id')}"
    if e.get("event") == "rollback":
        return f"{e.get('from')} → {e.get('to')}"
    return str(e.get("id", ""))


def _mark(e: dict[str, Any]) -> Mark:
    kind = _kind(e)
    label = str(e.get("to") if kind == "rollback" else e.get("id", ""))
    when = str(e.get("time", ""))[:16].replace("T", " ")
    detail = f"{kind}: {_move(e)} at {e.get('time', '')}"
    if e.get("reason"):
        detail += f" ({e['reason']})"
    return Mark(kind, label, when, detail)


def _event_row(e: dict[str, Any]) -> str:
    kind = _kind(e)
    badge = f'<span class="badge k-{escape(kind)}">{escape(kind)}</span>'
    cells = [e.get("time", ""), None, _move(e), e.get("user", ""), e.get("gates", "")]
    cells.append(e.get("reason") or "")
    return (
        "<tr>"
        + "".join(f"<td>{badge}</td>" if c is None else f"<td>{escape(str(c))}</td>" for c in cells)
        + "</tr>"
    )


# ---------------------------------------------------------------------- last test


def _last_test(data: dict[str, Any]) -> str:
    tests = data["tests"]
    title = "Last promotion test"
    if not tests:
        chart = charts.empty("improvement with its 95% CI", "no promotion test yet")
        return _section("promotion-test", title, chart, "")
    t = tests[-1]
    try:
        chart = _test_chart(t)
    except (KeyError, TypeError, ValueError):
        chart = charts.empty("improvement with its 95% CI", "the test record is incomplete")
    verdict = "passed" if t.get("passed") else "failed"
    promoted = "promoted" if t.get("promoted") else "not promoted"
    forced = " (forced)" if t.get("forced") else ""
    summary = (
        f"<p><strong>{escape(str(t.get('candidate')))}</strong> against "
        f"<strong>{escape(str(t.get('baseline')))}</strong> ({escape(str(t.get('baseline_role')))})"
        f": {escape(str(t.get('metric')))} {escape(fmt(t.get('candidate_value')))} vs "
        f"{escape(fmt(t.get('baseline_value')))}, p = {escape(fmt(t.get('p_value')))}, "
        f'<span class="badge {verdict}">{verdict}</span> {promoted}{forced} · '
        f"{escape(str(t.get('timestamp') or ''))}</p>"
    )
    gates = "".join(
        f'<tr><td>{escape(str(g.get("name")))}</td><td class="num">{escape(fmt(g.get("value")))}'
        f"</td><td>{escape(str(g.get('op')))} {escape(fmt(g.get('threshold')))}</td><td>"
        f'<span class="badge {"passed" if g.get("passed") else "failed"}">'
        f"{'pass' if g.get('passed') else 'FAIL'}</span></td></tr>"
        for g in t.get("gates") or []
        if isinstance(g, dict)
    )
    table = (
        '<table class="grid"><thead><tr><th>gate</th><th class="num">value</th>'
        f"<th>threshold</th><th>result</th></tr></thead><tbody>{gates}</tbody></table>"
    )
    return _section("promotion-test", title, chart, summary + table)


def _test_chart(t: dict[str, Any]) -> str:
    ci = t["ci"]
    level = round(float(ci.get("level", 0.95)) * 100)
    thresholds = []
    for g in t.get("gates") or []:
        if g.get("name") == "min_improvement":
            thresholds.append((float(g["threshold"]), "min improvement"))
        elif g.get("name") == "min_improvement_relative" and t.get("baseline_value") is not None:
            absolute = float(g["threshold"]) * abs(float(t["baseline_value"]))
            thresholds.append((absolute, f"{fmt(float(g['threshold']) * 100)}% of baseline ="))
    return charts.interval_chart(
        f"improvement in {t.get('metric')} ({t.get('candidate')} vs {t.get('baseline')}) "
        f"with its {level}% CI against the gate thresholds",
        float(t["improvement"]),
        float(ci["low"]),
        float(ci["high"]),
        thresholds,
        bool(t.get("passed")),
    )
