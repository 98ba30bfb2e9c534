"""What the work-order service, the channels and the phone line all need.

Privacy (encryption, keyed hashes, masking, redaction) and the sender contract
between the notifier and the channels. Imports no other project package.
"""
