"""Readers of the formats users already have (EasyEdit portability JSON, ROME CounterFact)."""
