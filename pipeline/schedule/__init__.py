"""When a stage may act (calendar, timetable, the gate) and whether it did (runs, catch-up, monitor)."""
