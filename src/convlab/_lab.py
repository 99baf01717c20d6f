"""The contents manager of ``make lab``: Jupytext's, so that the ``.md`` chapters open as
notebooks, and one change: a Python notebook is served with the ``language_info`` of this
environment's kernel.

JupyterLab copies the kernel's ``language_info`` into a notebook when the kernel starts. A
chapter opened as a notebook has none (Jupytext keeps it out of the ``.md`` file), and a
notebook written by another Python has another version, so the change alone would mark the
tab unsaved the moment it opens. Serving the same value the kernel will report leaves
nothing to change. Nothing is written to disk by this.

Used as ``jupyter lab --ServerApp.contents_manager_class=convlab._lab.LabContents``.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager
from jupytext.async_contentsmanager import build_async_jupytext_contents_manager_class

from convlab.notebooks import language_info

_Jupytext: Any = build_async_jupytext_contents_manager_class(AsyncLargeFileManager)


class LabContents(_Jupytext):  # type: ignore[misc, valid-type]
    """Jupytext's contents manager, serving notebooks with this kernel's ``language_info``."""

    async def get(self, path: str, content: bool = True, type: str | None = None,
                  format: str | None = None, **kwargs: Any) -> dict[str, Any]:
        model: dict[str, Any] = await super().get(
            path, content=content, type=type, format=format, **kwargs)
        if content and model.get("type") == "notebook":
            metadata = model["content"]["metadata"]
            if metadata.get("kernelspec", {}).get("language", "python") == "python":
                metadata["language_info"] = language_info()
        return model
