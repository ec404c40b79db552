#!/usr/bin/env python3
"""Draws the guide's pictures: the refresh sequence (src/pictures/refresh-sequence.svg) and the
fleet (src/pictures/fleet.svg).

The SVG is checked in; run this again after changing the steps below:
    python3 docs/guide/pictures.py
No dependencies: plain SVG text, the viewer's sans-serif font.
"""
from html import escape
from pathlib import Path

COLS = {"a": 100, "b": 280, "layer": 510, "store": 730}
NAMES = {"a": "Tab A", "b": "Tab B, or a copy", "layer": "tower-refresh-auth", "store": "Store"}
SUB = {"a": "holds refresh #1", "b": "", "layer": "POST /token", "store": "session s, counter 1"}

# (kind, ...): "band" title; "msg" from, to, label, [dashed]; "note" col, text; "gap" px
STEPS = [
    ("band", "Rotation: each refresh spends its token and hands out the next"),
    ("msg", "a", "layer", "POST /token  {refreshToken: #1}"),
    ("note", "layer", "MAC check: a forged token never reaches the store"),
    ("msg", "layer", "store", "rotate(s, 1 → 2): one compare-and-swap"),
    ("msg", "store", "layer", "ok", True),
    ("msg", "layer", "a", "200  access + refresh #2", True),
    ("band", "Grace window (10 s): a second tab refreshing with #1 at the same time"),
    ("msg", "b", "layer", "POST /token  {refreshToken: #1}"),
    ("msg", "layer", "store", "rotate(s, 1 → 2)"),
    ("msg", "store", "layer", "spent, 0.3 s ago: counter is 2", True),
    ("msg", "layer", "b", "200  the same refresh #2, derived again", True),
    ("note", "layer", "counted grace_replay; SecurityEvent::GraceReplay"),
    ("band", "Roll forward: the store lost writes (failover, backup) and shows 2; A holds #3"),
    ("msg", "a", "layer", "POST /token  {refreshToken: #3}"),
    ("msg", "layer", "store", "rotate(s, 3 → 4): ahead of 2, MAC genuine"),
    ("msg", "store", "layer", "rolled forward to 4", True),
    ("msg", "layer", "a", "200  refresh #4 (never #3 again)", True),
    ("note", "layer", "counted rolled_forward; SecurityEvent::RolledForward"),
    ("band", "Reuse: #1 presented after the window means someone holds a copy"),
    ("msg", "b", "layer", "POST /token  {refreshToken: #1}"),
    ("msg", "layer", "store", "rotate(s, 1 → 2)"),
    ("msg", "store", "layer", "spent, 2 min ago", True),
    ("msg", "layer", "store", "revoke(s): every token of this login"),
    ("msg", "layer", "b", "400 invalid_grant", True),
    ("note", "layer", "counted reuse_revoked; SecurityEvent::ReuseDetected"),
]

W, TOP, ROW, BAND, NOTE = 840, 92, 30, 34, 28


def main():
    y = TOP + 10
    body = []
    for step in STEPS:
        kind = step[0]
        if kind == "band":
            y += 8
            body.append(f'<rect x="10" y="{y}" width="{W - 20}" height="22" rx="4" class="band"/>')
            body.append(f'<text x="20" y="{y + 15}" class="bandtext">{escape(step[1])}</text>')
            y += BAND
        elif kind == "msg":
            _, src, dst, label, *dashed = step
            x1, x2 = COLS[src], COLS[dst]
            pad = 4 if x2 > x1 else -4
            cls = "reply" if dashed else "call"
            body.append(f'<line x1="{x1}" y1="{y}" x2="{x2 - pad}" y2="{y}" class="{cls}" marker-end="url(#head)"/>')
            body.append(f'<text x="{(x1 + x2) / 2}" y="{y - 6}" text-anchor="middle" class="label">{escape(label)}</text>')
            y += ROW
        elif kind == "note":
            _, col, text = step
            x = COLS[col]
            width = 7 * len(text) + 16
            body.append(f'<rect x="{x - width / 2}" y="{y - 16}" width="{width}" height="22" rx="3" class="note"/>')
            body.append(f'<text x="{x}" y="{y}" text-anchor="middle" class="notetext">{escape(text)}</text>')
            y += NOTE
    height = y + 10
    head = []
    for key, x in COLS.items():
        head.append(f'<line x1="{x}" y1="{TOP - 22}" x2="{x}" y2="{height - 10}" class="life"/>')
        head.append(f'<rect x="{x - 82}" y="20" width="164" height="50" rx="6" class="actor"/>')
        head.append(f'<text x="{x}" y="41" text-anchor="middle" class="actortext">{escape(NAMES[key])}</text>')
        if SUB[key]:
            head.append(f'<text x="{x}" y="59" text-anchor="middle" class="sub">{escape(SUB[key])}</text>')
    svg = f'''<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {height}" width="{W}" height="{height}" font-family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif" font-size="13">
<title>Refresh: rotation, grace window, roll forward, reuse detection</title>
<style>
  .life {{ stroke: #9aa4b2; stroke-dasharray: 4 4; }}
  .actor {{ fill: #eef2f7; stroke: #5b6b80; }}
  .actortext {{ font-weight: 600; fill: #1f2933; }}
  .sub {{ font-size: 11px; fill: #52606d; }}
  .call {{ stroke: #1f2933; stroke-width: 1.4; }}
  .reply {{ stroke: #1f2933; stroke-width: 1.2; stroke-dasharray: 6 4; }}
  .band {{ fill: #f5f0e1; stroke: #d8c99b; }}
  .bandtext {{ font-weight: 600; fill: #5c4a12; }}
  .note {{ fill: #fffbe6; stroke: #c9b458; }}
  .notetext {{ font-size: 12px; fill: #3e3a1f; }}
  text {{ fill: #1f2933; }}
  .label {{ paint-order: stroke; stroke: #ffffff; stroke-width: 4px; stroke-linejoin: round; }}
</style>
<defs><marker id="head" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#1f2933"/></marker></defs>
<rect width="{W}" height="{height}" fill="#ffffff"/>
{chr(10).join(head)}
{chr(10).join(body)}
</svg>
'''
    out = Path(__file__).parent / "src" / "pictures" / "refresh-sequence.svg"
    out.write_text(svg)


# The fleet: boxes (x, y, w, h, title, lines, class) and arrows
# (x1, y1, x2, y2, label, class, label x, label y, label anchor).
FLEET_BOXES = [
    (300, 16, 240, 44, "Load balancer", ["browsers, apps, gateways"], "actor"),
    (40, 110, 220, 96, "Instance A", ["RefreshAuth layer", "revoked set (local)", "key ring (adopted)"], "actor"),
    (310, 110, 220, 96, "Instance B", ["RefreshAuth layer", "revoked set (local)", "key ring (adopted)"], "actor"),
    (580, 110, 220, 96, "Instance C", ["RefreshAuth layer", "revoked set (local)", "key ring (adopted)"], "actor"),
    (120, 290, 600, 130, "Shared store: Redis, Redis Cluster or PostgreSQL", [
        "sessions: one record each, rotated by compare-and-swap",
        "key ring: one versioned record sealed under your KEK,",
        "swapped by compare-and-swap",
        "revocation feed: each revocation recorded, numbered and pushed",
        "DPoP proofs seen, re-authentications",
    ], "store"),
    (20, 480, 330, 64, "Resource servers (ResourceServer)", [
        "verify with the JWKS, cached by max-age; no store"], "other"),
    (490, 480, 330, 64, "Gateways, services in other languages", [
        "ask POST /introspect (RFC 7662), HTTP Basic"], "other"),
]
FLEET_ARROWS = [
    (420, 60, 150, 110, "", "call", 0, 0, "start"),
    (420, 60, 420, 110, "", "call", 0, 0, "start"),
    (420, 60, 690, 110, "", "call", 0, 0, "start"),
    (150, 206, 240, 290, "sessions, ring CAS, feed", "call", 204, 250, "start"),
    (420, 290, 420, 206, "pushes: revocations", "reply", 426, 250, "start"),
    (690, 290, 600, 206, "ring polls (with jitter)", "reply", 650, 250, "start"),
    (60, 480, 60, 206, "GET /.well-known/jwks.json", "reply", 66, 462, "start"),
    (780, 480, 780, 206, "POST /introspect", "call", 774, 462, "end"),
]


def fleet():
    width, height = 840, 560
    body = []
    for x1, y1, x2, y2, label, cls, lx, ly, anchor in FLEET_ARROWS:
        body.append(f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" class="{cls}" marker-end="url(#head)"/>')
        if label:
            body.append(f'<text x="{lx}" y="{ly}" text-anchor="{anchor}" class="label">{escape(label)}</text>')
    for x, y, w, h, title, lines, cls in FLEET_BOXES:
        body.append(f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="6" class="{cls}"/>')
        body.append(f'<text x="{x + w / 2}" y="{y + 20}" text-anchor="middle" class="actortext">{escape(title)}</text>')
        for i, line in enumerate(lines):
            body.append(f'<text x="{x + w / 2}" y="{y + 38 + 17 * i}" text-anchor="middle" class="sub">{escape(line)}</text>')
    svg = f'''<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" font-family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif" font-size="13">
<title>A fleet: instances behind a load balancer, one shared store holding sessions, the key ring and the revocation feed, and the services that verify without it</title>
<style>
  .actor {{ fill: #eef2f7; stroke: #5b6b80; }}
  .store {{ fill: #f5f0e1; stroke: #d8c99b; }}
  .other {{ fill: #fffbe6; stroke: #c9b458; }}
  .actortext {{ font-weight: 600; fill: #1f2933; }}
  .sub {{ font-size: 12px; fill: #52606d; }}
  .call {{ stroke: #1f2933; stroke-width: 1.4; }}
  .reply {{ stroke: #1f2933; stroke-width: 1.2; stroke-dasharray: 6 4; }}
  text {{ fill: #1f2933; }}
  .label {{ font-size: 12px; paint-order: stroke; stroke: #ffffff; stroke-width: 4px; stroke-linejoin: round; }}
</style>
<defs><marker id="head" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#1f2933"/></marker></defs>
<rect width="{width}" height="{height}" fill="#ffffff"/>
{chr(10).join(body)}
</svg>
'''
    out = Path(__file__).parent / "src" / "pictures" / "fleet.svg"
    out.write_text(svg)


if __name__ == "__main__":
    main()
    fleet()
