"""Grafana dashboards as code: generated, exported as JSON, provisioned or deployed."""
