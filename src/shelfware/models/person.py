"""People: one human across apps, matched by normalised email."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from shelfware.models.base import Base, id_column


class Person(Base):
    __tablename__ = "person"

    id: Mapped[int] = id_column()
    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime]
