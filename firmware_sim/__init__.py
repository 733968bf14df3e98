"""Simulated Leeds WIN devices: realistic signals, real payload formats, real uplink events."""
