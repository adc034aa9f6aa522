from django.apps import AppConfig


class SecondFactorConfig(AppConfig):
    name = "portal.second_factor"
    label = "second_factor"
    verbose_name = "Second factor"
