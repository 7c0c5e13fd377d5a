"""Rasa custom actions, served by the rasa-sdk action server (`python -m rasa_sdk --actions bot.actions`).

Actions call the domain services in bot.services; they never run SQL themselves.
"""
