"""The bad input corpus against the REST API and Account > Integration (tests/data/bad_input/):
JSON:API documents of create and update, token requests, Add Secret's two steps. Every case is
refused (a 4xx, or the form again with its error) and changes no row.

The rows the cases start from are made once for the module (tests/data/corpus.py, module_rows).
"""

from types import SimpleNamespace

import pytest

from tests.data import corpus


@pytest.fixture(scope="module")
def worlds(django_db_setup, django_db_blocker):
    with corpus.module_rows(django_db_blocker):
        yield SimpleNamespace(api=corpus.api_world(), add_secret=corpus.add_secret_world())


@pytest.mark.parametrize("case", corpus.load("jsonapi_create"), ids=corpus.case_id)
def test_jsonapi_create_refuses_the_bad_document(worlds, db, case):
    corpus.run_jsonapi_case(worlds.api, case, update=False)


@pytest.mark.parametrize("case", corpus.load("jsonapi_update"), ids=corpus.case_id)
def test_jsonapi_update_refuses_the_bad_document(worlds, db, case):
    corpus.run_jsonapi_case(worlds.api, case, update=True)


@pytest.mark.parametrize("case", corpus.load("token"), ids=corpus.case_id)
def test_the_token_endpoint_refuses_the_bad_request(worlds, db, case):
    corpus.run_token_case(worlds.api, case)


@pytest.mark.parametrize("case", corpus.load("api_credential_add"), ids=corpus.case_id)
def test_add_secret_refuses_the_bad_form(worlds, db, case):
    corpus.run_add_secret_case(worlds.add_secret, case)
