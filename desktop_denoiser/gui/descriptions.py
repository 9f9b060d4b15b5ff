"""A model described for people, in rich text: the tooltips, the side panel, the models dialog.

The figures come from :class:`~desktop_denoiser.core.figures.ModelFigures` (never from the
metadata's keys); :func:`describe_entry` is the one place that lays them out with the rest.
"""

from __future__ import annotations

import html

from ..core.figures import ModelFigures


def describe_entry(entry) -> str:
    """Rich-text metadata of a model (a store ModelEntry, or None) for tooltips and the side panel."""
    if entry is None:
        return "<i>none</i>"
    name = html.escape(entry.name)
    if entry.error:
        return f"<b>{name}</b><br>unusable: {html.escape(str(entry.error))}"
    m = entry.meta
    lines = [f"<b>{name}</b> ({entry.source})", f"architecture: {html.escape(entry.architecture)}"]
    if isinstance(m.get("parameters"), int):
        lines[-1] += f", {m['parameters']:,} parameters"
    if entry.kind == "denoiser":
        lines.append(f"trained on noise: {html.escape(str(m.get('noise_label', '?')))}")
    lines += [html.escape(line) for line in ModelFigures.of_entry(entry).lines()]
    if m.get("epochs_trained"):
        best = f" (best {m['best_epoch']})" if m.get("best_epoch") else ""
        seconds = m.get("training_seconds")
        took = f", {seconds:.0f} s" if isinstance(seconds, (int, float)) else ""
        lines.append(f"{m['epochs_trained']} epochs{best}{took} on {html.escape(str(m.get('device', '?')))}")
    if isinstance(m.get("created"), str):
        lines.append(f"created {m['created'][:16].replace('T', ' ')}")
    if m.get("note"):
        lines.append(html.escape(str(m["note"])))
    return "<br>".join(lines)
