"""Conversation analytics: the consumer of Rasa's event broker queue
(``python -m integrations.conversations consume``); see ``consumer``."""
