#!/usr/bin/env python3
"""Turns the JSON summaries of bench/perf-scenarios.sh into one markdown table.

    python3 bench/perf-table.py OUTDIR
"""
import glob
import json
import os
import sys


def fmt(v, digits=2):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return f"{v:,}"


def lat(s):
    if not s:
        return "-"
    def u(x):
        return f"{x:.0f}µs" if x < 10_000 else f"{x / 1000:.0f}ms"
    return f"{u(s['p50_us'])} / {u(s['p99_us'])}"


def row(name, scen, d):
    if d.get("scenario") == "aborted":
        return f"| {scen} | {name} | aborted: {d.get('error')} | | | | | |"
    if d["scenario"] == "connection-churn":
        b = d.get("broker") or {}
        return (f"| {scen} | {name} | {d['connections_per_s']:,.0f} conn/s | "
                f"{fmt(b.get('cpu_us_per_msg'), 0)} µs/conn | "
                f"{fmt(d['perf']['cpu_us_per_msg'], 0)} µs/conn | "
                f"cycle {lat(d.get('cycle_latency'))} | {fmt(b.get('rss_mb_max'), 0)} | |")
    b = d.get("broker") or {}
    rates = f"pub {d['publish_rate']:,.0f} / cons {d['consume_rate']:,.0f}"
    if d.get("phases"):
        rates = " ; ".join(f"{p['name']} {p['rate']:,.0f}/s ({p['seconds']:.2f} s, "
                           f"broker {fmt(p['broker_cpu_us_per_msg'])} µs)"
                           for p in d["phases"])
    notes = []
    if d.get("missing"):
        notes.append(f"missing {d['missing']:,}")
    if d.get("reordered"):
        notes.append(f"reordered {d['reordered']:,}")
    notes += d.get("errors", [])
    return (f"| {scen} | {name} | {rates} | {fmt(b.get('cpu_us_per_msg'))} | "
            f"{fmt(d['perf']['cpu_us_per_msg'])} | {lat(d.get('e2e_latency'))} | "
            f"{fmt(b.get('rss_mb_max'), 0)} | {'; '.join(notes)} |")


def main():
    out = sys.argv[1]
    rows = []
    for path in sorted(glob.glob(os.path.join(out, "*.json"))):
        base = os.path.basename(path)[:-5]
        name, scen = base.rsplit("-", 1)
        try:
            d = json.load(open(path))
        except ValueError:
            rows.append((scen, name, f"| {scen} | {name} | no summary | | | | | |"))
            continue
        rows.append((scen, name, row(name, scen, d)))
    print("| scenario | broker | msg/s | broker CPU µs/msg | perf CPU µs/msg | e2e p50 / p99 | broker RSS max MB | notes |")
    print("|---|---|---|---|---|---|---|---|")
    for _, _, r in sorted(rows):
        print(r)


if __name__ == "__main__":
    main()
