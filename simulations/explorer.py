"""What every lesson explorer shares: controls above a summary and a figure, redrawn on change.

A subclass passes its controls (name → ipywidgets control) and its *view* (an object whose
``update(result)`` redraws one persistent figure and returns PNG bytes) to ``Explorer``, and
says how to run the model (``run``) and what to write under the controls (``describe``).
"""

from __future__ import annotations

import html
import io
from abc import ABC, abstractmethod
from typing import Any, Generic, TypeVar

import ipywidgets as widgets
from matplotlib.figure import Figure

Result = TypeVar("Result")


def png_bytes(figure: Figure) -> bytes:
    """``figure`` rendered as a PNG."""
    png = io.BytesIO()
    figure.savefig(png, format="png")
    return png.getvalue()


def html_lines(text: str) -> str:
    """``text`` as HTML: every line escaped, lines joined with ``<br>``."""
    return "<br>".join(map(html.escape, text.splitlines()))


class Explorer(ABC, Generic[Result]):
    """Controls ``per_row`` to a row, above a summary and an image; any change redraws.

    ``controls``, ``view``, ``image``, ``summary`` and ``widget`` (what a notebook displays)
    are public; the constructor draws once.
    """

    per_row = 2

    def __init__(self, controls: dict[str, widgets.ValueWidget], view: Any) -> None:
        self.controls = controls
        self.view = view
        self.image = widgets.Image(format="png")
        self.summary = widgets.HTML()
        for control in self.controls.values():
            control.observe(self.redraw, names="value")
        ordered = list(self.controls.values())
        rows = [
            widgets.HBox(ordered[start : start + self.per_row])
            for start in range(0, len(ordered), self.per_row)
        ]
        self.widget = widgets.VBox([*rows, self.summary, self.image])
        self.redraw()

    @abstractmethod
    def run(self, settings: dict[str, Any]) -> Result:
        """Run the model with ``settings``, the controls' values by name."""

    @abstractmethod
    def describe(self, result: Result) -> str:
        """The summary of ``result`` shown above the figure, as plain text lines."""

    def draw(self, result: Result) -> bytes:
        """Show ``result`` in the figure; return it as PNG bytes."""
        return self.view.update(result)

    def redraw(self, change: object = None) -> Result:
        """Run the model with the controls' values and update the summary and the figure."""
        settings = {name: control.value for name, control in self.controls.items()}
        result = self.run(settings)
        self.image.value = self.draw(result)
        self.summary.value = html_lines(self.describe(result))
        return result
