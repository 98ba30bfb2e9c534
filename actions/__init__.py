"""Custom actions of the residents' assistant (rasa_sdk finds every Action
subclass in the package's modules).

One concept per module: report_start / report_form / report_submit take a
report, status answers "我的事怎么样了", cancel withdraws an order,
satisfaction carries the follow-up visit, handoff brings in a person.
Pure helpers (normalize, answers, report_text, replies, taxonomy) hold the
rules and texts; workorders_client is the one client of the work-order
service.
"""
