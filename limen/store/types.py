"""Shared column types and annotated aliases for the models."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite stores none of the zone, so we restore it)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

guid = Annotated[str, mapped_column(sa.String(36))]
guid_pk = Annotated[str, mapped_column(sa.String(36), primary_key=True)]
tenant_fk = Annotated[str, mapped_column(sa.String(36), sa.ForeignKey("tenants.id", ondelete="CASCADE"), index=True)]
# Hashes of bearer secrets (codes, tokens, sessions) are their primary keys: the secret itself is never stored.
token_hash_pk = Annotated[str, mapped_column(sa.String(64), primary_key=True)]
utc = Annotated[datetime, mapped_column(UTCDateTime())]
json_value = Annotated[Any, mapped_column(JSONType)]
