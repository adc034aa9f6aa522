"""The bad input corpus against the Admin Center's forms (tests/data/bad_input/api_create.json
and runtime_target.json): New API and New runtime target. Every case is refused (the form again
with its error beside the field) and changes no row.

The rows the cases start from are made once for the module (tests/data/corpus.py, module_rows).
"""

import pytest

from tests.data import corpus


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    with corpus.module_rows(django_db_blocker):
        yield corpus.admin_world()


@pytest.mark.parametrize("case", corpus.load("api_create"), ids=corpus.case_id)
def test_new_api_refuses_the_bad_form(world, db, case):
    corpus.run_admin_form_case(world, case, surface="api_create")


@pytest.mark.parametrize("case", corpus.load("runtime_target"), ids=corpus.case_id)
def test_new_runtime_target_refuses_the_bad_form(world, db, case):
    corpus.run_admin_form_case(world, case, surface="runtime_target")
