"""Sphinx extension for the book's pages: an .ipynb download, and no Thebe scripts.

The theme's download menu offers an ``.ipynb`` only when the page context names one,
which MyST-NB 1.x no longer does for Markdown notebooks. This copies the notebook that
MyST-NB executed during the build (with its outputs) next to the page's ``.md`` source
in ``_sources/`` and names it, so the menu has both.

Jupyter Book 1 also always loads sphinx-thebe, which adds to every page a script naming
thebe's script on the unpkg CDN, its loader, and a Binder configuration block,
even with ``launch_buttons: thebe: false``. The book has no live-code button, so these
only put a CDN address and a duplicate ``const`` (a console error) into pages that are
meant to work offline. This removes them after the theme has collected the page.

Each chapter runs in a kernel that MyST-NB starts through jupyter_client, whose managers
leave the kernel's sockets unencrypted unless told otherwise (ipykernel then warns once
per page). MyST-NB offers no way to configure its kernel manager, so the managers this
build creates default to CurveZMQ keys instead: the kernelspec declares support for them.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

_THEBE_BLOCKS = re.compile(
    r"\s*<script type=\"text/x-thebe-config\">.*?</script>"
    r"|\s*<script>kernelName = '[^']*'</script>",
    re.DOTALL,
)


def _is_thebe(script: Any) -> bool:
    name = str(getattr(script, "filename", "") or "")
    body = str(getattr(script, "attributes", {}).get("body", ""))
    return name.endswith("sphinx-thebe.js") or "THEBE_JS_URL" in body


def _strip_thebe(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    if "script_files" in context:
        context["script_files"] = [s for s in context["script_files"] if not _is_thebe(s)]
    if "css_files" in context:
        context["css_files"] = [
            c for c in context["css_files"]
            if not str(getattr(c, "filename", "") or "").endswith("sphinx-thebe.css")
        ]
    if isinstance(context.get("body"), str):
        context["body"] = _THEBE_BLOCKS.sub("", context["body"])


def _add_ipynb(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    executed = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if doctree is None or not executed.is_file():
        return
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(executed, target)
    context["ipynb_source"] = f"{pagename}.ipynb"


def _encrypt_kernel_transport() -> None:
    from jupyter_client.manager import KernelManager

    KernelManager.class_traits()["transport_encryption"].default_value = "auto"


def setup(app: Any) -> dict[str, bool]:
    _encrypt_kernel_transport()
    # before the theme builds its header buttons (priority 501)
    app.connect("html-page-context", _add_ipynb, priority=400)
    app.connect("html-page-context", _strip_thebe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
