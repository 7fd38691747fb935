"""Minimal single-settings Django project running ComfyUI workflows with one shared ComfyKit.

Run it::

    COMFYUI_BASE_URL=http://127.0.0.1:8188 \
        django-admin runserver --pythonpath examples --settings django_app.settings
"""
