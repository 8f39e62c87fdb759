"""Every lesson, run in a real browser as a learner runs it: JupyterLab at the repository root
(the README's Quick start), Debian's Chromium driven by Playwright, Run All Cells.

Strict nbval checks what a lesson prints; it cannot see what only a browser shows: a widget that
does not render ("Error displaying widget", or the bare ``VBox(children=...)`` text a learner gets
when the widget manager is missing), an explorer whose figure does not follow its slider, a link
to the next lesson or to ``labs/`` that answers 404, a second kernel and a "Select Kernel" dialog.
This module checks those, for every ``notebooks/NN_*.ipynb`` there is when it runs.

The browser is ``chromium`` on the PATH, or the executable ``SBD_CHROMIUM`` names (Playwright's
own browser download is not used). Without one a local run skips these tests, saying how to
install it; under ``CI=true`` a missing browser fails them, so CI cannot pass by skipping.

A redraw's time is recorded (``record_property`` and a printed line), never asserted: the 150 ms
budget is the bench's (COURSE_DESIGN §8). On failure a screenshot of the lesson is written to
``$TMPDIR/sbd-browser-screenshots/`` and its path is in the failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from playwright.sync_api import Browser, Locator, Page, sync_playwright

from browser.lab_server import ROOT, LabServer

LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
RUN_TIMEOUT = 180.0  # seconds for Run All Cells in one lesson (they take 7-40 s headless)
OPEN_TIMEOUT = 60.0  # seconds for the notebook to open with its kernel idle and connected
REDRAW_TIMEOUT = 10.0  # seconds for an explorer's figure to change after a control moves
SCREENSHOTS = Path(tempfile.gettempdir()) / "sbd-browser-screenshots"
INSTALL_HINT = (
    "install Debian's Chromium (`apt-get install chromium`) or set SBD_CHROMIUM to a "
    "Chromium executable"
)
STDERR = '[data-mime-type="application/vnd.jupyter.stderr"]'
# What a learner sees instead of a widget: the manager's error, or the text/plain fallback.
UNRENDERED = re.compile(r"Error displaying widget|\b(?:VBox|HBox|interactive|Output)\(children=")

# The state of the lesson's notebook panel, read through JupyterLab's own objects.
PANEL_STATE = """
(path) => {
    const app = window.jupyterapp;
    if (!app) return {app: false};
    const panel = app.shell.currentWidget;
    const dialog = document.querySelector('.jp-Dialog');
    const state = {app: true, dialog: dialog ? dialog.textContent.slice(0, 200) : null};
    if (!panel || !panel.context || panel.context.path !== path || !panel.sessionContext) {
        return state;
    }
    const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
    const indicator = document.querySelector('.jp-Notebook-ExecutionIndicator');
    return Object.assign(state, {
        open: true,
        status: kernel ? kernel.status : null,
        connection: kernel ? kernel.connectionStatus : null,
        kernelId: kernel ? kernel.id : null,
        indicator: indicator ? indicator.getAttribute('data-status') : null,
    });
}
"""

# How far Run All Cells has got: code cells run (an execution count), queued or running ([*]).
RUN_STATE = """
() => {
    const panel = window.jupyterapp.shell.currentWidget;
    const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
    const cells = panel.content.widgets.filter(
        (cell) => cell.model.type === 'code' && cell.model.sharedModel.getSource().trim() !== ''
    );
    const busy = cells.filter((cell) => {
        const prompt = cell.node.querySelector('.jp-InputPrompt');
        return (prompt && prompt.textContent.includes('*'))
            || cell.model.executionState === 'running';
    }).length;
    const run = cells.filter((cell) => cell.model.executionCount !== null).length;
    const errors = panel.content.node.querySelectorAll(
        '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
    ).length;
    return {cells: cells.length, run, busy, errors, status: kernel ? kernel.status : null};
}
"""

# Every link a learner can click in the lesson: markdown cells and outputs.
LINKS = """
() => [...document.querySelectorAll('.jp-Notebook a[href]')].map((a) => ({
    text: a.textContent.trim().slice(0, 80),
    attribute: a.getAttribute('href'),
    href: a.href,
}))
"""

# The explorers: each top-level widget output with a control (a slider or a dropdown), marked
# ``data-sbd-explorer`` so the test can find it again; whether it shows a figure (an <img>).
EXPLORERS = """
() => [...document.querySelectorAll('.jp-Notebook .jp-OutputArea-output')]
    .filter((output) => output.querySelector(':scope > .jupyter-widgets')
        && !output.parentElement.closest('.jupyter-widgets'))
    .map((output, index) => {
        output.setAttribute('data-sbd-explorer', String(index));
        return {
            index,
            images: output.querySelectorAll('img').length,
            controls: output.querySelectorAll('select:not([disabled]), .noUi-handle').length,
        };
    })
    .filter((found) => found.controls > 0)
"""

WIDGETS_RENDERED = """
() => [...document.querySelectorAll('.jp-Notebook .jp-OutputArea-output')]
    .filter((output) => output.querySelector(':scope > .jupyter-widgets')
        && !output.parentElement.closest('.jupyter-widgets')).length
"""

# What an explorer shows: its figures (src and SHA-256 of the bytes) and the text it prints.
EXPLORER_VIEW = """
async (output) => {
    const images = [];
    for (const img of output.querySelectorAll('img')) {
        const bytes = new Uint8Array(await (await fetch(img.src)).arrayBuffer());
        const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
        images.push(img.src + ' ' + [...digest].map((b) => b.toString(16)).join(''));
    }
    const printed = [...output.querySelectorAll('.widget-output, .widget-html-content')]
        .map((part) => part.textContent).join('\\n');
    return {images, printed};
}
"""


def chromium_executable() -> str | None:
    return os.environ.get("SBD_CHROMIUM") or shutil.which("chromium")


@pytest.fixture(scope="module")
def chromium() -> str:
    executable = chromium_executable()
    if executable is None or not Path(executable).exists():
        message = f"no Chromium for the browser tests: {INSTALL_HINT}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message} (CI=true: a missing browser is a failure, not a skip)")
        pytest.skip(message)
    return executable


@pytest.fixture(scope="module")
def lab(chromium: str) -> Iterator[LabServer]:
    server = LabServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, headless=True)
        try:
            yield launched
        finally:
            launched.close()


def stored_widgets(lesson: Path) -> int:
    """How many widgets the stored lesson displays: the browser must render as many."""
    cells = json.loads(lesson.read_text())["cells"]
    return sum(
        "application/vnd.jupyter.widget-view+json" in output.get("data", {})
        for cell in cells
        for output in cell.get("outputs", [])
    )


# The settings JupyterLab actually uses (the overrides in lab_server.SETTINGS took effect?).
SETTINGS_IN_USE = """
async () => {
    const settings = window.jupyterapp.serviceManager.settings;
    const tracker = await settings.fetch('@jupyterlab/notebook-extension:tracker');
    const docs = await settings.fetch('@jupyterlab/docmanager-extension:plugin');
    return {windowing: tracker.settings.windowingMode, autosave: docs.settings.autosave};
}
"""


def wait_for(page: Page, script: str, arg: Any, done: Any, timeout: float, what: str) -> Any:
    """Poll ``script`` in the page until ``done(state)``; fail with the last state seen."""
    deadline = time.monotonic() + timeout
    state = None
    while time.monotonic() < deadline:
        state = page.evaluate(script, arg)
        if done(state):
            return state
        page.wait_for_timeout(250)
    raise AssertionError(f"{what}: not within {timeout:.0f} s; last state {state}")


def open_lesson(page: Page, lab: LabServer, lesson: Path) -> dict[str, Any]:
    """Open the lesson in a fresh workspace; return when its kernel is idle *and* connected
    (firing at the first "idle" raced a second kernel into being, with a Select Kernel dialog)."""
    path = f"notebooks/{lesson.name}"
    workspace = f"sbd-{lesson.stem[:2]}-{uuid.uuid4().hex[:8]}"
    page.goto(f"{lab.url}/lab/workspaces/{workspace}/tree/{path}?reset")

    def ready(state: dict[str, Any]) -> bool:
        assert not state.get("dialog"), f"a dialog opened: {state['dialog']}"
        return bool(
            state.get("open")
            and state["status"] == "idle"
            and state["connection"] == "connected"
            and state["indicator"] in (None, "idle")
        )

    first = wait_for(page, PANEL_STATE, path, ready, OPEN_TIMEOUT, f"{path} opening")
    # Idle and connected twice, half a second apart, on the same kernel: settled, not a blip.
    page.wait_for_timeout(500)
    second = page.evaluate(PANEL_STATE, path)
    assert ready(second) and second["kernelId"] == first["kernelId"], (first, second)
    sessions = [
        session["kernel"]["id"]
        for session in lab.api("GET", "/api/sessions").json()
        if session["path"] == path
    ]
    assert sessions == [second["kernelId"]], f"{path}: sessions' kernels {sessions}, {second}"
    in_use = page.evaluate(SETTINGS_IN_USE)
    assert in_use == {"windowing": "none", "autosave": False}, in_use
    return second


def run_all_cells(page: Page, path: str) -> dict[str, Any]:
    """Clear the stored outputs (so nothing stored can pass for a result), fire Run All Cells
    without awaiting its promise, and wait until every code cell has run or one has failed."""
    page.evaluate(
        "() => { window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs'); }"
    )
    page.wait_for_function(
        "() => window.jupyterapp.shell.currentWidget.content.widgets.every("
        "(cell) => cell.model.type !== 'code' || cell.model.executionCount === null)",
        timeout=10_000,
    )
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")

    def finished(state: dict[str, Any]) -> bool:
        settled = state["busy"] == 0 and state["status"] == "idle"
        return settled and (state["run"] == state["cells"] or state["errors"] > 0)

    return wait_for(page, RUN_STATE, None, finished, RUN_TIMEOUT, f"{path}: Run All Cells")


def errors_shown(page: Page) -> list[str]:
    """Error and stderr outputs (JupyterLab renders a traceback as stderr), with their cell."""
    return page.evaluate(
        """(selector) => [...document.querySelectorAll('.jp-Notebook .jp-Cell')].flatMap(
            (cell, index) => [...cell.querySelectorAll('.jp-OutputArea-output' + selector)].map(
                (output) => `cell ${index}: ${output.textContent.trim().slice(0, 600)}`))""",
        STDERR,
    )


def unrendered_widgets(page: Page) -> list[str]:
    texts = page.evaluate(
        """() => [...document.querySelectorAll('.jp-Notebook .jp-OutputArea-output')]
            .map((output) => output.textContent)"""
    )
    return [text.strip()[:200] for text in texts if UNRENDERED.search(text)]


CONTROLS = "select:not([disabled]), .noUi-handle"
MAX_ATTEMPTS = 4  # controls tried per explorer until one changes the figure


def move_control(control: Locator) -> str:
    """Move one control: a dropdown to another enabled option, a slider one step with the
    keyboard (left if it is at its maximum). Returns what was moved."""
    if control.evaluate("(el) => el.tagName") == "SELECT":
        values = control.evaluate(
            "(el) => [...el.options].filter((o) => !o.disabled).map((o) => o.value)"
        )
        current = control.input_value()
        other = next(value for value in values if value != current)
        control.select_option(other)
        return f"dropdown {current!r} -> {other!r}"
    label = control.evaluate(
        "(el) => el.closest('.widget-slider').querySelector('.widget-label').textContent"
    )
    now, top = (control.get_attribute(name) for name in ("aria-valuenow", "aria-valuemax"))
    key = "ArrowLeft" if now == top else "ArrowRight"
    control.focus()
    control.press(key)
    return f"slider {label!r} at {now} ({key})"


def changes(before: dict[str, Any], after: dict[str, Any]) -> tuple[bool, bool]:
    """(the figure changed: new src and new bytes, the printed text changed and is not the
    blank between a clear and the new print)."""
    figure = len(after["images"]) == len(before["images"]) > 0 and any(
        new.split()[0] != old.split()[0] and new.split()[1] != old.split()[1]
        for old, new in zip(before["images"], after["images"], strict=True)
    )
    text = after["printed"].strip() != "" and after["printed"] != before["printed"]
    return figure, text


def check_redraws(page: Page, lesson: Path, record_property: Any) -> list[float]:
    """Move a control of each explorer and wait for its figure (or, for one that only prints,
    its text) to change; record the time from the move to the change (reported, not asserted:
    the budget is the bench's). A control that does not drive the figure (a sessions store
    that changes the counts printed under it, not the replicas drawn) moves the text only:
    then the next control is tried."""
    timings = []
    for number, explorer in enumerate(page.evaluate(EXPLORERS)):
        output = page.locator(f'[data-sbd-explorer="{explorer["index"]}"]')
        output.scroll_into_view_if_needed()
        view = output.element_handle()
        tried = []
        for attempt in range(min(MAX_ATTEMPTS, explorer["controls"])):
            before = page.evaluate(EXPLORER_VIEW, view)
            start = time.perf_counter()
            moved = move_control(output.locator(CONTROLS).nth(attempt))
            figure = text = False
            seconds = REDRAW_TIMEOUT
            while time.perf_counter() - start < REDRAW_TIMEOUT:
                figure, text = changes(before, page.evaluate(EXPLORER_VIEW, view))
                if (figure or text) and seconds == REDRAW_TIMEOUT:
                    seconds = time.perf_counter() - start
                if figure or (text and not before["images"]):
                    break
                if text and time.perf_counter() - start > seconds + 1.0:
                    break  # the text settled and the figure stayed: this control draws nothing
                page.wait_for_timeout(20)
            tried.append(f"{moved}: figure {figure}, text {text}")
            assert figure or text, (
                f"{lesson.name}: explorer {number} ({moved}): nothing it shows changed within "
                f"{REDRAW_TIMEOUT:.0f} s"
            )
            if figure or not before["images"]:
                break
        shown = "figure" if explorer["images"] else "printed text"
        assert figure or not explorer["images"], (
            f"{lesson.name}: explorer {number}: no control changed its figure: {tried}"
        )
        timings.append(seconds)
        record_property(f"redraw_ms_explorer_{number}", round(seconds * 1000))
        print(
            f"{lesson.stem}: explorer {number}, {moved}: {shown} changed in "
            f"{seconds * 1000:.0f} ms (browser-measured, not asserted)"
        )
    return timings


def anchors_of(path: Path) -> set[str]:
    """The heading anchors JupyterLab makes for a markdown file or a notebook's markdown cells
    (spaces become ``-``, case kept), lower-cased as GitHub's, to accept either spelling."""
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text())["cells"]
        text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    else:
        text = path.read_text()
    anchors = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*$", text, re.M):
        anchors.add(heading.replace(" ", "-"))
        anchors.add(re.sub(r"[^\w\- ]", "", heading).strip().lower().replace(" ", "-"))
    return anchors


def check_links(page: Page, lab: LabServer, lesson: Path) -> list[str]:
    """Every same-server link answers (JupyterLab points a relative link at ``/files/<path>``
    and opens that file on a click), and a ``#fragment`` names a heading of its target."""
    problems, followed = [], []
    for link in page.evaluate(LINKS):
        parts = urlsplit(link["href"])
        if parts.scheme in ("http", "https") and parts.netloc != urlsplit(lab.url).netloc:
            continue  # outside the course: not ours to check offline
        if link["attribute"].startswith("#"):
            continue  # a heading of this lesson
        answer = page.request.get(link["href"].split("#")[0])
        followed.append(f"{parts.path} -> {answer.status}")
        if answer.status >= 400:
            problems.append(f"{link['text']!r} ({link['attribute']}): HTTP {answer.status}")
            continue
        prefix = "/files/"
        if parts.fragment and parts.path.startswith(prefix):
            target = ROOT / unquote(parts.path[len(prefix) :])
            if unquote(parts.fragment) not in anchors_of(target):
                problems.append(f"{link['attribute']}: no heading #{parts.fragment} in it")
    print(f"{lesson.stem}: links {followed}")
    assert followed, f"{lesson.name}: no link followed (a lesson ends with one to the next)"
    return problems


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda path: path.stem)
def test_lesson_runs_in_the_browser(
    lesson: Path,
    lab: LabServer,
    browser: Browser,
    record_property: Any,
) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    started = time.perf_counter()
    try:
        open_lesson(page, lab, lesson)
        opened = time.perf_counter()
        state = run_all_cells(page, f"notebooks/{lesson.name}")
        ran = time.perf_counter()
        errors = errors_shown(page)
        assert not errors, f"{lesson.name}: error output a learner sees:\n" + "\n".join(errors)
        assert state["run"] == state["cells"], state
        unrendered = unrendered_widgets(page)
        assert not unrendered, f"{lesson.name}: widgets not rendered: {unrendered}"
        rendered = page.evaluate(WIDGETS_RENDERED)
        assert rendered >= stored_widgets(lesson), (
            f"{lesson.name}: {rendered} widgets rendered, the stored lesson shows "
            f"{stored_widgets(lesson)}"
        )
        check_redraws(page, lesson, record_property)
        # Nothing saved the run over the stored lesson (autosave is off): still unsaved.
        assert page.evaluate("() => window.jupyterapp.shell.currentWidget.context.model.dirty")
        problems = check_links(page, lab, lesson)
        assert not problems, f"{lesson.name}: broken links: {problems}"
    except BaseException:
        SCREENSHOTS.mkdir(exist_ok=True)
        shot = SCREENSHOTS / f"{lesson.stem}.png"
        try:
            page.screenshot(path=str(shot), full_page=False)
            print(f"{lesson.stem}: screenshot of the failure: {shot}")
        except Exception as problem:
            print(f"{lesson.stem}: no screenshot ({problem})")
        print(f"jupyter lab's log:\n{lab.log_tail(20)}")
        raise
    finally:
        context.close()
        lab.shutdown_kernels()
    total = time.perf_counter() - started
    record_property("open_seconds", round(opened - started, 1))
    record_property("run_all_seconds", round(ran - opened, 1))
    record_property("total_seconds", round(total, 1))
    print(
        f"{lesson.stem}: opened {opened - started:.1f} s, ran {ran - opened:.1f} s "
        f"({state['cells']} code cells), total {total:.1f} s"
    )
