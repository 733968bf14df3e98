"""Consumes LoRaWAN uplink events from MQTT, decodes them, and hands points to storage."""
