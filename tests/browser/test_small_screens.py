"""What a person sees on a phone (390x844): the Admin Center menu above the page, in groups, and
nothing wider than the screen; the dashboard chart drawn for the phone, its numbers also a table."""

import re

import pytest
from playwright.sync_api import Page, expect

from approvals.demo import seed_api_keys, seed_connection_requests
from tests.browser.helpers import DESKTOP, PHONE, assert_accessible, login

ADMIN_CENTER_PAGES = [
    "/admin-center/",
    "/admin-center/connections/pending/",
    "/admin-center/connections/approved/",
    "/admin-center/apis/",
    "/admin-center/targets/",
    "/admin-center/emails/",
    "/admin-center/audit/",
]


@pytest.fixture
def demo_data(demo_accounts):
    """Connection requests (one approved) and keys that expire soon, so lists and chart have rows."""
    seed_connection_requests(demo_accounts)
    seed_api_keys(demo_accounts)


@pytest.fixture
def hub_admin_phone(new_page, live_server, demo_data) -> Page:
    page = new_page(PHONE)
    login(page, live_server, "hub-admin")
    return page


def box(locator) -> dict[str, float]:
    found = locator.bounding_box()
    assert found is not None, f"{locator} is not on screen"
    return found


@pytest.mark.parametrize("path", ADMIN_CENTER_PAGES)
def test_the_admin_center_menu_sits_above_the_page_in_groups_within_the_screen(hub_admin_phone, live_server, path):
    page = hub_admin_phone
    page.goto(live_server.url + path)
    menu = page.get_by_role("navigation", name="Admin Center")
    expect(menu).to_be_visible()

    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "the page scrolls sideways"
    menu_box = box(menu)
    links = menu.get_by_role("link")
    assert links.count() == 7
    for index in range(links.count()):
        link = box(links.nth(index))
        assert link["x"] >= 0 and link["x"] + link["width"] <= PHONE["width"], "a menu link runs off the screen"

    # A group's name has a row of its own: no link sits beside it, as "APIS APIs" did.
    groups = menu.locator(".side-nav__group")
    for index in range(groups.count()):
        group = box(groups.nth(index))
        for link_index in range(links.count()):
            link = box(links.nth(link_index))
            beside = link["y"] < group["y"] + group["height"] and group["y"] < link["y"] + link["height"]
            assert not beside, (
                f"{groups.nth(index).inner_text()} shares a row with {links.nth(link_index).inner_text()}"
            )

    # The menu comes first, the page's own content below it.
    content = page.locator(".with-side-nav > :not(nav)").first
    assert box(content)["y"] >= menu_box["y"] + menu_box["height"]


def test_the_dashboard_chart_is_drawn_for_the_phone_and_its_numbers_are_a_table(hub_admin_phone, live_server):
    page = hub_admin_phone
    page.goto(live_server.url + "/admin-center/")

    chart = page.get_by_role("img", name=re.compile("the table below gives the numbers"))
    expect(chart).to_have_count(1)  # one drawing shown (and announced), not both
    chart_box = box(chart)
    assert chart_box["x"] >= 0 and chart_box["x"] + chart_box["width"] <= PHONE["width"]
    # Its week labels are type a person reads (the laptop drawing shrank them to 5 px).
    label = chart.locator("text.chart__axis", has_text=re.compile(r"^[A-Z][a-z]{2} \d{1,2}$")).first
    assert box(label)["height"] >= 10

    table = page.get_by_role("table", name=re.compile("Expiring API keys and connection credentials, by week"))
    expect(table).to_be_visible()
    expect(table.get_by_role("columnheader")).to_have_text(["Week of", "API keys", "Connection credentials", "Total"])
    expect(table.get_by_role("rowheader")).to_have_count(13)
    table_box = box(table)
    assert table_box["x"] + table_box["width"] <= PHONE["width"], "the table runs off the screen"
    totals = [int(cell) for cell in table.locator("tbody td:last-child").all_inner_texts()]
    assert sum(totals) >= 2, "the demo's keys that expire soon are counted"
    assert_accessible(page, "the dashboard on a phone")


def test_a_tenant_admin_reads_in_full_who_re_establishes_an_expiring_connection(new_page, live_server, demo_data):
    # At 1280 px too: the sentence in place of a button wraps within the table instead of running
    # past the card's edge, where the table's scroll box cut it off.
    page = new_page(DESKTOP)
    login(page, live_server, "tenant-admin")
    page.goto(f"{live_server.url}/manage/connectivity/")
    note = page.get_by_text(re.compile(r"^Expires in \d+ days, on .*: ask a hub admin to re-establish it\.$"))
    expect(note).to_be_visible()
    scroll_box = page.locator(".table-wrap").filter(has=note)
    assert box(note)["x"] + box(note)["width"] <= box(scroll_box)["x"] + box(scroll_box)["width"]
    assert scroll_box.evaluate("box => box.scrollWidth <= box.clientWidth")
