"""App configs: Django's own apps on ObjectId primary keys (MongoDB), and the project's checks."""

from __future__ import annotations

from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig
from django.contrib.auth.apps import AuthConfig
from django.contrib.contenttypes.apps import ContentTypesConfig

OBJECT_ID_FIELD = "django_mongodb_backend.fields.ObjectIdAutoField"


class MongoAdminConfig(AdminConfig):
    default_auto_field = OBJECT_ID_FIELD
    default_site = "support.admin_site.SupportAdminSite"


class MongoAuthConfig(AuthConfig):
    default_auto_field = OBJECT_ID_FIELD


class MongoContentTypesConfig(ContentTypesConfig):
    default_auto_field = OBJECT_ID_FIELD


class VoiceProjectConfig(AppConfig):
    name = "voiceproject"
    verbose_name = "Voice support server"

    def ready(self) -> None:
        from voiceproject import checks  # noqa: F401  (registers the system checks)
