#!/usr/bin/env python3
"""Draws target/bench/results.json (from benches/summarize.py) as an SVG bar chart.

One pair of horizontal bars per row, Bun's median scaled to 100 % and imphnen's drawn at
its ratio, each labelled with its absolute median; the ratio is written beside the pair
and rows where lower is better say so. Standard library only.

usage: chart.py results.json chart.svg
"""
import html
import json
import sys

BUN_COLOR = "#e8a33d"
IMP_COLOR = "#2b7a78"
LABEL_W, BAR_W, RIGHT_W = 360, 420, 200
ROW_H, BAR_H, TOP = 64, 20, 96


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


def render(doc):
    rows = doc["rows"]
    ratios = [r["ratio"] for r in rows if r.get("ratio")]
    scale_max = max([1.0] + ratios) * 1.05
    width = LABEL_W + BAR_W + RIGHT_W
    height = TOP + ROW_H * len(rows) + 40
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="16" y="28" font-size="19" font-weight="bold">imphnen vs Bun {esc(doc.get("bun_version", ""))}'
        f' (median of {esc(doc.get("runs_per_server", "?"))} runs each)</text>',
        f'<text x="16" y="50" font-size="12" fill="#555">{esc(doc.get("setup", ""))}; '
        f'{esc(doc.get("machine", {}).get("cpu", ""))}</text>',
        f'<rect x="16" y="64" width="14" height="14" fill="{BUN_COLOR}"/>'
        f'<text x="36" y="76" font-size="13">Bun (= 100 %)</text>',
        f'<rect x="150" y="64" width="14" height="14" fill="{IMP_COLOR}"/>'
        f'<text x="170" y="76" font-size="13">imphnen (relative to Bun)</text>',
    ]
    x0 = LABEL_W
    one = x0 + BAR_W / scale_max
    out.append(f'<line x1="{one:.1f}" y1="{TOP - 8}" x2="{one:.1f}" y2="{TOP + ROW_H * len(rows)}" '
               f'stroke="#999" stroke-dasharray="4,3"/>')
    for k, r in enumerate(rows):
        y = TOP + k * ROW_H
        b, i = median(r.get("bun")), median(r.get("imphnen"))
        note = "lower is better" if r["better"] == "lower" else "higher is better"
        out.append(f'<text x="{LABEL_W - 10}" y="{y + 20}" font-size="13" text-anchor="end">{esc(r["label"])}</text>')
        out.append(f'<text x="{LABEL_W - 10}" y="{y + 38}" font-size="11" fill="#666" text-anchor="end">'
                   f'{esc(r["unit"])}, {note}</text>')
        for j, (value, rel, color) in enumerate(((b, 1.0 if b else None, BUN_COLOR),
                                                 (i, r.get("ratio"), IMP_COLOR))):
            by = y + 4 + j * (BAR_H + 4)
            if rel is None:
                text = "not measured" if value is None else fmt(value, r["unit"])
                out.append(f'<text x="{x0 + 4}" y="{by + 15}" font-size="12" fill="#888">{esc(text)}</text>')
                continue
            w = max(1.0, BAR_W * rel / scale_max)
            out.append(f'<rect x="{x0}" y="{by}" width="{w:.1f}" height="{BAR_H}" fill="{color}"/>')
            label = fmt(value, r["unit"])
            inside = w > 110
            tx, anchor, fill = (x0 + w - 6, "end", "#fff") if inside else (x0 + w + 6, "start", "#222")
            out.append(f'<text x="{tx:.1f}" y="{by + 15}" font-size="12" text-anchor="{anchor}" '
                       f'fill="{fill}">{esc(label)}</text>')
        if r.get("ratio") is not None:
            good = r.get("imphnen_better")
            color = "#1a7f37" if good else "#b42318"
            out.append(f'<text x="{LABEL_W + BAR_W + 12}" y="{y + 30}" font-size="16" font-weight="bold" '
                       f'fill="{color}">{r["ratio"]:.2f}x</text>')
        flagged = [s for s in ("bun", "imphnen") if r.get(s) and r[s].get("problems")]
        bound = [s for s in ("bun", "imphnen") if r.get(s) and r[s].get("client_bound_runs")]
        if flagged:
            out.append(f'<text x="{LABEL_W + BAR_W + 12}" y="{y + 48}" font-size="11" fill="#b42318">'
                       f'! {esc(", ".join(flagged))}: verification</text>')
        elif bound:
            out.append(f'<text x="{LABEL_W + BAR_W + 12}" y="{y + 48}" font-size="11" fill="#8a6d00">'
                       f'~ {esc(", ".join(bound))}: client-bound</text>')
    out.append(f'<text x="16" y="{height - 14}" font-size="11" fill="#666">generated {esc(doc.get("generated", ""))}'
               f', commit {esc(doc.get("commit", ""))}; ratio = imphnen / Bun</text>')
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
