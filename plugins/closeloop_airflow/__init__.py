"""closeloop's Airflow code: hooks, operators, sensors and triggers, the provider's way.

It lives in plugins/ so that every Airflow component, the triggerer included,
can import it: Airflow puts the plugins folder on sys.path.
"""
