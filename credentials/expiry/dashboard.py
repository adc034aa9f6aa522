"""The Admin Center dashboard: what expires in the next 90 days, by week (plain arithmetic for
a server-rendered SVG chart; the counts come from two aggregate queries)."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Q
from django.utils import timezone

from credentials.connections.models import ConnectionRequest
from credentials.keys.models import ApiKey

WEEKS = 13  # 91 days: the next 90 days and the rest of that week


@dataclass(frozen=True)
class Week:
    start: datetime
    keys: int
    connections: int

    @property
    def total(self) -> int:
        return self.keys + self.connections


def _weekly_counts(queryset, now: datetime) -> list[int]:
    buckets = {
        f"w{i}": Count(
            "pk",
            filter=Q(expires_at__gt=now + timedelta(weeks=i), expires_at__lte=now + timedelta(weeks=i + 1)),
        )
        for i in range(WEEKS)
    }
    # One query: the range filter uses the expires_at index, the buckets are conditional counts.
    row = queryset.filter(expires_at__gt=now, expires_at__lte=now + timedelta(weeks=WEEKS)).aggregate(**buckets)
    return [row[f"w{i}"] for i in range(WEEKS)]


def expiry_weeks(now: datetime | None = None) -> list[Week]:
    now = now or timezone.now()
    keys = _weekly_counts(ApiKey.objects.filter(status=ApiKey.Status.ACTIVE), now)
    connections = _weekly_counts(ConnectionRequest.objects.filter(status=ConnectionRequest.Status.APPROVED), now)
    return [Week(now + timedelta(weeks=i), keys[i], connections[i]) for i in range(WEEKS)]


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    keys_y: float
    keys_height: float
    connections_y: float
    connections_height: float
    week: Week

    @property
    def center(self) -> float:
        return round(self.x + self.width / 2, 1)


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    plot_top: int
    plot_bottom: int
    max_value: int
    bars: list[Bar]
    gridlines: list[tuple[float, int]]


def expiry_chart(weeks: list[Week], *, width: int = 720, height: int = 220) -> Chart:
    """Stacked bars, one a week: keys at the bottom, connection credentials on top."""
    plot_top, plot_bottom, left, right = 16, height - 36, 40, 8
    peak = max((w.total for w in weeks), default=0)
    max_value = max(peak, 4)
    scale = (plot_bottom - plot_top) / max_value
    slot = (width - left - right) / max(len(weeks), 1)
    bars = []
    for i, week in enumerate(weeks):
        keys_height = week.keys * scale
        connections_height = week.connections * scale
        bars.append(
            Bar(
                x=round(left + i * slot + slot * 0.15, 1),
                width=round(slot * 0.7, 1),
                keys_y=round(plot_bottom - keys_height, 1),
                keys_height=round(keys_height, 1),
                connections_y=round(plot_bottom - keys_height - connections_height, 1),
                connections_height=round(connections_height, 1),
                week=week,
            )
        )
    step = max(1, -(-max_value // 4))
    gridlines = [(round(plot_bottom - v * scale, 1), v) for v in range(0, max_value + 1, step)]
    return Chart(width, height, plot_top, plot_bottom, max_value, bars, gridlines)


def soonest_keys(limit: int = 20, now: datetime | None = None):
    now = now or timezone.now()
    return (
        ApiKey.objects.filter(status=ApiKey.Status.ACTIVE, expires_at__gt=now, expires_at__lte=now + timedelta(days=90))
        .select_related("api", "consumer")
        .order_by("expires_at")[:limit]
    )


def soonest_connections(limit: int = 20, now: datetime | None = None):
    now = now or timezone.now()
    return (
        ConnectionRequest.objects.filter(
            status=ConnectionRequest.Status.APPROVED, expires_at__lte=now + timedelta(days=90)
        )
        .select_related("tenant__organization")
        .order_by("expires_at")[:limit]
    )
