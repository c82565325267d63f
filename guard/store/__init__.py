"""The guard's state in SQLite or PostgreSQL: tables, migrations and the only-once writes."""

from guard.store.coordination import claim_lease, lock_environment, release_lease
from guard.store.engine import make_engine, make_session_factory
from guard.store.migrate import UpgradeResult, current_revision, head_revision, upgrade
from guard.store.models import (
    Delivery,
    DeliveryOutcome,
    Deployment,
    Freeze,
    Incident,
    IncidentState,
    Installation,
    KnownBadSha,
    ProbeResultRow,
    Remedy,
    RemedyState,
    TimelineEvent,
    Verification,
    VerificationState,
)
from guard.store.only_once import (
    claim_incident,
    claim_remedy,
    next_incident_code,
    record_delivery,
    record_deployment,
    set_installation,
)
from guard.store.timeline import add_timeline_event, deployment_timeline

__all__ = [
    "Delivery",
    "DeliveryOutcome",
    "Deployment",
    "Freeze",
    "Incident",
    "IncidentState",
    "Installation",
    "KnownBadSha",
    "ProbeResultRow",
    "Remedy",
    "RemedyState",
    "TimelineEvent",
    "UpgradeResult",
    "Verification",
    "VerificationState",
    "add_timeline_event",
    "claim_incident",
    "claim_lease",
    "claim_remedy",
    "current_revision",
    "deployment_timeline",
    "head_revision",
    "lock_environment",
    "make_engine",
    "make_session_factory",
    "next_incident_code",
    "record_delivery",
    "record_deployment",
    "release_lease",
    "set_installation",
    "upgrade",
]
