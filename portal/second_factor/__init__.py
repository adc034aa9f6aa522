"""A second factor for hub admins and approvers (django-otp: TOTP, and recovery codes as static tokens).

Enrolment and removal live in User Preferences; `step_up.step_up_required` asks for a fresh code
before a guarded action (deciding an approval or a connection request, rolling a runtime
target's credentials) when the last check of the session is older than PORTICO_STEP_UP_MINUTES.
"""
