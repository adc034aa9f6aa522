"""The bad input corpus (tests/data/bad_input/) on PostgreSQL: the same cases and judges as the
SQLite pass (tests/data/corpus.py), where NUL in text or jsonb, over-long values and invalid
JSON raise instead of being stored. Every case is refused and changes no row."""

from types import SimpleNamespace

import pytest

from tests.data import corpus

pytestmark = pytest.mark.integration


def _cases():
    for surface in corpus.SURFACES:
        for case in corpus.load(surface):
            if surface == "pasted_credentials":
                yield from ((f"{surface}-{page}", case) for page in ("submit", "edit"))
            elif surface == "connection_forms":
                yield from ((f"{surface}-{page}", case) for page in case["pages"])
            else:
                yield surface, case


CASES = list(_cases())


def _param(surface: str, case: dict):
    return pytest.param(surface, case, id=f"{surface}-{case['id']}")


@pytest.fixture(scope="module")
def worlds(django_db_setup, django_db_blocker):
    with corpus.module_rows(django_db_blocker):
        yield SimpleNamespace(
            api=corpus.api_world(),
            connections=corpus.connection_world(),
            add_secret=corpus.add_secret_world(),
            admin=corpus.admin_world(),
        )


@pytest.mark.parametrize(("surface", "case"), [_param(surface, case) for surface, case in CASES])
def test_postgresql_refuses_every_case_of_the_corpus(worlds, db, surface, case):
    if surface in ("jsonapi_create", "jsonapi_update"):
        corpus.run_jsonapi_case(worlds.api, case, update=surface == "jsonapi_update")
    elif surface == "token":
        corpus.run_token_case(worlds.api, case)
    elif surface.startswith("pasted_credentials-"):
        corpus.run_paste_on_page(worlds.connections, case, page=surface.rsplit("-", 1)[1])
    elif surface.startswith("connection_forms-"):
        corpus.run_connection_form(worlds.connections, case, page=surface.rsplit("-", 1)[1])
    elif surface == "tenant_register":
        corpus.run_tenant_case(worlds.connections, case)
    elif surface == "api_credential_add":
        corpus.run_add_secret_case(worlds.add_secret, case)
    else:
        corpus.run_admin_form_case(worlds.admin, case, surface=surface)
