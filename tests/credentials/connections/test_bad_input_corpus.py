"""The bad input corpus against pasted tenant credentials and the connectivity pages
(tests/data/bad_input/): parse_tenant_credentials, New connection request, Edit Credentials and
Register tenant. Every case is refused (CredentialsError naming the field, or the form again with
its error) and changes no row. Pastes are saved "without testing", so only the paste checks stand
between them and the database.

The rows the cases start from are made once for the module (tests/data/corpus.py, module_rows).
"""

import pytest

from tests.data import corpus

PASTES = corpus.load("pasted_credentials")
FORMS = corpus.load("connection_forms")


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    with corpus.module_rows(django_db_blocker):
        yield corpus.connection_world()


@pytest.mark.parametrize("case", PASTES, ids=corpus.case_id)
def test_parse_refuses_the_bad_paste(world, db, case):
    corpus.run_paste_case(world, case)


@pytest.mark.parametrize("page", ["submit", "edit"])
@pytest.mark.parametrize("case", PASTES, ids=corpus.case_id)
def test_the_pages_refuse_the_bad_paste(world, db, case, page):
    corpus.run_paste_on_page(world, case, page=page)


@pytest.mark.parametrize(
    ("case", "page"),
    [(case, page) for case in FORMS for page in case["pages"]],
    ids=[f"{case['id']}-{page}" for case in FORMS for page in case["pages"]],
)
def test_the_pages_refuse_the_bad_form(world, db, case, page):
    corpus.run_connection_form(world, case, page=page)


@pytest.mark.parametrize("case", corpus.load("tenant_register"), ids=corpus.case_id)
def test_register_tenant_refuses_the_bad_form(world, db, case):
    corpus.run_tenant_case(world, case)
