"""Sphinx configuration of the sk_softmax documentation (``tox -e docs``).

Built with warnings as errors (``-W``), so every setting here keeps the build free of
network access: no intersphinx (the build machines reach PyPI only), no remote images.
"""

import re
from pathlib import Path

# the installed package is documented (tox installs it; a development install is editable)
import sk_softmax

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent

project = "sk_softmax"
author = "the sk_softmax developers"
copyright = "2026, the sk_softmax developers"
release = version = sk_softmax.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = [
    "_build",
    "_templates",
    "Thumbs.db",
    ".DS_Store",
    "auto_examples/*.ipynb",
    "auto_examples/*.py",
    "auto_examples/*.zip",
    "auto_examples/*.json",
    "auto_examples/*.md5",
]
templates_path = ["_templates"]
# design.md and deploying.md were written for GitHub, where headings start at "#"
myst_heading_anchors = 3
myst_enable_extensions = ["dollarmath"]

# -- API reference -------------------------------------------------------------------
autosummary_generate = True
# numpydoc lists the methods itself (the class template would list them twice)
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# "See Also" entries name scikit-learn classes; without intersphinx they are plain text
numpydoc_xref_param_type = False
numpydoc_validation_checks = set()

# -- Gallery --------------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(REPO / "examples"),
    "gallery_dirs": "auto_examples",
    # every plot_*.py runs during the build; stream_mnist.py is a command-line script
    # (argparse, the full 60000 rows) and stays out of the gallery
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"stream_mnist\.py",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    # a failing example fails the build
    "only_warn_on_example_error": False,
    "abort_on_example_error": False,
    "reset_modules": ("matplotlib",),
    "show_memory": False,
    # "Examples using SoftmaxClassifier" on the API pages
    "doc_module": ("sk_softmax",),
    "backreferences_dir": "api/generated/backreferences",
    "matplotlib_animations": False,
}

# -- HTML -----------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"sk_softmax {release}"
html_static_path = ["_static"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    # the theme's default footer/header items need no network
}
html_show_sourcelink = False


# -- scikit-learn's docstrings -------------------------------------------------------
# The estimators inherit methods (score, get_params, set_fit_request...) whose docstrings
# cross-reference labels and glossary terms of scikit-learn's own site (:ref:`User Guide
# <metadata_routing>`, :term:`meta-estimator`). Without intersphinx (no network here)
# those would be undefined-reference warnings, i.e. errors under -W; in docstrings that
# are not ours, such roles are rendered as plain text instead.
_ROLE = re.compile(
    r":(?:ref|term|func|class|meth|attr|mod|obj):"
    r"`(?:~?([^`<]*?)\s*<[^`>]*>|~?([^`]*))`"
)


def _plain_foreign_roles(app, what, name, obj, options, lines):
    module = getattr(obj, "__module__", None) or ""
    if module.startswith("sk_softmax"):
        return
    for i, line in enumerate(lines):
        lines[i] = _ROLE.sub(lambda m: f"``{(m.group(1) or m.group(2)).strip()}``", line)


# -- the benchmarks' result files ----------------------------------------------------
# One page per result file of benchmarks/results/ (git-ignored stubs that include it, so a
# new result file gets its page without editing the docs; --quick results are left out).
RESULTS = REPO / "benchmarks" / "results"
STUBS = DOCS / "user_guide" / "results"
STUBS.mkdir(exist_ok=True)
for _old in STUBS.glob("*.md"):
    _old.unlink()
for _result in sorted(RESULTS.glob("*.md")):
    if not _result.stem.endswith("_quick"):
        (STUBS / _result.name).write_text(
            f"```{{include}} ../../../benchmarks/results/{_result.name}\n:relative-images:\n```\n"
        )

# docs/design.md, docs/dask.md, docs/user_guide/performance.md and array_api.md link the
# result files as ../benchmarks/results/NAME.md (../../benchmarks/... from user_guide/),
# which works on GitHub; in the site each result is the page user_guide/results/NAME (an
# include of it).
_RESULT_LINK = re.compile(r"\]\((?:\.\./)+benchmarks/results/([a-z0-9_]+)\.md\)")
_RESULT_PAGE = {
    "design": "user_guide/results/",
    "dask": "user_guide/results/",
    "user_guide/performance": "results/",
    "user_guide/array_api": "results/",
}


def _result_links(app, docname, source):
    if docname in _RESULT_PAGE:
        source[0] = _RESULT_LINK.sub(rf"]({_RESULT_PAGE[docname]}\1.md)", source[0])


def setup(app):
    app.connect("autodoc-process-docstring", _plain_foreign_roles)
    app.connect("source-read", _result_links)
