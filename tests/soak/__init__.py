"""An unattended month, simulated (issue 16): the launchd schedule of KRX played over N trading
days with an injected clock, as real ``qtx`` processes against the local Kiwoom and Telegram
fakes, with faults drawn from a seed; then checks that nothing was missed or doubled.

    python -m tests.soak --days 30 --seed 1        # make soak DAYS=30 SEED=1

``market`` serves the bars, ``plan`` draws the faults, ``driver`` plays the schedule and
``checks`` judges the result.  See docs/operations.md.
"""
