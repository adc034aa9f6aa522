from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.http import HttpRequest

from portal.models import AuditEvent, Organization, User


@admin.register(User)
class PortalUserAdmin(UserAdmin):
    fieldsets = (*(UserAdmin.fieldsets or ()), ("Organization", {"fields": ("organization",)}))
    list_display = ("username", "email", "organization", "is_active", "is_staff")
    list_filter = ("organization", "groups", "is_active")


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "created_at")
    prepopulated_fields = {"slug": ("name",)}
    search_fields = ("name", "slug")


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the audit log is append-only, whoever asks."""

    list_display = ("created_at", "actor_username", "action", "target_type", "target_id", "ip_address")
    list_filter = ("action", "target_type")
    search_fields = ("summary", "target_repr", "actor_username")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False
