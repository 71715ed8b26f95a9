"""Pseudonymisation protects only with a key: without one, prepare stops unless params say the
data is a demo (an unkeyed hash of an e-mail address is reversed by a dictionary)."""

from __future__ import annotations

import logging

import pytest

from conveyor.config import DataSettings, parse_settings
from conveyor.errors import ConfigError
from conveyor.stages.prepare import pseudonym_key
from tests.conftest import churn_params


def _data(**changes: object) -> DataSettings:
    params = churn_params()
    params["data"].update(changes)
    return parse_settings(params).data


def test_the_key_comes_from_the_named_variable() -> None:
    data = _data(pseudonymise_key_env="TEAM_KEY")
    assert pseudonym_key(data, {"TEAM_KEY": "s3cret"}) == b"s3cret"


def test_without_a_key_prepare_stops_naming_the_variable_and_the_columns() -> None:
    with pytest.raises(ConfigError) as caught:
        pseudonym_key(_data(), {})
    message = str(caught.value)
    assert "CONVEYOR_PSEUDONYM_KEY" in message
    assert "['customer_email']" in message
    assert "dictionary" in message
    assert "data.pseudonymise_unkeyed: true" in message


def test_an_empty_key_is_no_key() -> None:
    with pytest.raises(ConfigError, match="CONVEYOR_PSEUDONYM_KEY"):
        pseudonym_key(_data(), {"CONVEYOR_PSEUDONYM_KEY": ""})


def test_a_demo_may_hash_unkeyed_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="conveyor"):
        assert pseudonym_key(_data(pseudonymise_unkeyed=True), {}) is None
    assert "unkeyed SHA-256" in caplog.text


def test_no_pseudonymised_columns_need_no_key(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="conveyor"):
        assert pseudonym_key(_data(pseudonymise_columns=[]), {}) is None
    assert caplog.text == ""


def test_the_demo_switch_is_validated() -> None:
    with pytest.raises(ConfigError, match=r"data\.pseudonymise_unkeyed"):
        _data(pseudonymise_unkeyed="maybe")
