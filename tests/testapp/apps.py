from django.apps import AppConfig


class TestappConfig(AppConfig):
    """Models that exist only in the tests; installed by portal.settings_test, synced without migrations."""

    name = "tests.testapp"
    label = "testapp"
    default_auto_field = "django.db.models.BigAutoField"
