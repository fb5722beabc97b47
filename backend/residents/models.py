"""Residents, their key-population tags, and the WeChat accounts they are bound to."""
from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend import clock
from backend.extensions import IdMixin, TimestampMixin, UTCDateTime, db
from backend.security.fields import EncryptedText
from backend.security.masking import mask_phone

SEXES = ("male", "female")
RELATIONS = ("self", "spouse", "parent", "child", "other")
# Tags staff set by hand; the others (age, conditions) are derived and never stored.
STAFF_SET_GROUPS = (
    "pregnant", "severe_mental_disorder", "tuberculosis", "disabled", "poverty_relief",
    "special_family_planning",
)
DERIVED_GROUPS = ("elderly_65", "child_0_6", "hypertension", "diabetes")
MAX_BOUND_RESIDENTS = 8


class Resident(IdMixin, TimestampMixin, db.Model):
    __tablename__ = "residents"
    __table_args__ = (
        # Scopes and statistics select residents by region prefix (LIKE '220802101%'):
        # PostgreSQL uses an index for that only with the pattern operator class.
        sa.Index("ix_residents_region_prefix", "region_code",
                 postgresql_ops={"region_code": "varchar_pattern_ops"}),
    )

    name: Mapped[str] = mapped_column(sa.String(50), index=True)
    # Encrypted at rest; found through the keyed-hash blind index, never by the plain value.
    id_number: Mapped[str] = mapped_column("id_number_enc", EncryptedText)
    id_number_index: Mapped[str] = mapped_column(sa.String(64), unique=True)
    phone: Mapped[str | None] = mapped_column("phone_enc", EncryptedText)
    phone_index: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    # The phone as every list shows it (139****5678), kept beside the ciphertext so that a list
    # of fifty does not decrypt fifty numbers; set whenever the phone is (see _show_phone).
    phone_shown: Mapped[str | None] = mapped_column(sa.String(20))
    # A call found the number wrong: staff should fix it (cleared when the phone changes).
    phone_wrong: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    birth_date: Mapped[date] = mapped_column(sa.Date, index=True)
    sex: Mapped[str] = mapped_column(sa.String(6))
    region_code: Mapped[str | None] = mapped_column(sa.ForeignKey("regions.code"), index=True)
    address: Mapped[str | None] = mapped_column(sa.String(200))
    # "staff" when registered by a team, "self" when a resident bound itself first.
    source: Mapped[str] = mapped_column(sa.String(10), default="staff")

    # Every period a staff-set tag was in force, written through here: a tag removed is closed, not
    # deleted, so that statistics for a past day count that day's tags (groups.in_force_on).
    tag_history: Mapped[list[ResidentGroup]] = relationship(
        cascade="all, delete-orphan", order_by="[ResidentGroup.set_on, ResidentGroup.group]")
    # The tags in force now: what every screen, rule and contract reads, loaded with the resident.
    tags: Mapped[list[ResidentGroup]] = relationship(
        primaryjoin="and_(Resident.id == ResidentGroup.resident_id, ResidentGroup.removed_on.is_(None))",
        lazy="selectin", viewonly=True, order_by="ResidentGroup.group")


@sa.event.listens_for(Resident.phone, "set")
def _show_phone(resident: Resident, phone: str | None, _old, _initiator) -> None:
    resident.phone_shown = mask_phone(phone)


class ResidentGroup(db.Model):
    """A key-population tag set by staff (pregnant, disabled, ...), over the days it was in force:
    from ``set_on`` up to the day before ``removed_on`` (None while it still is)."""

    __tablename__ = "resident_groups"
    __table_args__ = (
        # A tag is in force at most once at a time, whatever writes it.
        sa.Index("uq_resident_groups_current", "resident_id", "group", unique=True,
                 sqlite_where=sa.text("removed_on IS NULL"), postgresql_where=sa.text("removed_on IS NULL")),
    )

    resident_id: Mapped[str] = mapped_column(sa.ForeignKey("residents.id"), primary_key=True)
    group: Mapped[str] = mapped_column(sa.String(32), primary_key=True, index=True)
    set_on: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    removed_on: Mapped[date | None] = mapped_column(sa.Date)


class Account(IdMixin, TimestampMixin, db.Model):
    """A WeChat user of the mini program (one per openid)."""

    __tablename__ = "accounts"

    openid: Mapped[str] = mapped_column(sa.String(128), unique=True)
    unionid: Mapped[str | None] = mapped_column(sa.String(128), index=True)
    # WeChat's session_key lets the server decrypt data the mini program sends; it stays here, encrypted.
    session_key: Mapped[str | None] = mapped_column("session_key_enc", EncryptedText)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    bindings: Mapped[list[AccountResident]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="AccountResident.created_at"
    )


class AccountResident(db.Model):
    """A resident bound to an account: the account holder or a family member."""

    __tablename__ = "account_residents"

    account_id: Mapped[str] = mapped_column(sa.ForeignKey("accounts.id"), primary_key=True)
    resident_id: Mapped[str] = mapped_column(sa.ForeignKey("residents.id"), primary_key=True, index=True)
    relation: Mapped[str] = mapped_column(sa.String(10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.utcnow)

    resident: Mapped[Resident] = relationship(lazy="joined")


def copies_resident_region(model) -> None:
    """``model`` (with ``resident_id`` and ``region_code``) keeps a copy of its resident's village,
    so that work lists find their rows by region through one index instead of joining every
    resident in the area: filled on insert, rewritten when the resident moves."""

    @sa.event.listens_for(model, "before_insert")
    def _fill(_mapper, connection, target) -> None:
        if target.region_code is None:
            target.region_code = connection.scalar(
                sa.select(Resident.region_code).where(Resident.id == target.resident_id))

    @sa.event.listens_for(Resident, "after_update")
    def _follow(_mapper, connection, resident) -> None:
        if sa.inspect(resident).attrs.region_code.history.has_changes():
            connection.execute(sa.update(model.__table__).where(model.__table__.c.resident_id == resident.id)
                               .values(region_code=resident.region_code))
