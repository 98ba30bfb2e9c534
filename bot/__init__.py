"""Rasa side of the assistant: domain, stories and the custom NLU components."""
