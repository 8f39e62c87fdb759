"""Fold the lessons' tagged markdown cells on the site, as JupyterLab does (COURSE_DESIGN §3).

myst-nb folds *code* cells by tag (``hide-input``, ``hide-output``), but passes markdown cells
through untouched, so a prediction's written answer (a markdown cell tagged ``hide-input``, stored
``source_hidden``) would sit open right under its question. This wraps such a cell in a
sphinx-togglebutton toggle ("Click to show"). A cell that holds a heading is left open: a heading
inside a container would break the page's sections.
"""

from __future__ import annotations

from typing import Any

from docutils import nodes
from myst_nb.core.render import MditRenderMixin
from sphinx.application import Sphinx

FOLDED_TAGS = {"hide-input", "hide-cell"}
_pass_through = MditRenderMixin.render_nb_cell_markdown


def _has_heading(token: Any) -> bool:
    return any(child.type == "heading" for child in token.walk())


def render_nb_cell_markdown(self: Any, token: Any) -> None:
    tags = set(token.meta["metadata"].get("tags", []))
    if not tags & FOLDED_TAGS or _has_heading(token):
        _pass_through(self, token)
        return
    container = nodes.container(classes=["toggle", "cell", "tag_hide-input", "cell_markdown"])
    self.add_line_and_source_path(container, token)
    with self.current_node_context(container, append=True):
        self.render_children(token)


def setup(app: Sphinx) -> dict[str, Any]:
    MditRenderMixin.render_nb_cell_markdown = render_nb_cell_markdown
    return {"parallel_read_safe": True, "parallel_write_safe": True}
