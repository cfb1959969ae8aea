"""Look-ups or registrations per day per organisation type as an SVG drawn on the server.

No script, no outside service: the picture is markup made here from numbers, and every text in
it is escaped. It is accessible: ``role="img"`` with a ``<title>`` and ``<desc>`` (the totals in
words), and the page shows the same figures as a table beside it. Colours are told apart by a
legend with the type's name, never by colour alone (the table holds every figure).
"""

from __future__ import annotations

from markupsafe import Markup, escape

from broker.oversight.overview import Activity
from broker.web.i18n import gettext

# Eight colours with at least 3:1 contrast against white, repeated with a pattern of dashes
# beyond eight types (the legend and the table name each one).
COLOURS = ("#1f5fa8", "#b3261e", "#1b7a3d", "#7a4ea3", "#a15c00", "#00708a", "#6b6b00",
           "#9c2a6b")
WIDTH, HEIGHT = 720, 300
LEFT, BOTTOM, TOP, RIGHT = 48, 48, 16, 16


def _nice_top(value: int) -> int:
    """The smallest of 1, 2, 5 x 10^n at or above ``value`` (at least 1)."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def activity_chart(data: Activity, event_type: str, names: dict[str, str],
                   title: str) -> Markup:
    """A stacked bar per day (one colour per organisation type) of ``event_type``."""
    days = data.days
    present = [t for t in data.org_types
               if any(data.count(event_type, d, t) for d in days)]
    totals = [data.day_total(event_type, d) for d in days]
    top = _nice_top(max(totals, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(days), 1)
    bar = max(2.0, slot * 0.7)
    ident = "chart-" + event_type.replace(":", "-")
    desc = gettext("auditor_chart_desc", total=sum(totals), days=len(days),
                   first=days[0].isoformat() if days else "",
                   last=days[-1].isoformat() if days else "")
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
             f'viewBox="0 0 {WIDTH} {HEIGHT + 24 * ((len(present) + 2) // 3)}" '
             f'aria-labelledby="{ident}-title {ident}-desc">',
             f'<title id="{ident}-title">{escape(title)}</title>',
             f'<desc id="{ident}-desc">{escape(desc)}</desc>']
    for tick in (0, top // 2, top) if top > 1 else (0, top):
        y = TOP + plot_h - plot_h * tick / top
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
                     'stroke="#999" stroke-width="1"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" '
                     f'font-size="12" fill="#222">{tick}</text>')
    for index, day in enumerate(days):
        x = LEFT + slot * index + (slot - bar) / 2
        y = TOP + plot_h
        for number, org_type in enumerate(present):
            count = data.count(event_type, day, org_type)
            if not count:
                continue
            height = plot_h * count / top
            y -= height
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" '
                         f'height="{height:.1f}" fill="{COLOURS[number % len(COLOURS)]}"/>')
        if len(days) <= 16 or index % (len(days) // 8 + 1) == 0:
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{TOP + plot_h + 16}" '
                         f'text-anchor="middle" font-size="11" fill="#222">'
                         f'{day.strftime("%d-%m")}</text>')
    for number, org_type in enumerate(present):
        lx = LEFT + (number % 3) * (plot_w / 3)
        ly = HEIGHT - 8 + 24 * (number // 3)
        parts.append(f'<rect x="{lx:.1f}" y="{ly - 10}" width="12" height="12" '
                     f'fill="{COLOURS[number % len(COLOURS)]}"/>')
        parts.append(f'<text x="{lx + 18:.1f}" y="{ly}" font-size="12" fill="#222">'
                     f'{escape(names.get(org_type, org_type))}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text in it escaped above
