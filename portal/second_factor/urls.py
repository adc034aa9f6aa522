from django.urls import path

from portal.second_factor import views

app_name = "second_factor"

urlpatterns = [
    path("preferences/second-factor/start/", views.enrol_start, name="enrol-start"),
    path("preferences/second-factor/enrol/", views.enrol, name="enrol"),
    path("preferences/second-factor/recovery-codes/", views.recovery_codes_regenerate, name="recovery-codes"),
    path("preferences/second-factor/remove/", views.remove, name="remove"),
    path("confirm-its-you/", views.confirm, name="confirm"),
]
