"""Monthly reports built by hand: a busy October in the demo organisation, and a month with nothing in it."""

from __future__ import annotations

import datetime as dt

from ccm_core.service_layer.report import (
    BreachedCase,
    CategoryTrend,
    Durations,
    MonthlyReport,
    StepCompliance,
)

GENERATED = dt.datetime(2026, 11, 1, 5, 0, tzinfo=dt.UTC)

CATEGORY_LABELS = {
    "billing": {"tr": "Fatura", "en": "Billing", "de": "Rechnung"},
    "delivery": {"tr": "Teslimat", "en": "Delivery", "de": "Lieferung"},
    "product_defect": {"tr": "Ürün Hatası", "en": "Product defect", "de": "Produktmangel"},
    "refund": {"tr": "İade", "en": "Refund", "de": "Rückerstattung"},
    "service_quality": {"tr": "Hizmet Kalitesi", "en": "Service quality", "de": "Servicequalität"},
    "technical_issue": {"tr": "Teknik Sorun", "en": "Technical issue", "de": "Technisches Problem"},
}
DEPARTMENT_NAMES = {
    "customer_care": {"tr": "Müşteri Hizmetleri", "en": "Customer Care", "de": "Kundenservice"},
    "finance": {"tr": "Finans", "en": "Finance", "de": "Finanzen"},
    "logistics": {"tr": "Lojistik", "en": "Logistics", "de": "Logistik"},
    "quality": {"tr": "Kalite", "en": "Quality", "de": "Qualität"},
    "technical_support": {"tr": "Teknik Destek", "en": "Technical Support", "de": "Technischer Support"},
}


def october() -> MonthlyReport:
    """A month of 1,284 complaints: every figure set, follow-up rounds, recurring and breached cases."""
    return MonthlyReport(
        month="2026-10",
        generated_at=GENERATED,
        received=1284,
        by_channel={
            "web": 402,
            "whatsapp": 288,
            "telegram": 97,
            "phone": 241,
            "email": 133,
            "call_centre": 76,
            "social_media": 31,
            "operational_visit": 9,
            "survey": 7,
        },
        by_category={
            "delivery": 431,
            "billing": 262,
            "refund": 188,
            "product_defect": 171,
            "technical_issue": 139,
            "service_quality": 93,
        },
        by_department={
            "logistics": 431,
            "finance": 450,
            "quality": 171,
            "technical_support": 139,
            "customer_care": 93,
        },
        decided=1102,
        justified=865,
        unjustified=237,
        to_acknowledge=Durations(count=1284, median_hours=0.2, p90_hours=0.9),
        to_decide=Durations(count=1102, median_hours=31.5, p90_hours=70.25),
        to_close=Durations(count=958, median_hours=146.0, p90_hours=301.5),
        sla=[
            StepCompliance(step="acknowledge", due=1284, met_in_time=1261, breached=23),
            StepCompliance(step="interim_notice", due=1240, met_in_time=1153, breached=87),
            StepCompliance(step="decision", due=1131, met_in_time=968, breached=163),
            StepCompliance(step="action_completion", due=803, met_in_time=610, breached=193),
            StepCompliance(step="survey", due=790, met_in_time=771, breached=19),
        ],
        surveys_sent=790,
        surveys_answered=517,
        csat_distribution={1: 41, 2: 38, 3: 70, 4: 161, 5: 207},
        csat_average=3.8472,
        nps_answers=212,
        nps=23.6,
        follow_up_cases=79,
        follow_up_rounds={1: 79, 2: 21, 3: 4},
        closed=958,
        repeat_complainers=57,
        repeat_complaints=131,
        recurring=[
            CategoryTrend("delivery", this_month=431, last_month=502, actions_completed_last_month=38),
            CategoryTrend("billing", this_month=262, last_month=241, actions_completed_last_month=12),
            CategoryTrend("refund", this_month=188, last_month=188, actions_completed_last_month=5),
            CategoryTrend("product_defect", this_month=171, last_month=208, actions_completed_last_month=22),
        ],
        most_breached=[
            BreachedCase("CMP-2026-004211", "logistics", "delivery", breached_steps=3, hours_over=212.5),
            BreachedCase("CMP-2026-004377", "finance", "refund", breached_steps=3, hours_over=148.0),
            BreachedCase("CMP-2026-004502", "quality", "product_defect", breached_steps=2, hours_over=96.25),
            BreachedCase("CMP-2026-004118", "technical_support", "technical_issue", 2, 71.0),
            BreachedCase("CMP-2026-004690", "finance", "billing", breached_steps=2, hours_over=40.5),
            BreachedCase("CMP-2026-004733", "logistics", "delivery", breached_steps=1, hours_over=30.0),
        ],
        category_labels=CATEGORY_LABELS,
        department_names=DEPARTMENT_NAMES,
    )


def empty_month() -> MonthlyReport:
    """A month in which nothing was received, decided, surveyed or breached."""
    nothing = Durations(count=0, median_hours=None, p90_hours=None)
    return MonthlyReport(
        month="2026-10",
        generated_at=GENERATED,
        received=0,
        by_channel={},
        by_category={},
        by_department={},
        decided=0,
        justified=0,
        unjustified=0,
        to_acknowledge=nothing,
        to_decide=nothing,
        to_close=nothing,
        sla=[
            StepCompliance(step=step, due=0, met_in_time=0, breached=0)
            for step in ("acknowledge", "interim_notice", "decision", "action_completion", "survey")
        ],
        surveys_sent=0,
        surveys_answered=0,
        csat_distribution={},
        csat_average=None,
        nps_answers=0,
        nps=None,
        follow_up_cases=0,
        follow_up_rounds={},
        closed=0,
        repeat_complainers=0,
        repeat_complaints=0,
        recurring=[],
        most_breached=[],
        category_labels=CATEGORY_LABELS,
        department_names=DEPARTMENT_NAMES,
    )
