"""Every session-state key the console uses, in one place.

Widget keys double as the names of the values they hold, so a test can seed
``at.session_state[state.EXPLORER_SEARCH]`` before the first run.
"""

from __future__ import annotations

__all__ = [
    "VALIDATION_DIALOG",
    "VALIDATION_ID",
    "VALIDATION_REQUEST_FORM",
    "VALIDATION_RUN",
    "VALIDATION_DEEP",
    "VALIDATION_PICK",
    "VALIDATION_RESULT",
    "VALIDATION_ACCEPT",
    "VALIDATION_ACCEPTED",
    "VALIDATION_REASON",
    "VALIDATION_REASON_CODE",
    "VALIDATION_CONFIRM",
    "ACTOR_NAME",
    "ACTOR_ROLE",
    "CONNECTIONS_TESTS",
    "connection_test_key",
    "EXPLORER_APPLIED",
    "EXPLORER_ERROR_CODE",
    "EXPLORER_FLOW",
    "EXPLORER_PAGE",
    "EXPLORER_PAGE_FILTERS",
    "EXPLORER_SEARCH",
    "EXPLORER_SINCE",
    "EXPLORER_STATUS",
    "EXPLORER_SYSTEM",
    "EXPLORER_TABLE",
    "EXPLORER_TRIAGE",
    "EXPLORER_UNTIL",
    "INGEST_DONE",
    "INGEST_SUMMARY",
    "INGEST_UPLOAD",
    "TRACE_APPLIED",
    "TRACE_KEY",
    "TRACE_PICK",
]

# Explorer: the search box and filters (widget keys).
EXPLORER_SEARCH = "explorer_search"
EXPLORER_TRIAGE = "explorer_triage"
EXPLORER_STATUS = "explorer_status"
EXPLORER_SYSTEM = "explorer_system"
EXPLORER_FLOW = "explorer_flow"
EXPLORER_ERROR_CODE = "explorer_error_code"
EXPLORER_SINCE = "explorer_since"
EXPLORER_UNTIL = "explorer_until"
EXPLORER_PAGE = "explorer_page"
EXPLORER_PAGE_FILTERS = "explorer_page_filters"
EXPLORER_TABLE = "explorer_table"
# Explorer: the query parameters last applied to / written from the widgets.
EXPLORER_APPLIED = "explorer_applied_params"

# Trace: the key box, the picked transaction when a key matches several.
TRACE_KEY = "trace_key"
TRACE_PICK = "trace_pick"
TRACE_APPLIED = "trace_applied_params"

# Ingest: the uploader, the ids of files already ingested, the last summary.
INGEST_UPLOAD = "ingest_upload"
INGEST_DONE = "ingest_done_file_ids"
INGEST_SUMMARY = "ingest_last_summary"

# Connections: the last "test connection" result per system, and each button's key.
CONNECTIONS_TESTS = "connections_tests"


def connection_test_key(system: str) -> str:
    return f"connections_test_{system}"


# Who is acting (sidebar, demo mode). The Replay page reads these names too.
ACTOR_NAME = "actor_name"
ACTOR_ROLE = "actor_role"

# Validation page.
VALIDATION_ID = "validation_id"
VALIDATION_DEEP = "validation_deep_link"
VALIDATION_PICK = "validation_pick"
VALIDATION_RESULT = "validation_result"
VALIDATION_ACCEPT = "validation_accept"
VALIDATION_ACCEPTED = "validation_accepted"
VALIDATION_REASON = "validation_reason"
VALIDATION_REASON_CODE = "validation_reason_code"
VALIDATION_CONFIRM = "validation_confirm"
VALIDATION_RUN = "validation_run"
VALIDATION_REQUEST_FORM = "validation_request_approval"
VALIDATION_DIALOG = "validation_dialog"  # the opportunity whose accept dialog is open
