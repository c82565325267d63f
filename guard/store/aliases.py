"""Table aliases the queries share, built once: SQLAlchemy builds an alias's columns anew for
each `aliased()` call, which cost a delivery's handler more than its queries did."""

from __future__ import annotations

from typing import Final

from sqlalchemy.orm import aliased

from guard.store.models import Deployment, Verification

# The deployment a remedy undid, beside the deployment a query is about.
FAILED_DEPLOYMENT: Final = aliased(Deployment, name="failed_deployment")
# Another verification of the same deployment (a later attempt).
OTHER_VERIFICATION: Final = aliased(Verification, name="other_verification")
