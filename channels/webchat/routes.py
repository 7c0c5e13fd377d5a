"""Serves the web chat widget (script and style) and a sample government page that embeds it."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

router = APIRouter(prefix="/widget", tags=["widget"], include_in_schema=False)

STATIC_DIR = Path(__file__).resolve().parent
# Websites embed the script by a fixed address: browsers must check for a new version on every page load.
REVALIDATE = {"Cache-Control": "no-cache"}


@router.get("/widget.js")
async def widget_script() -> FileResponse:
    """The widget; `<script src=".../widget/widget.js" defer>` is all a website adds."""
    return FileResponse(STATIC_DIR / "widget.js", media_type="text/javascript; charset=utf-8", headers=REVALIDATE)


@router.get("/widget.css")
async def widget_style() -> FileResponse:
    """The widget's style, loaded by the script into its own shadow root."""
    return FileResponse(STATIC_DIR / "widget.css", media_type="text/css; charset=utf-8", headers=REVALIDATE)


@router.get("/demo")
async def demo_page() -> FileResponse:
    """A sample government website with the widget embedded, for trying it out and for the browser tests."""
    return FileResponse(STATIC_DIR / "demo.html", media_type="text/html; charset=utf-8", headers=REVALIDATE)
