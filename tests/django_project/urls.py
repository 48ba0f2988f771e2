"""The test project's routes (views.py)."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("visit/", views.visit),
    path("show/", views.show),
    path("key/", views.key),
    path("login/", views.sign_in),
    path("logout/", views.sign_out),
    path("whoami/", views.whoami),
    path("password/", views.change_password),
    path("messages/add/", views.add_message),
    path("messages/", views.show_messages),
    path("form/", views.form),
    path("submit/", views.submit),
    path("race/", views.race),
    path("expiry/", views.expiry),
    path("stream/", views.stream),
    path("async/", views.async_visit),
    path("fail/", views.fail),
]
