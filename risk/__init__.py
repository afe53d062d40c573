"""Risk layer: portfolio state, the guard, sizing.  Pure; it outranks the strategy."""
