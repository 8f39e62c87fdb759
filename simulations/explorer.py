"""What every lesson explorer shares: controls above a summary and a figure, redrawn on change.

A subclass passes its controls (name → ipywidgets control) and its *view* (an object whose
``update(result)`` redraws one persistent ``figure`` and returns PNG bytes) to ``Explorer``, and
says how to run the model (``run``) and what to write under the controls (``describe``).

A control for a scenario knob comes from its declaration (``control(CrashScenario,
"instances")``: the slider's range, step and label are the field's), so a bound is written once.
Each scenario's ``widget.py`` names its explorer class ``EXPLORER``; ``explorers()`` finds them
all (``python -m simulations bench`` times each one's redraw: budget, median ≤ 150 ms).
"""

from __future__ import annotations

import dataclasses
import html
import importlib
import importlib.util
import io
from abc import ABC, abstractmethod
from typing import Any, Generic, TypeVar

import ipywidgets as widgets
import matplotlib
from matplotlib.figure import Figure

from simulations.knobs import applies, condition, declared
from simulations.scenarios import SCENARIOS

Result = TypeVar("Result")


def control(
    kind: type,
    name: str,
    value: Any = dataclasses.MISSING,
    picker: type[widgets.ValueWidget] = widgets.Dropdown,
    **options: Any,
) -> Any:
    """The ipywidgets control for knob ``name`` of scenario class ``kind``: a ``picker``
    (dropdown) for a choice, a checkbox for a switch, a slider with the knob's ``slider`` range
    otherwise. It starts at the field's default unless ``value`` is given; ``options`` go to the
    control."""
    field, knob = declared(kind)[name]
    start = field.default if value is dataclasses.MISSING else value
    options.setdefault("description", knob.label or name.replace("_", " "))
    if knob.kind == "choice":
        return picker(options=knob.choices, value=start, **options)
    if knob.kind == "switch":
        return widgets.Checkbox(start, **options)
    if knob.slider is None:
        raise ValueError(f"{kind.__name__}.{name} declares no slider range")
    low, high, step = knob.slider
    options.setdefault("continuous_update", False)
    if knob.kind == "count":
        return widgets.IntSlider(start, min=low, max=high, step=step, **options)
    return widgets.FloatSlider(start, min=low, max=high, step=step, **options)


def explorers() -> dict[str, type]:
    """Every scenario's explorer class, by scenario name, in lesson order."""
    found = {}
    for name in SCENARIOS:
        module_name = f"simulations.scenarios.{name}.widget"
        if importlib.util.find_spec(module_name) is not None:
            found[name] = importlib.import_module(module_name).EXPLORER
    return found


SHARPNESS = 2  # image pixels per displayed pixel: sharp on a 2x (HiDPI) screen


def display_width(figure: Figure) -> int:
    """The width in CSS pixels an explorer shows ``figure`` at: its inches × its ``dpi`` (a view
    chooses its size on screen with these two, as for any matplotlib figure)."""
    return round(figure.get_figwidth() * figure.dpi)


def png_bytes(figure: Figure) -> bytes:
    """``figure`` rendered as a PNG for a screen, ``SHARPNESS`` times as many pixels wide as it
    is shown (``display_width``), so it stays crisp where a browser draws one CSS pixel with
    two; glyphs drawn without font hinting (a fifth of a redraw saved; the text looks the same
    at this size) and the file compressed lightly (it is shown once, not stored)."""
    png = io.BytesIO()
    with matplotlib.rc_context({"text.hinting": "none"}):
        figure.savefig(
            png, format="png", dpi=SHARPNESS * figure.dpi, pil_kwargs={"compress_level": 1}
        )
    return png.getvalue()


def keep_redraws_fast(figure: Figure) -> None:
    """Spare every redraw of ``figure`` work that shows nothing new: titles sit at a fixed height
    (by default matplotlib measures every tick label to place a title), and an axis has at most
    about five ticks (each tick label is text to lay out and draw)."""
    for ax in figure.axes:
        ax.set_title(ax.get_title(), y=1.0)  # a title given y keeps it: no more auto placement
        ax.locator_params(nbins=5)


def html_lines(text: str) -> str:
    """``text`` as HTML: every line escaped, lines joined with ``<br>``."""
    return "<br>".join(map(html.escape, text.splitlines()))


class Explorer(ABC, Generic[Result]):
    """Controls ``per_row`` to a row, above a summary and an image; any change redraws.

    ``controls``, ``view``, ``image``, ``summary`` and ``widget`` (what a notebook displays)
    are public; the constructor draws once.
    """

    per_row = 2
    scenario: type | None = None  # the scenario class whose knobs the controls come from

    def __init__(self, controls: dict[str, widgets.ValueWidget], view: Any) -> None:
        self.controls = controls
        self.view = view
        keep_redraws_fast(view.figure)
        self.image = widgets.Image(
            format="png",
            layout=widgets.Layout(width=f"{display_width(view.figure)}px", max_width="100%"),
        )
        self.summary = widgets.HTML()
        for control in self.controls.values():
            control.observe(self.redraw, names="value")
            if not isinstance(control, widgets.Checkbox):  # a checkbox's label is beside it
                control.style.description_width = "initial"  # the label in full, never "revocatio…"
        ordered = list(self.controls.values())
        rows = [
            widgets.HBox(ordered[start : start + self.per_row])
            for start in range(0, len(ordered), self.per_row)
        ]
        self.widget = widgets.VBox([*rows, self.summary, self.image])
        self.redraw()

    def grey_out(self, settings: dict[str, Any]) -> None:
        """Disable each control whose knob does not matter with these ``settings`` (its
        ``applies`` rule, when the field it names is a control too); its tooltip says why."""
        fields = declared(self.scenario) if self.scenario is not None else {}
        for name, control in self.controls.items():
            knob = fields[name][1] if name in fields else None
            if knob is None or knob.applies is None or knob.applies[0] not in settings:
                continue
            control.disabled = not applies(knob, settings)
            control.tooltip = f"{knob.help}: applies {condition(knob)}" if control.disabled else ""

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
        self.grey_out(settings)
        result = self.run(settings)
        self.image.value = self.draw(result)
        self.summary.value = html_lines(self.describe(result))
        return result
