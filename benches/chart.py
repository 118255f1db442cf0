#!/usr/bin/env python3
"""Draws target/bench/results.json (from benches/summarize.py) as an SVG bar chart.

One horizontal bar per server per row, Bun's median scaled to 100 % and every other server
drawn at its ratio to Bun, each labelled with its absolute median and, right of the bars,
its ratio (green where it beats Bun); rows where lower is better say so. Reads results.json
files from before the per-server columns too (servers bun and imphnen, one "ratio").
Standard library only.

usage: chart.py results.json chart.svg
"""
import html
import itertools
import json
import sys

# Bun first, then one colour per further server in column order.
COLORS = ["#e8a33d", "#2b7a78", "#3a6ea5", "#8e5ea2", "#6b8e23", "#7f7f7f"]
LABEL_W, BAR_W, RIGHT_W = 360, 420, 200
BAR_H, BAR_GAP, TOP = 18, 4, 96


def esc(s):
    return html.escape(str(s), quote=True)


def fmt(v, unit):
    if v is None:
        return "-"
    if unit == "us" and v >= 1000:
        return f"{v / 1000:.2f} ms"
    if v >= 1e6:
        return f"{v / 1e6:.2f}M {unit}"
    if v >= 1e4:
        return f"{v / 1e3:.1f}k {unit}"
    return f"{v:.0f} {unit}" if v >= 100 else f"{v:.1f} {unit}"


def median(entry):
    return entry["median"] if entry and entry.get("median") is not None else None


def ratios(row):
    """Each server's ratio to Bun; results.json files before per-server columns had one."""
    if "ratios" in row:
        return row["ratios"]
    return {"imphnen": row["ratio"]} if row.get("ratio") is not None else {}


def render(doc):
    rows = doc["rows"]
    servers = doc.get("servers", ["bun", "imphnen"])
    colors = dict(zip(servers, itertools.cycle(COLORS)))
    others = [s for s in servers if s != "bun"]
    scale_max = max([1.0] + [v for r in rows for v in ratios(r).values()]) * 1.05
    row_h = max(64, 16 + len(servers) * (BAR_H + BAR_GAP))
    width = LABEL_W + BAR_W + RIGHT_W
    height = TOP + row_h * len(rows) + 40
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="16" y="28" font-size="19" font-weight="bold">{esc(", ".join(others))} vs Bun '
        f'{esc(doc.get("bun_version", ""))} (median of {esc(doc.get("runs_per_server", "?"))} runs each)</text>',
        f'<text x="16" y="50" font-size="12" fill="#555">{esc(doc.get("setup", ""))}; '
        f'{esc(doc.get("machine", {}).get("cpu", ""))}</text>',
    ]
    lx = 16
    for server in servers:
        name = "Bun (= 100 %)" if server == "bun" else server
        out.append(f'<rect x="{lx}" y="64" width="14" height="14" fill="{colors[server]}"/>'
                   f'<text x="{lx + 20}" y="76" font-size="13">{esc(name)}</text>')
        lx += 40 + 8 * len(name)
    x0 = LABEL_W
    one = x0 + BAR_W / scale_max
    out.append(f'<line x1="{one:.1f}" y1="{TOP - 8}" x2="{one:.1f}" y2="{TOP + row_h * len(rows)}" '
               f'stroke="#999" stroke-dasharray="4,3"/>')
    for k, r in enumerate(rows):
        y = TOP + k * row_h
        rel = {"bun": 1.0 if median(r.get("bun")) else None, **ratios(r)}
        note = "lower is better" if r["better"] == "lower" else "higher is better"
        out.append(f'<text x="{LABEL_W - 10}" y="{y + 20}" font-size="13" text-anchor="end">{esc(r["label"])}</text>')
        out.append(f'<text x="{LABEL_W - 10}" y="{y + 38}" font-size="11" fill="#666" text-anchor="end">'
                   f'{esc(r["unit"])}, {note}</text>')
        for j, server in enumerate(servers):
            by = y + 4 + j * (BAR_H + BAR_GAP)
            ty = by + BAR_H - 4
            value, ratio = median(r.get(server)), rel.get(server)
            if ratio is None:
                text = "not measured" if value is None else fmt(value, r["unit"])
                out.append(f'<text x="{x0 + 4}" y="{ty}" font-size="12" fill="#888">{esc(text)}</text>')
            else:
                w = max(1.0, BAR_W * ratio / scale_max)
                out.append(f'<rect x="{x0}" y="{by}" width="{w:.1f}" height="{BAR_H}" fill="{colors[server]}"/>')
                inside = w > 110
                tx, anchor, fill = (x0 + w - 6, "end", "#fff") if inside else (x0 + w + 6, "start", "#222")
                out.append(f'<text x="{tx:.1f}" y="{ty}" font-size="12" text-anchor="{anchor}" '
                           f'fill="{fill}">{esc(fmt(value, r["unit"]))}</text>')
            # Right of the bars: the ratio to Bun, then any flag on this server's runs.
            marks = []
            if server != "bun" and ratio is not None:
                good = ratio > 1 if r["better"] == "higher" else ratio < 1
                marks.append((f"{ratio:.2f}x", "#1a7f37" if good else "#b42318", "bold"))
            if r.get(server) and r[server].get("problems"):
                marks.append(("! no result" if value is None else "! verification", "#b42318", "normal"))
            elif r.get(server) and r[server].get("client_bound_runs"):
                marks.append(("~ client-bound", "#8a6d00", "normal"))
            mx = LABEL_W + BAR_W + 12
            for text, color, weight in marks:
                out.append(f'<text x="{mx}" y="{ty}" font-size="13" font-weight="{weight}" '
                           f'fill="{color}">{esc(text)}</text>')
                mx += 60
    out.append(f'<text x="16" y="{height - 14}" font-size="11" fill="#666">generated {esc(doc.get("generated", ""))}'
               f', commit {esc(doc.get("commit", ""))}; ratio = server / Bun</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[1]) as fh:
        doc = json.load(fh)
    with open(sys.argv[2], "w") as fh:
        fh.write(render(doc))


if __name__ == "__main__":
    main()
