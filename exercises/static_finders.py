"""A staticfiles finder for MathJax, which the web UI typesets its LaTeX with.

The django-static-mathjax package holds all of MathJax 3 (2,700 files, 35 MB: sources, every
combined bundle). The pages load one bundle, `mathjax/tex-chtml.js`, which fetches its fonts and
the TeX extensions a formula needs from the folders beside it; only those are collected and
served (about 90 files), from our own origin, never a CDN.
"""

from __future__ import annotations

from pathlib import Path

from django.contrib.staticfiles.finders import BaseFinder
from django.contrib.staticfiles.utils import matches_patterns
from django.core.checks import Error
from django.core.files.storage import FileSystemStorage

PREFIX = "mathjax"
BUNDLE = "tex-chtml.js"  # TeX input, HTML output, the accessibility menu


def mathjax_root() -> Path | None:
    """The folder of MathJax's ES5 build in the installed package, or None without it."""
    try:
        import mathjax  # django-static-mathjax
    except ImportError:
        return None
    root = Path(mathjax.__file__).resolve().parent / "static" / "mathjax" / "es5"
    return root if (root / BUNDLE).is_file() else None


def _wanted(relative: str) -> bool:
    """The bundle, and anything in a folder (what the bundle loads); not the other bundles."""
    return relative == BUNDLE or "/" in relative


class MathJaxFinder(BaseFinder):
    """Finds `mathjax/tex-chtml.js` and the files in the folders beside it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.root = mathjax_root()
        self.storage = FileSystemStorage(location=self.root) if self.root else None
        if self.storage is not None:
            self.storage.prefix = PREFIX  # collectstatic puts the files under static/mathjax/

    def check(self, **kwargs):
        if self.root is None:
            return [Error("MathJax is missing: install django-static-mathjax (pyproject.toml)", id="exercises.E001")]
        return []

    def find(self, path, find_all=False, **kwargs):
        found = self._find(path)
        if find_all:
            return [found] if found else []
        return found

    def _find(self, path: str) -> str | None:
        head, _, relative = path.partition("/")
        if self.root is None or head != PREFIX or not _wanted(relative) or ".." in relative.split("/"):
            return None
        candidate = self.root / relative
        return str(candidate) if candidate.is_file() else None

    def list(self, ignore_patterns):
        if self.root is None:
            return
        for file in sorted(self.root.rglob("*")):
            relative = file.relative_to(self.root).as_posix()
            if file.is_file() and _wanted(relative) and not matches_patterns(relative, ignore_patterns or []):
                yield relative, self.storage
