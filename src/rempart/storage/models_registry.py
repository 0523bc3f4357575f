"""Import every domain's models so that the metadata is complete for migrations."""

from rempart.alerts import models as alert_models
from rempart.audit import models as audit_models  # noqa: F401 (registers the audit tables)
from rempart.auth import models as auth_models
from rempart.coverage import models as coverage_models
from rempart.guard import models as guard_models
from rempart.ingest import models as ingest_models
from rempart.member import models as member_models
from rempart.population import models as population_models
from rempart.providers import models as provider_models
from rempart.storage.base import Base

__all__ = [
    "Base", "alert_models", "auth_models", "coverage_models", "guard_models", "ingest_models",
    "member_models", "population_models", "provider_models",
]
