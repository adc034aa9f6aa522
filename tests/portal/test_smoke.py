def test_login_page_renders(client, db):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert b"Log on" in response.content


def test_home_needs_login(client, db):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_hub_admin_sees_admin_center(client, hub_admin):
    client.force_login(hub_admin)
    response = client.get("/")
    assert b"Admin Center" in response.content
