"""Messages the assistant sends outside a conversation: text messages (SMS) to a resident's phone."""
