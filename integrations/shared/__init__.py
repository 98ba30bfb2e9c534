"""What the work-order service, the channels and the phone line all need.

Privacy (encryption, keyed hashes, masking, redaction), the sender contract
between the notifier and the channels (``delivery``), engines, sessions and
column types (``sql``) and the default file locations (``paths``). Imports no
other project package.
"""
