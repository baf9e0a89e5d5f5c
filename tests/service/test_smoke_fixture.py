from ccm_core.domain.policy import Actor
from ccm_core.service_layer import services


def test_fixture(uow):
    case = services.record_complaint(
        uow, Actor.system(), channel="web", language="en", category="billing", description="Charged twice"
    )
    assert case.reference == "CMP-2026-000001"
