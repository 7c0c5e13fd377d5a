"""The web chat channel: a widget any website embeds with one script tag, talking to POST /api/chat."""
