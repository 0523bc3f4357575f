"""Import every domain's models so that the metadata is complete for migrations."""

from rempart.ingest import models as ingest_models
from rempart.population import models as population_models
from rempart.providers import models as provider_models
from rempart.storage.base import Base

__all__ = ["Base", "ingest_models", "population_models", "provider_models"]
