"""A workflow's stages and moves as an inline SVG, laid out from the compiled bundle.

Stages are boxes stacked top to bottom in their order, exits boxes in a column on the
right. Every allowed move (CompiledWorkflow.moves: next stage, skips, back-steps,
extra moves, exits) is one arrow: to the next stage straight down, a skip ahead on the
right of the stages, a step back on their left, to an exit across to it. A stage with
`only_when` is dashed and says "(conditional)". The SVG has a <title> and an
aria-label; each box a text label; each arrow a <title> saying "from -> to".
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from engine.bundle import CompiledWorkflow

BOX_W, BOX_H, GAP = 230, 44, 26
LEFT = 70  # room for back-step arcs
EXIT_X = LEFT + BOX_W + 150
LABEL_CHARS = 30


@dataclass(frozen=True)
class Box:
    """A stage or exit box."""

    id: str
    label: str
    x: int
    y: int
    exit: bool = False
    conditional: bool = False


def boxes(wf: CompiledWorkflow) -> dict[str, Box]:
    """Return the boxes of a workflow's stages and exits, placed."""
    out: dict[str, Box] = {}
    for i, stage in enumerate(wf.body.stages):
        out[stage.id] = Box(
            stage.id,
            stage.title or stage.id,
            LEFT,
            20 + i * (BOX_H + GAP),
            conditional=stage.only_when is not None,
        )
    for j, ex in enumerate(wf.body.exits):
        label = f"{ex.title or ex.id} ({ex.outcome})"
        out[ex.id] = Box(ex.id, label, EXIT_X, 20 + j * (BOX_H + GAP), exit=True)
    return out


def _short(text: str) -> str:
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def _arrow(a: Box, b: Box, order: dict[str, int], k: int) -> str:
    """Return the path of a move from `a` to `b` (`k` spreads parallel arcs)."""
    if b.exit:
        x1, y1 = a.x + BOX_W, a.y + BOX_H // 2
        x2, y2 = b.x, b.y + BOX_H // 2
        return f"M{x1},{y1} C{x1 + 60},{y1} {x2 - 60},{y2} {x2 - 2},{y2}"
    step = order[b.id] - order[a.id]
    cx = a.x + BOX_W // 2
    if step == 1:
        return f"M{cx},{a.y + BOX_H} L{cx},{b.y - 2}"
    if step > 1:  # a skip ahead: on the right side of the stages
        x = a.x + BOX_W
        bend = x + 30 + 12 * (k % 5)
        end = f"{x + 2},{b.y + BOX_H // 3 * 2}"
        return f"M{x},{a.y + BOX_H // 3} C{bend},{a.y} {bend},{b.y + BOX_H} {end}"
    x = a.x  # a step back: on the left side
    bend = x - 25 - 10 * (k % 4)
    return (
        f"M{x},{a.y + BOX_H // 3} C{bend},{a.y} {bend},{b.y + BOX_H} {x - 2},{b.y + BOX_H // 3 * 2}"
    )


def moves_of(wf: CompiledWorkflow) -> list[tuple[str, str]]:
    """Return a workflow's moves in a stable order (stage order, then target order)."""
    ids = [s.id for s in wf.body.stages] + [e.id for e in wf.body.exits]
    rank = {n: i for i, n in enumerate(ids)}
    return sorted(wf.moves, key=lambda m: (rank.get(m[0], 999), rank.get(m[1], 999)))


def svg(wf: CompiledWorkflow) -> str:
    """Return the workflow's diagram as SVG markup (every text escaped)."""
    placed = boxes(wf)
    order = {s.id: i for i, s in enumerate(wf.body.stages)}
    rows = max(len(wf.body.stages), len(wf.body.exits), 1)
    width = EXIT_X + BOX_W + 10 if wf.body.exits else LEFT + BOX_W + 120
    height = 20 + rows * (BOX_H + GAP)
    title = f"Workflow {wf.body.title or wf.name}: {len(wf.body.stages)} stages, "
    title += f"{len(wf.body.exits)} exits, {len(wf.moves)} moves"
    parts = [
        f'<svg class="flow" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        '<defs><marker id="arrow-head" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse">'
        '<path d="M0,0 L10,5 L0,10 z"/></marker></defs>',
    ]
    for k, (a, b) in enumerate(moves_of(wf)):
        if a not in placed or b not in placed:
            continue
        kind = "exit" if placed[b].exit else ("back" if order[b] < order[a] else "forward")
        parts.append(
            f'<path class="move {kind}" data-from="{escape(a)}" data-to="{escape(b)}" '
            f'd="{_arrow(placed[a], placed[b], order, k)}" marker-end="url(#arrow-head)">'
            f"<title>{escape(a)} -&gt; {escape(b)}</title></path>"
        )
    for box in placed.values():
        cls = "exit" if box.exit else "stage"
        if box.conditional:
            cls += " conditional"
        label = _short(box.label) + (" (conditional)" if box.conditional else "")
        parts.append(
            f'<g class="{cls}" data-id="{escape(box.id)}"><title>{escape(box.label)} '
            f"[{escape(box.id)}]</title>"
            f'<rect x="{box.x}" y="{box.y}" width="{BOX_W}" height="{BOX_H}" rx="6"/>'
            f'<text x="{box.x + BOX_W // 2}" y="{box.y + BOX_H // 2 + 5}" '
            f'text-anchor="middle">{escape(label)}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)
