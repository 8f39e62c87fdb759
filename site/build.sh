#!/usr/bin/env bash
# Build the course's static site (Jupyter Book 1: Sphinx + myst-nb) from the stored lessons.
#   site/build.sh [OUTPUT_DIR]     (default: site/_build, gitignored)
# Offline and reproducible: Jupyter Book lives in its own venv (.venv-site, gitignored), installed
# from site/requirements.txt (pinned exactly); the learner's .venv is not touched. Nothing is
# executed (execute_notebooks: off). Warnings are errors (-W -n --keep-going): a broken internal
# link, a missing anchor or a link to a file that is not in the repository fails the build.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-site/_build}"
venv="${SITE_VENV:-.venv-site}"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PYTHONDONTWRITEBYTECODE=1

if ! "$venv/bin/python" -c 'import jupyter_book' >/dev/null 2>&1 ||
    ! cmp -s site/requirements.txt "$venv/.site-requirements.txt"; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q -r site/requirements.txt
    cp site/requirements.txt "$venv/.site-requirements.txt"
fi

# Every lesson that exists is in the navigation (tests/test_site.py says the same).
for lesson in notebooks/[0-9][0-9]_*.ipynb; do
    grep -q "file: ${lesson%.ipynb}\$" site/_toc.yml ||
        { echo "site/_toc.yml does not list $lesson" >&2; exit 1; }
done

rm -rf "$out"
"$venv/bin/jupyter-book" build . --config site/_config.yml --toc site/_toc.yml \
    --path-output "$out" --builder html -W -n --keep-going --quiet
echo "site built: $out/_build/html/index.html"
