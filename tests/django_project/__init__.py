"""A small Django 5.2 project on wsgisession.django, for tests/test_django.py (nothing runs at import)."""
