"""URL routes: ``POST /generate`` and ``GET /jobs/<id>``."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("generate", views.generate, name="generate"),
    path("jobs/<str:job_id>", views.job_status, name="job-status"),
]
