"""What moto did on every call and is now done once: an existing account's backend is returned
without moto's process-wide lock, each JSONPath and each state machine definition is parsed once
(the package docstring says why each)."""

from __future__ import annotations

import functools
from typing import Any

import jsonpath_ng
import jsonpath_ng.ext
from moto.core.base_backend import BackendDict
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

_original_create_backend = BackendDict._create_account_specific_backend

_parse_jsonpath = functools.lru_cache(maxsize=4096)(jsonpath_ng.parse)
_parse_extended_jsonpath = functools.lru_cache(maxsize=4096)(jsonpath_ng.ext.parse)


def _existing_or_new_backend(self: BackendDict[Any], account_id: str) -> None:
    # A BackendDict only gains an account inside moto's create (which registers it for reset)
    # and loses all of them on reset: an account present here is created and registered.
    if dict.__contains__(self, account_id):
        return
    _original_create_backend(self, account_id)


@functools.lru_cache(maxsize=64)
def _parsed_program(definition: str) -> Any:
    return AmazonStateLanguageParser.parse(definition)[0]


def _program_parsed_once(self: ExecutionWorker) -> Any:
    return _parsed_program(self._evaluation_details.state_machine_details.definition)
