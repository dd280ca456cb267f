"""The coordination process: the calendar, the roster, the normalized model, the rules, task states."""
