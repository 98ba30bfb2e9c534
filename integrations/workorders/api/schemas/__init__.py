"""Request and response bodies (pydantic v2): ``XCreate`` / ``XUpdate`` in, ``XPublic`` out."""
