"""The web UI's routes (mounted at the site root by autograder/urls.py)."""

from django.urls import path

from exercises import (
    api_urls,  # noqa: F401 - registers the "id" path converter
    password_reset,
    web,
)

urlpatterns = [
    path("", web.home, name="ui-home"),
    path("favicon.ico", web.favicon, name="ui-favicon"),
    path("sign-in/", web.SignInView.as_view(), name="ui-sign-in"),
    path("sign-out/", web.SignOutView.as_view(), name="ui-sign-out"),
    path("password-reset/", password_reset.RequestResetView.as_view(), name="ui-password-reset"),
    path("password-reset/sent/", password_reset.ResetSentView.as_view(), name="ui-password-reset-sent"),
    path(
        "password-reset/<uidb64>/<token>/",
        password_reset.SetNewPasswordView.as_view(),
        name="ui-password-reset-confirm",
    ),
    path("password-reset/done/", password_reset.ResetCompleteView.as_view(), name="ui-password-reset-complete"),
    path("problem-sets/<id:problem_set_id>/", web.problem_set_page, name="ui-problem-set"),
    path("problem-sets/<id:problem_set_id>/extensions/", web.grant_extension, name="ui-grant-extension"),
    path(
        "problem-sets/<id:problem_set_id>/extensions/<id:student_id>/revoke/",
        web.revoke_extension,
        name="ui-revoke-extension",
    ),
    path("questions/<id:question_id>/", web.question_page, name="ui-question"),
    path("questions/<id:question_id>/submit/", web.submit, name="ui-submit"),
    path("questions/<id:question_id>/rerun/", web.rerun_submissions, name="ui-rerun"),
    path("questions/<id:question_id>/grade-again/", web.grade_errors_again, name="ui-grade-again"),
    path("questions/<id:question_id>/solution/", web.solution_page, name="ui-solution"),
    path("submissions/<id:submission_id>/", web.submission_page, name="ui-submission"),
]
