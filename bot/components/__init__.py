"""Custom Rasa graph components for Chinese residents' reports."""
