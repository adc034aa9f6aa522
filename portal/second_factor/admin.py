"""The Django admin's TOTP devices, without their keys.

django-otp's own admin shows each device's key and QR code (its config and qrcode pages): a staff
member could copy a hub admin's second factor. Here staff see who enrolled when, reset a lockout
(the failure count) or delete a device, which releases a user who lost the app and the codes.
"""

from django.contrib import admin
from django.http import HttpRequest
from django_otp.plugins.otp_totp.models import TOTPDevice


class TOTPDeviceAdmin(admin.ModelAdmin):
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


# This app comes after django-otp's plugins in INSTALLED_APPS, so their admin is registered already.
admin.site.unregister(TOTPDevice)
admin.site.register(TOTPDevice, TOTPDeviceAdmin)
