"""Models of the slas app: calendars, policies, stage clocks and breaches."""

from .calendar import BusinessCalendar, Holiday, WorkingHours
from .clock import (
    DELAY_REASON,
    SEVERITY_RANK,
    Breach,
    BreachReason,
    DetectedBy,
    Severity,
    Stage,
    StageClock,
    StopReason,
)
from .policy import ClockMode, DeliveryClockMode, PeakSeason, SlaPolicy

__all__ = [
    "DELAY_REASON",
    "SEVERITY_RANK",
    "Breach",
    "BreachReason",
    "BusinessCalendar",
    "ClockMode",
    "DeliveryClockMode",
    "DetectedBy",
    "Holiday",
    "PeakSeason",
    "Severity",
    "SlaPolicy",
    "Stage",
    "StageClock",
    "StopReason",
    "WorkingHours",
]
