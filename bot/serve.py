"""The Rasa server's entry point: Rasa's own command line, with one measured
fix applied first.

    python -m bot.serve run --model models/zh-….tar.gz ...   (what tools/run.py starts)

Rasa 3.6 checks every action server answer with ``jsonschema.validate``,
which first re-validates the (constant) answer schema against its
metaschema. Profiling the server under `make bench-dialogue` (py-spy) put
two thirds of its CPU per turn there, since a form turn makes two or three
action calls. Here the validator is built once, on first use, and then only
checks the answers, with the same schema and the same error message.
"""
from __future__ import annotations

from typing import Any


def install_cached_response_validation() -> None:
    from jsonschema import ValidationError, validators
    from rasa.core.actions import action as rasa_action
    from rasa.shared.constants import DOCS_BASE_URL

    compiled: dict[str, Any] = {}

    def validate_action_result(self: Any, result: dict[str, Any]) -> bool:
        validator = compiled.get("validator")
        if validator is None:
            schema = self.action_response_format_spec()
            cls = validators.validator_for(schema)
            cls.check_schema(schema)
            validator = compiled.setdefault("validator", cls(schema))
        try:
            validator.validate(result)
            return True
        except ValidationError as e:
            e.message += (
                ". Failed to validate Action server response from API, make sure your "
                "response from the Action endpoint is valid. For more information about "
                f"the format visit {DOCS_BASE_URL}/custom-actions"
            )
            raise e

    rasa_action.RemoteAction._validate_action_result = validate_action_result


def main() -> None:
    install_cached_response_validation()
    from rasa.__main__ import main as rasa_main

    rasa_main()


if __name__ == "__main__":
    main()
