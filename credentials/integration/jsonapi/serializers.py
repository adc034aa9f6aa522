"""JSON:API resource objects of the REST API (/api/...), rendered by djangorestframework-jsonapi.

These serializers only render, except the two write serializers, which check the shape of a
write's attributes (types, lengths); the parser's document checks are in jsonapi/base.py and
documents.py, and the rules of the values are credentials.integration.services', which makes the
change. Ids are the public ids (organizations: their slug), never database integers.
"""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers as drf_serializers
from rest_framework_json_api import serializers
from rest_framework_json_api.relations import ResourceRelatedField

from credentials.integration.metadata import MAX_BYTES as METADATA_MAX_BYTES
from credentials.integration.models import MAX_TOKEN_LIFETIME, MIN_TOKEN_LIFETIME, ApiCredential, Role
from credentials.lib import outbound
from portal.models import Organization


class PublicIdRelatedField(ResourceRelatedField):
    """A to-one relationship identified by a public id, with self and related links."""

    def __init__(self, *, id_field: str, **kwargs: object) -> None:
        self.id_field = id_field
        kwargs.setdefault("read_only", True)
        kwargs.setdefault("related_link_lookup_field", "public_id")
        super().__init__(**kwargs)

    def use_pk_only_optimization(self) -> bool:
        return False  # the id is the public id, not the pk DRF would hand over

    def get_resource_id(self, value: object) -> str:
        return getattr(value, self.id_field)


class OrganizationSerializer(serializers.ModelSerializer):
    id = drf_serializers.CharField(source="slug", read_only=True)
    url = drf_serializers.HyperlinkedIdentityField(
        view_name="jsonapi-organization-detail", lookup_field="slug", lookup_url_kwarg="public_id"
    )

    class Meta:
        model = Organization
        resource_name = "organizations"
        fields = ["id", "url", "name", "slug", "created_at"]


class RoleSerializer(serializers.ModelSerializer):
    id = drf_serializers.CharField(source="public_id", read_only=True)
    url = drf_serializers.HyperlinkedIdentityField(view_name="jsonapi-role-detail", lookup_field="public_id")
    scopes = drf_serializers.CharField(read_only=True)
    organization = PublicIdRelatedField(
        id_field="slug",
        self_link_view_name="jsonapi-role-relationships",
        related_link_view_name="jsonapi-role-organization",
    )

    included_serializers = {"organization": OrganizationSerializer}

    class Meta:
        model = Role
        resource_name = "roles"
        fields = ["id", "url", "name", "kind", "scopes", "created_at", "updated_at", "organization"]


class ApiCredentialSerializer(serializers.ModelSerializer):
    """The S5 resource object. `client_secret` is only in the answer that creates the secret."""

    id = drf_serializers.CharField(source="public_id", read_only=True)
    url = drf_serializers.HyperlinkedIdentityField(view_name="jsonapi-credential-detail", lookup_field="public_id")
    client_secret = drf_serializers.SerializerMethodField()
    # Empty when none was given, so a string rather than a URL in the document.
    redirect_uri = drf_serializers.CharField(read_only=True)
    metadata = drf_serializers.DictField(read_only=True)
    organization = PublicIdRelatedField(
        id_field="slug",
        self_link_view_name="jsonapi-credential-relationships",
        related_link_view_name="jsonapi-credential-organization",
    )
    role = PublicIdRelatedField(
        id_field="public_id",
        self_link_view_name="jsonapi-credential-relationships",
        related_link_view_name="jsonapi-credential-role",
    )

    included_serializers = {"organization": OrganizationSerializer, "role": RoleSerializer}

    class Meta:
        model = ApiCredential
        resource_name = "api_credentials"
        fields = [
            "id",
            "url",
            "name",
            "kind",
            "confidential",
            "redirect_uri",
            "client_id",
            "client_secret",
            "scopes",
            "expires_in",
            "mode",
            "custom",
            "created_at",
            "updated_at",
            "reference",
            "reference_origin",
            "metadata",
            "organization",
            "role",
        ]
        read_only_fields = fields

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        if "client_secret" not in self.context:
            self.fields.pop("client_secret", None)

    @extend_schema_field({"type": "string", "description": "Only in the answer that creates the secret."})
    def get_client_secret(self, obj: ApiCredential) -> str:
        return self.context["client_secret"]


class TextField(drf_serializers.CharField):
    """Text only: a number where text belongs is refused, not turned into "12345" (DRF's CharField
    would), so a client's mistake is not stored as if it were meant."""

    default_error_messages = {"invalid": "Send text (a JSON string) here."}

    def to_internal_value(self, data: object) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class HttpsUrlField(drf_serializers.URLField):
    default_error_messages = {"invalid": outbound.HTTPS_URL_INVALID}

    def to_internal_value(self, data: object) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        value = super().to_internal_value(data)
        if value and not value.startswith("https://"):
            self.fail("invalid")
        return value


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": True,
        "nullable": True,
        "description": f"Any JSON object of at most {METADATA_MAX_BYTES} bytes.",
    }
)
class MetadataField(drf_serializers.JSONField):
    """A JSON object; its limits (size, depth, characters) are the service's rules."""

    default_error_messages = {"invalid": "Metadata is a JSON object."}

    def to_internal_value(self, data: object) -> dict:
        if not isinstance(data, dict):
            self.fail("invalid")
        return data


@extend_schema_field(
    {
        "oneOf": [
            {"type": "integer", "minimum": MIN_TOKEN_LIFETIME, "maximum": MAX_TOKEN_LIFETIME},
            {"type": "string", "pattern": "^[0-9]+$", "description": 'A whole number as text, e.g. "7200".'},
        ],
        "description": f"Token lifetime in seconds, {MIN_TOKEN_LIFETIME} to {MAX_TOKEN_LIFETIME}.",
    }
)
class WholeNumberField(drf_serializers.IntegerField):
    """An integer, also sent as text by command-line clients ("7200"), never a boolean."""

    def to_internal_value(self, data: float | int | str) -> int:
        if isinstance(data, bool):
            self.fail("invalid")
        return super().to_internal_value(data)


class ApiCredentialUpdateSerializer(drf_serializers.Serializer):
    """The writable attributes of PATCH (S5). Numbers sent as strings are accepted when whole
    ("7200"); null clears a text attribute. The role relationship is read by the view."""

    # None in ApiCredentialCreateSerializer: DRF drops a declared field a subclass sets to None.
    id: drf_serializers.CharField | None = drf_serializers.CharField(
        help_text="The id of the API credential, as in the URL."
    )
    name = TextField(max_length=200, allow_blank=True, allow_null=True, trim_whitespace=True)
    redirect_uri = HttpsUrlField(max_length=500, allow_blank=True, allow_null=True)
    expires_in = WholeNumberField(min_value=MIN_TOKEN_LIFETIME, max_value=MAX_TOKEN_LIFETIME)
    reference = TextField(max_length=200, allow_blank=True, allow_null=True, trim_whitespace=False)
    reference_origin = TextField(max_length=200, allow_blank=True, allow_null=True, trim_whitespace=False)
    metadata = MetadataField(allow_null=True)
    role = ResourceRelatedField(
        queryset=Role.objects.none(),
        required=False,
        allow_null=True,
        help_text="A role of the token's organization; null sets the organization's read-only role.",
    )

    class Meta:
        resource_name = "api_credentials"

    def to_internal_value(self, data: dict) -> dict:
        values = super().to_internal_value(data)
        for field in ("name", "redirect_uri", "reference", "reference_origin"):
            if field in values and values[field] is None:
                values[field] = ""
        if "metadata" in values and values["metadata"] is None:
            values["metadata"] = {}
        return values


class ApiCredentialCreateSerializer(ApiCredentialUpdateSerializer):
    """POST: the PATCH attributes, and the mode and kind (only "connection") of the new credential."""

    id = None
    mode = drf_serializers.ChoiceField(choices=ApiCredential.Mode.values)
    kind = drf_serializers.ChoiceField(choices=ApiCredential.Kind.values)

    class Meta:
        resource_name = "api_credentials"


UPDATABLE_ATTRIBUTES = frozenset({"name", "redirect_uri", "expires_in", "reference", "reference_origin", "metadata"})
CREATABLE_ATTRIBUTES = UPDATABLE_ATTRIBUTES | {"mode", "kind"}
ALL_ATTRIBUTES = frozenset(ApiCredentialSerializer.Meta.fields) - {"id", "url", "organization", "role"}
