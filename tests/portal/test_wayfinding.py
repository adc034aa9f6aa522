"""Finding one's way (issue 13, part 8): My API Keys in the menu and on Home, the count of what
waits for an approver, Add Secret disabled with its reason at the limit, and the section tabs as plain navigation."""

import re

import pytest

from portal.roles import Role
from tests.approvals.test_inbox_pages import make_approvals
from tests.factories import UserFactory, make_api_credential

pytestmark = pytest.mark.django_db


def main_nav(html: str) -> str:
    return re.search(r'<nav class="main-nav" aria-label="Main">(.*?)</nav>', html, re.S).group(1)


def test_my_api_keys_is_in_the_menu_and_on_home_for_consumers_only(client, consumer, approver):
    client.force_login(consumer)
    home = client.get("/").content.decode()
    assert 'href="/preferences/api-keys/"' in main_nav(home) or "My API Keys" in main_nav(home)
    assert "My API Keys" in main_nav(home)
    assert "The keys you hold for APIs" in home

    client.force_login(approver)
    assert "My API Keys" not in main_nav(client.get("/").content.decode())


def test_the_menu_marks_my_api_keys_as_the_current_page(client, consumer):
    client.force_login(consumer)
    nav = main_nav(client.get("/preferences/api-keys/").content.decode())
    assert re.search(r'<a href="/preferences/api-keys/"[^>]*aria-current="page"[^>]*>My API Keys', nav)
    assert nav.count('aria-current="page"') == 1


def test_approvers_see_how_many_approvals_wait_for_them(client, approver, organization):
    requester = UserFactory(username="requester", organization=organization, roles=(Role.CONSUMER,))
    client.force_login(approver)
    nav = main_nav(client.get("/").content.decode())
    assert "nav-count" not in nav  # nothing waits: no badge

    make_approvals(requester, 0, 3, named=[approver])
    home = client.get("/").content.decode()
    assert re.search(
        r'Approvals <span class="nav-count">3<span class="visually-hidden"> waiting for your decision', home
    )
    assert "3 key requests wait for your decision." in home

    make_approvals_other = UserFactory(username="other-approver", organization=organization, roles=(Role.APPROVER,))
    client.force_login(make_approvals_other)  # named on none of them
    assert "nav-count" not in main_nav(client.get("/").content.decode())


def test_the_count_costs_one_query_and_only_on_pages_that_show_it(
    client, approver, organization, django_assert_num_queries
):
    requester = UserFactory(username="requester", organization=organization, roles=(Role.CONSUMER,))
    make_approvals(requester, 0, 2, named=[approver])
    client.force_login(approver)
    with django_assert_num_queries(5):  # session, user, the user's permissions (twice), the count
        client.get("/")


def test_add_secret_is_disabled_with_the_reason_beside_it_at_the_limit(client, org_admin, organization):
    client.force_login(org_admin)
    page = client.get("/account/integration/connection-api-credentials/").content.decode()
    assert re.search(r'<a class="button button--primary" href="[^"]+" hx-get=', page)  # below the limit: a link

    for n in range(3):
        make_api_credential(organization, name=f"Client {n}")
    page = client.get("/account/integration/connection-api-credentials/").content.decode()
    assert re.search(
        r'<button type="button" class="button button--primary" disabled aria-describedby="credential-count">', page
    )
    assert "Add Secret</button>" in page
    assert "3 of 3 in use: delete one to add another" in page


def test_section_tabs_are_plain_navigation_with_aria_current(client, consumer, hub_admin):
    client.force_login(consumer)
    page = client.get("/preferences/api-keys/").content.decode()
    assert 'role="tab' not in page and "aria-selected" not in page
    assert '<nav class="tabs" aria-label="User Preferences">' in page
    client.force_login(hub_admin)
    page = client.get("/admin-center/connections/approved/").content.decode()
    assert 'role="tab' not in page
    assert '<nav class="tabs" aria-label="API Management Connections">' in page
