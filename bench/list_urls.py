"""Portico's URLs plus a Django admin site with one plain ModelAdmin: the changelist of
ConnectionRequest that bench/list_pages.py compares the Approved Requests page with.

Its own AdminSite (not Portico's /django-admin/), so nothing of it exists outside the benchmark.
It lists the facts the page shows, with their related rows fetched in the same query
(list_select_related: what a Django team would write), newest approval first, at the page's size.
"""

from django.contrib import admin
from django.urls import path

from credentials.connections.models import ConnectionRequest
from credentials.connections.views import PAGE_SIZE
from portal.urls import urlpatterns as portal_urlpatterns

site = admin.AdminSite(name="bench_admin")


@admin.register(ConnectionRequest, site=site)
class ConnectionRequestAdmin(admin.ModelAdmin):
    list_display = ("tenant", "organization", "credential_label", "decided_by", "decided_at", "expires_at", "health")
    list_select_related = ("tenant__organization", "decided_by")
    list_per_page = PAGE_SIZE
    ordering = ("-decided_at",)

    @admin.display(description="Organization")
    def organization(self, obj: ConnectionRequest) -> str:
        return str(obj.tenant.organization)


urlpatterns = [*portal_urlpatterns, path("bench-admin/", site.urls)]
