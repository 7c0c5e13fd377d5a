"""The gateway's side of the dialogue engine: the Rasa client, and building the model Rasa serves."""
