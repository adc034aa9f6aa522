import pytest

# helpers.reason_of asserts: let pytest rewrite them as it does the tests' own asserts.
pytest.register_assert_rewrite("tests.credentials.gateway.helpers")
