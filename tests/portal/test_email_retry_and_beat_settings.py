"""The knobs the reminder delivery test turns: the email retry backoff and the beat intervals.

Production keeps its defaults (30 s doubling to an hour; crontab schedules); the settings are read
in a fresh process, since they are read once at startup."""

import json
import subprocess
import sys
from datetime import timedelta

import pytest

from portal import emails
from tests.portal.test_settings import BASE_DIR, production_env, run_python


@pytest.mark.parametrize(("attempts", "seconds"), [(1, 30), (2, 60), (3, 120), (8, 3600), (12, 3600)])
def test_a_refused_email_is_retried_after_30_seconds_doubling_up_to_an_hour(attempts, seconds, monkeypatch):
    monkeypatch.setattr(emails.random, "uniform", lambda low, high: 1.0)  # no jitter
    assert emails._backoff(attempts) == timedelta(seconds=seconds)


def test_the_retry_base_comes_from_the_setting(settings, monkeypatch):
    monkeypatch.setattr(emails.random, "uniform", lambda low, high: 1.0)
    settings.PORTICO_EMAIL_RETRY_BASE_SECONDS = 1
    assert [emails._backoff(n) for n in (1, 2, 3)] == [timedelta(seconds=s) for s in (1, 2, 4)]


BEAT_PROBE = """
import json
from django.conf import settings
schedule = settings.CELERY_BEAT_SCHEDULE
print(json.dumps({name: str(entry["schedule"]) for name, entry in schedule.items()}
                 | {"retry_base": settings.PORTICO_EMAIL_RETRY_BASE_SECONDS}))
"""


def test_production_settings_keep_the_crontab_schedules_and_the_30_second_retry():
    probe = json.loads(run_python(["-c", BEAT_PROBE], production_env()).stdout)

    assert probe["retry_base"] == 30
    assert probe["send-expiry-reminders"].startswith("<crontab: 5 * * * *")
    assert probe["deliver-due-emails"].startswith("<crontab: * * * * *")


def test_beat_intervals_run_the_named_entries_every_few_seconds():
    env = production_env(
        PORTICO_BEAT_INTERVALS="send-expiry-reminders=2,deliver-due-emails=0.5", PORTICO_EMAIL_RETRY_BASE_SECONDS="1"
    )

    probe = json.loads(run_python(["-c", BEAT_PROBE], env).stdout)

    assert probe["send-expiry-reminders"] == "0:00:02"
    assert probe["deliver-due-emails"] == "0:00:00.500000"
    assert probe["expire-keys"].startswith("<crontab: */10")  # the others unchanged
    assert probe["retry_base"] == 1


@pytest.mark.parametrize("value", ["send-reminders=2", "deliver-due-emails"])
def test_beat_intervals_refuse_an_unknown_entry_or_a_missing_interval(value):
    result = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-c", BEAT_PROBE],
        cwd=BASE_DIR,
        env=production_env(PORTICO_BEAT_INTERVALS=value),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode != 0
    assert "ImproperlyConfigured: PORTICO_BEAT_INTERVALS" in result.stderr
