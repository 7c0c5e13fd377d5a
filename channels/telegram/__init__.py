"""The Telegram channel: python-telegram-bot in the gateway process, polling or fed by the webhook route."""
