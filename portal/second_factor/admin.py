"""The Django admin's authenticator apps, without their keys.

A staff member must never be able to copy a hub admin's second factor (django-otp's own TOTP admin
shows each key and its QR code). Here staff see who enrolled when, reset a lockout
(the failure count) or delete a device, which releases a user who lost the app and the codes.
"""

from django.contrib import admin
from django.http import HttpRequest

from portal.second_factor.models import AuthenticatorApp


class AuthenticatorAppAdmin(admin.ModelAdmin):
    list_display = ["user", "name", "confirmed", "created_at", "last_used_at", "throttling_failure_count"]
    list_filter = ["confirmed"]
    search_fields = ["user__username"]
    fields = [
        "user",
        "name",
        "confirmed",
        "created_at",
        "last_used_at",
        "throttling_failure_count",
        "throttling_failure_timestamp",
    ]
    readonly_fields = ["user", "name", "confirmed", "created_at", "last_used_at", "throttling_failure_timestamp"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # enrolment is the user's own, in User Preferences


admin.site.register(AuthenticatorApp, AuthenticatorAppAdmin)
