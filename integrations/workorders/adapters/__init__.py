"""Adapters of the work-order service: database tables, sessions, senders."""
