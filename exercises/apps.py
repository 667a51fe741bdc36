from django.apps import AppConfig


class ExercisesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "exercises"

    def ready(self) -> None:
        from django.core.signals import request_started

        from autograder.db_connections import close_hung_up_connections

        # after Django's own close_old_connections (connected when django.db was imported)
        request_started.connect(close_hung_up_connections, dispatch_uid="close_hung_up_connections")
