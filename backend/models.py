"""Imports every domain's models, so that Alembic and the app see one complete metadata."""
from backend.directory.models import (  # noqa: F401
    Institution, Population, Region, ServicePackage, Staff, Team, TeamMember, TeamPackage,
    TeamServiceArea,
)
from backend.residents.models import Account, AccountResident, Resident, ResidentGroup  # noqa: F401
from backend.security.models import AccessLog  # noqa: F401
from backend.wechat.models import WeChatToken  # noqa: F401
from backend.contracts.models import Contract, ContractItem, ContractPackage  # noqa: F401
from backend.followups.models import Condition, FollowUp  # noqa: F401
from backend.notifications.models import JobRun, Notification, SchedulerLease, SubscriptionCredit  # noqa: F401
from backend.fulfilment.models import Call, ServiceDelivery  # noqa: F401
from backend.referrals.models import Referral  # noqa: F401
from backend.exams.models import HealthCheck  # noqa: F401
from backend.sync.models import ResidentMove  # noqa: F401
from backend.imports.models import ImportRejection, ImportRun  # noqa: F401
from backend.stats.models import StatCell, StatSnapshot  # noqa: F401
