"""Custom actions, served by `rasa run actions --actions actions`.

Actions are thin: they read slots, call the work-order service through one
client class and return events. Each action lives in its own small module.
"""
