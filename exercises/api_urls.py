"""The REST API's routes (mounted under /api/ by autograder/urls.py)."""

from django.urls import path, register_converter

from exercises import api

BIGINT_MAX = 2**63 - 1


class IdConverter:
    """A database id: digits that fit the 64-bit id columns. A larger number is a 404 like any
    unknown id, not a database error (SQLite refuses such an int outright)."""

    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > BIGINT_MAX:
            raise ValueError("id out of range")  # Django: this route does not match
        return number

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(IdConverter, "id")

urlpatterns = [
    path("auth/token/", api.TokenView.as_view(), name="api-token"),
    path("kinds/", api.KindListView.as_view(), name="api-kinds"),
    path("kinds/<str:kind_id>/", api.KindDetailView.as_view(), name="api-kind-detail"),
    path("courses/", api.CourseListView.as_view(), name="api-courses"),
    path("courses/<id:course_id>/", api.CourseDetailView.as_view(), name="api-course-detail"),
    path("courses/<id:course_id>/memberships/", api.MembershipListView.as_view(), name="api-memberships"),
    path(
        "courses/<id:course_id>/memberships/<id:membership_id>/",
        api.MembershipDetailView.as_view(),
        name="api-membership-detail",
    ),
    path("courses/<id:course_id>/problem-sets/", api.ProblemSetListView.as_view(), name="api-problem-sets"),
    path("problem-sets/<id:problem_set_id>/", api.ProblemSetDetailView.as_view(), name="api-problem-set-detail"),
    path("problem-sets/<id:problem_set_id>/questions/", api.QuestionListView.as_view(), name="api-questions"),
    path("problem-sets/<id:problem_set_id>/gradebook/", api.GradebookView.as_view(), name="api-gradebook"),
    path("problem-sets/<id:problem_set_id>/extensions/", api.ExtensionListView.as_view(), name="api-extensions"),
    path(
        "problem-sets/<id:problem_set_id>/extensions/<id:student_id>/",
        api.ExtensionDetailView.as_view(),
        name="api-extension-detail",
    ),
    path("questions/<id:question_id>/", api.QuestionDetailView.as_view(), name="api-question-detail"),
    path("questions/<id:question_id>/variant/", api.VariantView.as_view(), name="api-question-variant"),
    path(
        "questions/<id:question_id>/variants/<id:student_id>/",
        api.StaffVariantView.as_view(),
        name="api-question-student-variant",
    ),
    path(
        "questions/<id:question_id>/submissions/",
        api.SubmissionListView.as_view(),
        name="api-question-submissions",
    ),
    path("questions/<id:question_id>/solution/", api.SolutionView.as_view(), name="api-question-solution"),
    path("questions/<id:question_id>/regrade/", api.RegradeView.as_view(), name="api-question-regrade"),
    path("questions/<id:question_id>/rerun/", api.RerunView.as_view(), name="api-question-rerun"),
    path("questions/<id:question_id>/grading-errors/", api.GradingErrorsView.as_view(), name="api-question-grading-errors"),
    path("submissions/<id:submission_id>/", api.SubmissionDetailView.as_view(), name="api-submission-detail"),
    path(
        "submissions/<id:submission_id>/hidden-cases/",
        api.SubmissionHiddenCasesView.as_view(),
        name="api-submission-hidden-cases",
    ),
]
