"""Serves web chat's pages: the widget (script and style), a sample government page that embeds it, the chat page."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

router = APIRouter(tags=["widget"], include_in_schema=False)

STATIC_DIR = Path(__file__).resolve().parent / "static"
# Websites embed the script by a fixed address: browsers must check for a new version on every page load.
REVALIDATE = {"Cache-Control": "no-cache"}


@router.get("/widget/widget.js")
async def widget_script() -> FileResponse:
    """The widget; `<script src=".../widget/widget.js" defer>` is all a website adds."""
    return FileResponse(STATIC_DIR / "widget.js", media_type="text/javascript; charset=utf-8", headers=REVALIDATE)


@router.get("/widget/widget.css")
async def widget_style() -> FileResponse:
    """The widget's style, loaded by the script into its own shadow root."""
    return FileResponse(STATIC_DIR / "widget.css", media_type="text/css; charset=utf-8", headers=REVALIDATE)


@router.get("/widget/demo")
async def demo_page() -> FileResponse:
    """A sample government website with the widget embedded, for trying it out and for the browser tests."""
    return FileResponse(STATIC_DIR / "demo.html", media_type="text/html; charset=utf-8", headers=REVALIDATE)


@router.get("/")
async def chat_page() -> FileResponse:
    """A simple chat page on the gateway's own address, for trying the assistant."""
    return FileResponse(STATIC_DIR / "chat.html", media_type="text/html; charset=utf-8")


@router.get("/chat.js")
async def chat_page_script() -> FileResponse:
    """The chat page's script (a file of its own: the pages allow no inline script)."""
    return FileResponse(STATIC_DIR / "chat.js", media_type="text/javascript; charset=utf-8", headers=REVALIDATE)
