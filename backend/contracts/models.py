"""Contracts (签约) between a resident and a family-doctor team, with their priced packages."""
from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.directory.models import PricedMixin
from backend.extensions import IdMixin, TimestampMixin, UTCDateTime, db
from backend.residents.models import copies_resident_region

_LIVE = "status IN ('pending', 'active')"


class Contract(IdMixin, TimestampMixin, PricedMixin, db.Model):
    __tablename__ = "contracts"
    __table_args__ = (
        # One pending-or-active contract per resident, held by the database itself; a renewal
        # (which overlaps the term it renews) is held to one per renewed contract instead.
        sa.Index("uq_contracts_live_resident", "resident_id", unique=True,
                 postgresql_where=sa.text(f"{_LIVE} AND renewal_of IS NULL"),
                 sqlite_where=sa.text(f"{_LIVE} AND renewal_of IS NULL")),
        sa.Index("uq_contracts_live_renewal", "renewal_of", unique=True,
                 postgresql_where=sa.text(_LIVE), sqlite_where=sa.text(_LIVE)),
        # A team's contracts by status; its contracted residents (the team card's count) are
        # counted from this index alone, in resident order.
        sa.Index("ix_contracts_team_status", "team_id", "status", "resident_id",
                 postgresql_include=["start_date", "end_date"]),
        # The residents a team holds live contracts with outside its villages, read from this
        # index alone as ranges of region codes (a status list ahead of the region would leave
        # the ranges to a filter over all the team's contracts).
        sa.Index("ix_contracts_team_live_region", "team_id", "region_code", postgresql_include=["resident_id"],
                 postgresql_where=sa.text(_LIVE), sqlite_where=sa.text(_LIVE)),
        sa.Index("ix_contracts_status_end", "status", "end_date"),
    )

    resident_id: Mapped[str] = mapped_column(sa.ForeignKey("residents.id"), index=True)
    # The resident's village, copied (see copies_resident_region).
    region_code: Mapped[str | None] = mapped_column(sa.String(12))
    team_id: Mapped[str] = mapped_column(sa.ForeignKey("teams.id"))
    doctor_id: Mapped[str | None] = mapped_column(sa.ForeignKey("staff.id"))
    status: Mapped[str] = mapped_column(sa.String(12), default="pending")
    start_date: Mapped[date | None] = mapped_column(sa.Date)
    end_date: Mapped[date | None] = mapped_column(sa.Date)
    renewal_of: Mapped[str | None] = mapped_column(sa.ForeignKey("contracts.id"))
    # Who signed it up: an account (the mini program) or a team member on site.
    created_by_kind: Mapped[str] = mapped_column(sa.String(10))
    created_by_id: Mapped[str] = mapped_column(sa.String(36))
    decided_by_id: Mapped[str | None] = mapped_column(sa.String(36))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_on: Mapped[date | None] = mapped_column(sa.Date)
    reason: Mapped[str | None] = mapped_column(sa.String(200))
    # The most any of its items owes for the term, set with the items (contracts.service.owe_items):
    # a contract owes nothing yet until this times the days passed reaches the term's days, so
    # the team's work list leaves such contracts out without reading their items.
    most_owed: Mapped[int | None] = mapped_column()
    # How far it was behind on ``behind_on`` (fulfilment.progress.count_behind): taken for the
    # day by the nightly job and again by every write that changes what its items count, and
    # read by the team's work list for that day.
    behind_on: Mapped[date | None] = mapped_column(sa.Date)
    behind_by: Mapped[int | None] = mapped_column()

    packages: Mapped[list[ContractPackage]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="ContractPackage.package_code"
    )
    # What the resident is owed for the term, copied from the packages' items when signed.
    items: Mapped[list[ContractItem]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="ContractItem.code"
    )

    @property
    def package_codes(self) -> list[str]:
        return [p.package_code for p in self.packages]


copies_resident_region(Contract)


class ContractPackage(PricedMixin, db.Model):
    """A package as it was priced on the day of signing: a later change does not rewrite it."""

    __tablename__ = "contract_packages"

    contract_id: Mapped[str] = mapped_column(sa.ForeignKey("contracts.id"), primary_key=True)
    package_code: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    kind: Mapped[str] = mapped_column(sa.String(16))


class ContractItem(db.Model):
    """A service the contract owes the resident in its term (履约), as it stood when signed."""

    __tablename__ = "contract_items"
    # What a team's work list reads of each contract's items, from the index alone: with it the
    # planner probes ten thousand contracts' items one by one instead of hashing the whole table.
    __table_args__ = (sa.Index("ix_contract_items_owed", "contract_id",
                               postgresql_include=["owed", "delivered"]),)

    contract_id: Mapped[str] = mapped_column(sa.ForeignKey("contracts.id"), primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    owed: Mapped[int] = mapped_column()
    # Set for a chronic follow-up item: face-to-face follow-ups of that disease count toward it.
    follow_up_disease: Mapped[str | None] = mapped_column(sa.String(16))
    # Set for the annual health check item: health-check records count toward it.
    health_check: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # What was delivered of it in the term so far, for an active contract: counted again in the
    # same transaction as every write that can change it (fulfilment.progress.count_delivered),
    # so that the team's work list reads it instead of every resident's deliveries.
    delivered: Mapped[int] = mapped_column(default=0, server_default="0")


class TeamCount(db.Model):
    """How many residents a team holds contracts with in force on ``counted_on`` (the team
    card's count), kept by contracts.counts: taken again by every write that changes the
    team's contracts, in that write's transaction, and for each new day by the nightly job. A
    team not counted for today is counted from its contracts."""

    __tablename__ = "team_counts"

    team_id: Mapped[str] = mapped_column(sa.ForeignKey("teams.id"), primary_key=True)
    counted_on: Mapped[date] = mapped_column(sa.Date)
    contracted: Mapped[int] = mapped_column()
