"""``protocol.schema`` serves the generated bundle at runtime: cached bundle, cached per-definition validators."""

from __future__ import annotations

import pytest

from protocol._generated.methods import ServerNotificationMethod
from protocol.schema import schema_bundle, validator_for


def test_bundle_holds_every_definition_including_the_method_unions() -> None:
    defs = schema_bundle()["$defs"]
    assert {"ClientRequest", "ClientNotification", "ServerRequest", "ServerNotification", "Thread"} <= set(defs)
    assert schema_bundle() is schema_bundle()


def test_validator_is_cached_per_definition() -> None:
    assert validator_for("Thread") is validator_for("Thread")


def test_unknown_definition_is_a_key_error() -> None:
    with pytest.raises(KeyError, match="NoSuchThing"):
        validator_for("NoSuchThing")


def test_notification_message_validates_against_the_server_notification_union() -> None:
    """The test client validates every server line this way."""
    validator = validator_for("ServerNotification")
    good = {"method": ServerNotificationMethod.THREAD_CLOSED, "params": {"threadId": "t1"}}
    assert validator.is_valid(good)
    assert not validator.is_valid({"method": ServerNotificationMethod.THREAD_CLOSED, "params": {}})
    assert not validator.is_valid({"method": "no/such/notification", "params": {}})
