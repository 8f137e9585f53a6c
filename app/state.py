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
    "ACTION_CHECK",
    "ACTION_OPEN",
    "ACTION_REASON",
    "ACTION_REASON_CODE",
    "ACTION_RESULT",
    "ACTION_SUBMIT",
    "action_button_key",
    "RESUBMIT_BODY",
    "RESUBMIT_CHECK",
    "RESUBMIT_PREVIEW",
    "CONTINUE_BUTTON",
    "CONTINUE_CODE",
    "CONTINUE_CONFIRM",
    "CONTINUE_OPEN",
    "CONTINUE_REASON",
    "CONTINUE_RESULT",
    "AUDIT_ACTION",
    "AUDIT_ACTOR",
    "AUDIT_APPLIED",
    "AUDIT_KEY",
    "AUDIT_LIMIT",
    "AUDIT_SINCE",
    "AUDIT_TABLE",
    "AUDIT_UNTIL",
    "HEALTH_APPLIED",
    "HEALTH_PRESET",
    "HEALTH_SINCE",
    "HEALTH_UNTIL",
    "RECON_APPLIED",
    "RECON_LIVE",
    "RECON_MONTH",
    "RECON_PERIOD",
    "RECON_STATUS",
    "REPLAY_ERROR_CODE",
    "REPLAY_FLOW",
    "REPLAY_NOTICE",
    "REPLAY_PICK",
    "REPLAY_PLAN",
    "REPLAY_REASON",
    "REPLAY_REASON_CODE",
    "REPLAY_RUN",
    "REPLAY_STATUS",
    "REPLAY_SYSTEM",
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

# Trace: the actions on a failed step (app/actions_view.py) and their dialogs.
ACTION_OPEN = "trace_action_open"  # {"action", "tx", "step"} of the open dialog
ACTION_RESULT = "trace_action_result"  # {"tx", "level", "text"}: the last action's outcome
ACTION_CHECK = "trace_action_check"  # the target check for the open dialog (asked once)
ACTION_REASON_CODE = "trace_action_reason_code"
ACTION_REASON = "trace_action_reason"
ACTION_SUBMIT = "trace_action_submit"


def action_button_key(action: str, step: str) -> str:
    return f"trace_action_{action}_{step}"


# Trace: the edit-and-resubmit dialog (app/resubmit_view.py).
RESUBMIT_BODY = "trace_resubmit_body"
RESUBMIT_CHECK = "trace_resubmit_check"
RESUBMIT_PREVIEW = "trace_resubmit_preview"  # what "Check" found, for the body it checked

# Trace: continue the flow (app/continue_view.py).
CONTINUE_OPEN = "trace_continue_open"  # the transaction whose dialog is open
CONTINUE_BUTTON = "trace_continue"
CONTINUE_CONFIRM = "trace_continue_confirm"
CONTINUE_RESULT = "trace_continue_result"
CONTINUE_REASON = "trace_continue_reason"
CONTINUE_CODE = "trace_continue_reason_code"

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

# Audit page: the filters (widget keys), the table, the query parameters last applied.
AUDIT_ACTOR = "audit_actor"
AUDIT_ACTION = "audit_action"
AUDIT_KEY = "audit_key"
AUDIT_SINCE = "audit_since"
AUDIT_UNTIL = "audit_until"
AUDIT_LIMIT = "audit_limit"
AUDIT_TABLE = "audit_table"
AUDIT_APPLIED = "audit_applied_params"

# Health page: the window preset and the window (widget keys), the query parameters last applied.
HEALTH_PRESET = "health_preset"
HEALTH_SINCE = "health_since"
HEALTH_UNTIL = "health_until"
HEALTH_APPLIED = "health_applied"

# Reconciliation page (widget keys double as the values they hold).
RECON_PERIOD = "recon_period"
RECON_MONTH = "recon_month"
RECON_LIVE = "recon_live"
RECON_STATUS = "recon_status"  # prefix: the status filter's key is f"{RECON_STATUS}_{period}"
RECON_APPLIED = "recon_applied_params"

# Replay page (bulk replay): the filters, the dry-run plan, the reason, the picked run, the notice.
REPLAY_STATUS = "replay_status"
REPLAY_SYSTEM = "replay_system"
REPLAY_FLOW = "replay_flow"
REPLAY_ERROR_CODE = "replay_error"
REPLAY_PLAN = "replay_plan"
REPLAY_REASON_CODE = "replay_reason_code"
REPLAY_REASON = "replay_reason"
REPLAY_RUN = "replay_run"
REPLAY_PICK = "replay_run_pick"
REPLAY_NOTICE = "replay_notice"
