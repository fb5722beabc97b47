"""The directory: regions, institutions, staff, family-doctor teams, packages, populations."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.extensions import IdMixin, TimestampMixin, db

INSTITUTION_KINDS = ("county_hospital", "township_health_center", "community_health_center", "village_clinic")
STAFF_TITLES = ("doctor", "nurse", "public_health", "village_doctor", "admin")
ROLES = ("doctor", "institution_admin", "county_admin")
TEAM_ROLES = ("leader", "member")
PACKAGE_KINDS = ("basic", "personalized")
# Key populations (重点人群); which are derived and which set by staff is in domain-rules.md.
GROUPS = (
    "elderly_65", "child_0_6", "hypertension", "diabetes", "pregnant", "severe_mental_disorder",
    "tuberculosis", "disabled", "poverty_relief", "special_family_planning",
)


MONEY_FIELDS = ("price_fen", "public_health_fen", "insurance_fen", "self_pay_fen")


class PricedMixin:
    """A price in fen and who pays it: the public-health fund, insurance, the resident."""

    price_fen: Mapped[int] = mapped_column(default=0)
    public_health_fen: Mapped[int] = mapped_column(default=0)
    insurance_fen: Mapped[int] = mapped_column(default=0)
    self_pay_fen: Mapped[int] = mapped_column(default=0)

    @property
    def funding(self) -> dict:
        return {
            "public_health_fen": self.public_health_fen,
            "insurance_fen": self.insurance_fen,
            "self_pay_fen": self.self_pay_fen,
        }


class Region(db.Model):
    __tablename__ = "regions"

    code: Mapped[str] = mapped_column(sa.String(12), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    level: Mapped[str] = mapped_column(sa.String(10))
    parent_code: Mapped[str | None] = mapped_column(sa.ForeignKey("regions.code"), index=True)


class Institution(IdMixin, TimestampMixin, db.Model):
    __tablename__ = "institutions"

    name: Mapped[str] = mapped_column(sa.String(100))
    kind: Mapped[str] = mapped_column(sa.String(32))
    region_code: Mapped[str] = mapped_column(sa.ForeignKey("regions.code"), index=True)

    region: Mapped[Region] = relationship(lazy="joined")


class Staff(IdMixin, TimestampMixin, db.Model):
    __tablename__ = "staff"

    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    name: Mapped[str] = mapped_column(sa.String(50))
    title: Mapped[str] = mapped_column(sa.String(20))
    roles: Mapped[list] = mapped_column(sa.JSON, default=list)
    institution_id: Mapped[str | None] = mapped_column(sa.ForeignKey("institutions.id"), index=True)
    # The area a county_admin administers; none means the whole deployment.
    region_code: Mapped[str | None] = mapped_column(sa.ForeignKey("regions.code"))
    active: Mapped[bool] = mapped_column(default=True)

    institution: Mapped[Institution | None] = relationship(lazy="joined")
    memberships: Mapped[list[TeamMember]] = relationship(back_populates="staff", lazy="selectin")

    @property
    def team_ids(self) -> list[str]:
        return sorted(m.team_id for m in self.memberships)


class Team(IdMixin, TimestampMixin, db.Model):
    __tablename__ = "teams"

    name: Mapped[str] = mapped_column(sa.String(100))
    institution_id: Mapped[str] = mapped_column(sa.ForeignKey("institutions.id"), index=True)
    # Set by an administrator to stay under the national ceiling; none means the ceiling itself.
    capacity_limit: Mapped[int | None] = mapped_column()
    active: Mapped[bool] = mapped_column(default=True)

    institution: Mapped[Institution] = relationship(lazy="joined")
    members: Mapped[list[TeamMember]] = relationship(
        back_populates="team", lazy="selectin", cascade="all, delete-orphan"
    )
    service_area: Mapped[list[TeamServiceArea]] = relationship(
        lazy="selectin", cascade="all, delete-orphan"
    )
    packages: Mapped[list[TeamPackage]] = relationship(lazy="selectin", cascade="all, delete-orphan")


class TeamServiceArea(db.Model):
    __tablename__ = "team_service_areas"

    team_id: Mapped[str] = mapped_column(sa.ForeignKey("teams.id"), primary_key=True)
    region_code: Mapped[str] = mapped_column(sa.ForeignKey("regions.code"), primary_key=True, index=True)


class TeamPackage(db.Model):
    __tablename__ = "team_packages"

    team_id: Mapped[str] = mapped_column(sa.ForeignKey("teams.id"), primary_key=True)
    package_code: Mapped[str] = mapped_column(sa.ForeignKey("service_packages.code"), primary_key=True)


class TeamMember(db.Model):
    __tablename__ = "team_members"

    team_id: Mapped[str] = mapped_column(sa.ForeignKey("teams.id"), primary_key=True)
    staff_id: Mapped[str] = mapped_column(sa.ForeignKey("staff.id"), primary_key=True, index=True)
    team_role: Mapped[str] = mapped_column(sa.String(10), default="member")

    team: Mapped[Team] = relationship(back_populates="members")
    staff: Mapped[Staff] = relationship(back_populates="memberships", lazy="joined")


class ServicePackage(IdMixin, TimestampMixin, PricedMixin, db.Model):
    __tablename__ = "service_packages"

    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    kind: Mapped[str] = mapped_column(sa.String(16))
    items: Mapped[list] = mapped_column(sa.JSON, default=list)
    eligible_groups: Mapped[list] = mapped_column(sa.JSON, default=list)
    active: Mapped[bool] = mapped_column(default=True)


class Population(db.Model):
    """Denominators for the statistics: resident population (常住人口) and key groups."""

    __tablename__ = "populations"

    region_code: Mapped[str] = mapped_column(sa.ForeignKey("regions.code"), primary_key=True)
    year: Mapped[int] = mapped_column(primary_key=True)
    resident_population: Mapped[int] = mapped_column()
    groups: Mapped[dict] = mapped_column(sa.JSON, default=dict)
