"""The pages of the credentials app, one list per domain, all in the "credentials" namespace."""

from credentials.connections import urls as connections
from credentials.integration import urls as integration
from credentials.keys import urls as keys

app_name = "credentials"

urlpatterns = [*connections.urlpatterns, *keys.urlpatterns, *integration.urlpatterns]
