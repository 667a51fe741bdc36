"""The REST API's routes (mounted under /api/ by autograder/urls.py)."""

from django.urls import path

from exercises import api

urlpatterns = [
    path("auth/token/", api.TokenView.as_view(), name="api-token"),
    path("kinds/", api.KindListView.as_view(), name="api-kinds"),
    path("kinds/<str:kind_id>/", api.KindDetailView.as_view(), name="api-kind-detail"),
    path("courses/", api.CourseListView.as_view(), name="api-courses"),
    path("courses/<int:course_id>/", api.CourseDetailView.as_view(), name="api-course-detail"),
    path("courses/<int:course_id>/memberships/", api.MembershipListView.as_view(), name="api-memberships"),
    path(
        "courses/<int:course_id>/memberships/<int:membership_id>/",
        api.MembershipDetailView.as_view(),
        name="api-membership-detail",
    ),
    path("courses/<int:course_id>/problem-sets/", api.ProblemSetListView.as_view(), name="api-problem-sets"),
    path("problem-sets/<int:problem_set_id>/", api.ProblemSetDetailView.as_view(), name="api-problem-set-detail"),
    path("problem-sets/<int:problem_set_id>/questions/", api.QuestionListView.as_view(), name="api-questions"),
    path("problem-sets/<int:problem_set_id>/gradebook/", api.GradebookView.as_view(), name="api-gradebook"),
    path("questions/<int:question_id>/", api.QuestionDetailView.as_view(), name="api-question-detail"),
    path("questions/<int:question_id>/variant/", api.VariantView.as_view(), name="api-question-variant"),
    path(
        "questions/<int:question_id>/variants/<int:student_id>/",
        api.StaffVariantView.as_view(),
        name="api-question-student-variant",
    ),
    path(
        "questions/<int:question_id>/submissions/",
        api.SubmissionListView.as_view(),
        name="api-question-submissions",
    ),
    path("questions/<int:question_id>/solution/", api.SolutionView.as_view(), name="api-question-solution"),
    path("questions/<int:question_id>/regrade/", api.RegradeView.as_view(), name="api-question-regrade"),
    path("submissions/<int:submission_id>/", api.SubmissionDetailView.as_view(), name="api-submission-detail"),
]
