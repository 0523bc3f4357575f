"""`--report DIR`: one self-contained HTML page (inline SVG, no external assets) with, per
scenario, the records disclosed over simulated time, the detection and containment
moments, and what honest providers paid."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

WIDTH, HEIGHT, PAD = 640, 220, 40


def _plot(timeline: list[tuple[float, int]], score: dict[str, Any]) -> str:
    if not timeline:
        return "<p>No attacker request was made over HTTP in this scenario.</p>"
    end = max(t for t, _ in timeline) or 1.0
    top = max(max(n for _, n in timeline), 1)

    def x(t: float) -> float:
        return PAD + (WIDTH - 2 * PAD) * t / end

    def y(n: float) -> float:
        return HEIGHT - PAD - (HEIGHT - 2 * PAD) * n / top

    points = " ".join(f"{x(t):.1f},{y(n):.1f}" for t, n in timeline)
    parts = [f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
             'role="img" aria-label="records disclosed over simulated time">',
             f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" '
             'stroke="#444"/>',
             f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{HEIGHT - PAD}" stroke="#444"/>',
             f'<text x="{PAD}" y="{PAD - 8}" font-size="11">{top} records</text>',
             f'<text x="{WIDTH - PAD}" y="{HEIGHT - 10}" font-size="11" text-anchor="end">'
             f'{end / 3600:.1f} h after the first attack request</text>',
             f'<polyline fill="none" stroke="#b00" stroke-width="2" points="{points}"/>']
    for label, key, colour in (("detected", "time_to_detect_s", "#e80"),
                               ("contained", "time_to_contain_s", "#080")):
        moment = score.get(key)
        if moment is not None:
            parts.append(f'<line x1="{x(moment):.1f}" y1="{PAD}" x2="{x(moment):.1f}" '
                         f'y2="{HEIGHT - PAD}" stroke="{colour}" stroke-dasharray="4"/>'
                         f'<text x="{x(moment) + 3:.1f}" y="{PAD + 12}" font-size="11" '
                         f'fill="{colour}">{label}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _section(name: str, score: dict[str, Any], timeline: list[tuple[float, int]]) -> str:
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
                   for k, v in score.items() if k not in ("legit", "attempts"))
    legit = score.get("legit")
    honest = ("" if legit is None else
              "<p>Honest providers in this run: " + html.escape(
                  ", ".join(f"{k} {v}" for k, v in legit.items())) + "</p>")
    return (f"<section><h2>{html.escape(name)}</h2>{_plot(timeline, score)}"
            f"<table>{rows}</table>{honest}</section>")


def render(result: dict[str, Any]) -> str:
    timelines = result.get("timelines", {})
    sections = "".join(_section(name, score, timelines.get(name, []))
                       for name, score in result["scenarios"].items())
    legit = html.escape(", ".join(f"{k} {v}" for k, v in result["legit"].items()))
    if "target" in result:
        run = (f"a running instance on loopback, {result['minutes_per_scenario']} real "
               "minute(s) per scenario")
        time = "real time"
    else:
        run = (f"{result['days']} simulated day(s) of attack after "
               f"{result['warmup_days']} of honest traffic, {result['population']} "
               "synthetic persons")
        time = "simulated time"
    return (
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\">"
        "<title>rempart breach drill</title><style>body{font-family:sans-serif;"
        "max-width:760px;margin:auto}table{border-collapse:collapse}th,td{padding:2px 8px;"
        "text-align:left;border-bottom:1px solid #ddd}</style>"
        f"<h1>rempart breach drill</h1><p>Seed {result['seed']}, {html.escape(run)}, guard: "
        f"{html.escape(str(result['guard']))}. Each plot shows how many distinct persons' "
        f"coverage reached the attacker (red) as {time} passes; the dashed lines "
        "mark when the defences first turned the attacker away (detected) and from when it "
        "got nothing more (contained).</p>"
        f"<p>All honest providers: {legit}</p>{sections}</html>")


def write_report(result: dict[str, Any], directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "drill.html"
    path.write_text(render(result), encoding="utf-8")
    return path
