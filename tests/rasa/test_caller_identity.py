"""The action server does not import the privacy package: its copies of the caller id's
prefix and of the metadata key must be the gateway's."""

from actions import conversation
from integrations.shared import identity


def test_the_actions_read_callers_as_the_gateway_names_them():
    assert conversation.CALLER_PREFIX == identity.CALLER_PREFIX
    assert conversation.CALLER_TOKEN_KEY == identity.METADATA_KEY
