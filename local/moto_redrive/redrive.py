"""RedriveExecution on moto's Step Functions interpreter (``moto/stepfunctions/parser``).

A redrive takes a closed, unsuccessful STANDARD execution and resumes it in place:

* the state to resume at is the last top-level state the history shows entered (the
  state that failed, timed out or was aborted); its input is what that state's
  ``...StateEntered`` event recorded, ``$$.Execution.Input`` stays the original input;
* the history is kept: the resumed run appends to it, starting with an
  ``ExecutionRedriven`` event (``executionRedrivenEventDetails.redriveCount``), and event
  ids continue;
* the program is parsed afresh, so retry counters restart, and the state machine level
  ``TimeoutSeconds`` counts from the redrive;
* variables (``Assign``) keep the values the earlier attempt left;
* the execution keeps its ARN and start date, goes back to RUNNING, and gains a redrive
  count and date.
"""

from __future__ import annotations

import copy
import datetime
import json
import threading
from collections import OrderedDict
from typing import Any

from moto.core.exceptions import AWSError
from moto.stepfunctions.parser.api import (
    ExecutionStatus,
    HistoryEventType,
)
from moto.stepfunctions.parser.asl.component.common.flow.start_at import StartAt
from moto.stepfunctions.parser.asl.component.state.state_continue_with import (
    ContinueWithNext,
)
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.evaluation_details import EvaluationDetails
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.eval.event.event_manager import (
    EventHistoryContext,
    EventManager,
)
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.backend.execution import Execution
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

# AWS: executions that closed within the last 14 days can be redriven.
REDRIVABLE_PERIOD = datetime.timedelta(days=14)
# AWS: a standard execution runs for at most a year.
MAX_EXECUTION_TIME = datetime.timedelta(days=365)
# AWS: a history holds at most 25,000 events; a redrive needs room for at least one more.
HISTORY_EVENT_LIMIT = 25_000
# AWS answers the last 10 client tokens of successful redrives idempotently.
IDEMPOTENT_TOKENS = 10

REDRIVABLE = "REDRIVABLE"
NOT_REDRIVABLE = "NOT_REDRIVABLE"

# One redrive at a time: the eligibility check and the switch back to RUNNING are one step.
_LOCK = threading.Lock()


class ExecutionNotRedrivable(AWSError):
    TYPE = "ExecutionNotRedrivable"
    STATUS = 400


# Redrive bookkeeping lives on moto's Execution objects, read with defaults so that
# executions started before the extension was installed (or moto's non-executing mock
# executions) answer as never redriven.
def redrive_count(execution: Any) -> int:
    return getattr(execution, "redrive_count", 0)


def redrive_date(execution: Any) -> datetime.datetime | None:
    return getattr(execution, "redrive_date", None)


def _status(execution: Any) -> str:
    status = getattr(execution, "status", None)
    return getattr(status, "value", status) or ""


def _utc(moment: datetime.datetime) -> datetime.datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=datetime.timezone.utc)
    return moment


def _history_length(execution: Any) -> int:
    worker = getattr(execution, "exec_worker", None)
    env = getattr(worker, "env", None)
    if env is None:
        return 0
    # The list itself, not get_event_history()'s deep copy: DescribeExecution asks often.
    return len(env.event_manager._history_event_list)


def redrive_status(execution: Any) -> tuple[str, str | None]:
    """``(redriveStatus, redriveStatusReason)`` as DescribeExecution reports them."""
    state_machine = getattr(execution, "state_machine", None)
    machine_type = getattr(state_machine, "type", None) or "STANDARD"
    if machine_type != "STANDARD":
        return NOT_REDRIVABLE, f"Execution is {machine_type} and cannot be redriven"
    status = _status(execution)
    if status in (ExecutionStatus.RUNNING.value, ExecutionStatus.SUCCEEDED.value):
        return NOT_REDRIVABLE, f"Execution is {status} and cannot be redriven"
    now = datetime.datetime.now(tz=datetime.timezone.utc)
    start_date = getattr(execution, "start_date", None)
    if start_date is not None and now - _utc(start_date) > MAX_EXECUTION_TIME:
        return NOT_REDRIVABLE, "Execution has exceeded the max execution time"
    stop_date = getattr(execution, "stop_date", None)
    if stop_date is not None and now - _utc(stop_date) > REDRIVABLE_PERIOD:
        return NOT_REDRIVABLE, "Execution redrivable period exceeded"
    if _history_length(execution) >= HISTORY_EVENT_LIMIT - 1:
        return NOT_REDRIVABLE, "Execution history event limit exceeded"
    if getattr(execution, "exec_worker", None) is None:
        return NOT_REDRIVABLE, f"Execution is {status or 'not started'} and cannot be redriven"
    return REDRIVABLE, None


def resume_point(program: Any, events: list[dict], execution_input: Any) -> tuple[str, Any]:
    """The top-level state a redrive resumes at, and that state's input.

    That is the last top-level state the history shows entered, with the input its
    ``...StateEntered`` event recorded (before its InputPath/Parameters). State names are
    unique across a state machine, so a name that is a top-level state's is not an inner
    state of a Parallel or Map: a failure inside one resumes at that Parallel or Map.
    Should that state have exited (an execution stopped or timed out between two states),
    the run resumes at its Next with its output; a Choice is re-evaluated.
    """
    top_level = program.states.states
    last = None
    for index, event in enumerate(events):
        entered = event.get("stateEnteredEventDetails")
        if entered and entered.get("name") in top_level:
            last = index, entered
    if last is None:
        return program.start_at.start_at_name, execution_input
    index, entered = last
    name = entered["name"]
    for event in events[index + 1 :]:
        exited = event.get("stateExitedEventDetails")
        if exited and exited.get("name") == name:
            continue_with = getattr(top_level[name], "continue_with", None)
            next_state = getattr(continue_with, "next_state", None)
            if isinstance(continue_with, ContinueWithNext) and next_state is not None:
                return next_state.name, json.loads(exited.get("output") or "null")
            break
    return name, json.loads(entered.get("input") or "null")


def _continued_event_manager(previous: EventManager) -> EventManager:
    """A new event manager holding the previous history, its ids continuing.

    A new one rather than the old: a state still running when its execution timed out
    keeps writing to the old manager, and those events must not land in the redrive.
    """
    manager = EventManager(
        cloud_watch_logging_session=getattr(previous, "_cloud_watch_logging_session", None)
    )
    events = previous.get_event_history()
    manager._history_event_list.extend(events)
    manager._event_id_gen._next_id = max((e["id"] for e in events), default=0) + 1
    return manager


class RedriveExecutionWorker(ExecutionWorker):
    """Runs an execution's state machine again from ``start_at`` with ``state_input``."""

    def __init__(
        self,
        *,
        previous_env: Environment,
        start_at: str,
        state_input: Any,
        count: int,
        date: datetime.datetime,
        timed_out: bool,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self._timed_out = timed_out
        self._previous_env = previous_env
        self._start_at = start_at
        self._state_input = state_input
        self._count = count
        self._date = date

    def prepare(self) -> None:
        """The environment and the ExecutionRedriven event, before anyone can look."""
        env = self._get_evaluation_environment()
        execution_data = env.states.context_object.context_object_data["Execution"]
        execution_data["RedriveCount"] = self._count
        execution_data["RedriveTime"] = self._date.isoformat()
        env.event_manager = _continued_event_manager(self._previous_env.event_manager)
        history = env.event_manager.get_event_history()
        last_event_id = history[-1]["id"] if history else 0
        env.event_history_context = EventHistoryContext(previous_event_id=last_event_id)
        if self._timed_out and not any(
            e["type"] == HistoryEventType.ExecutionTimedOut for e in history
        ):
            # moto writes ExecutionTimedOut only once the state that outlasted the timeout
            # returns, into the history this redrive leaves behind: close the old attempt.
            env.event_manager.add_event(
                context=env.event_history_context,
                event_type=HistoryEventType.ExecutionTimedOut,
                event_details=EventDetails(executionTimedOutEventDetails={}),
            )
        env.event_manager.add_event(
            context=env.event_history_context,
            event_type=HistoryEventType.ExecutionRedriven,
            event_details=EventDetails(
                executionRedrivenEventDetails={"redriveCount": self._count}
            ),
            timestamp=self._date,
        )
        env.variable_store = copy.deepcopy(self._previous_env.variable_store)
        env.variable_store.reset_tracing()
        env.states.reset(input_value=self._state_input)
        self.env = env

    def _execution_logic(self) -> None:
        program = self._get_evaluation_entrypoint()
        # Program.eval starts at StartAt and applies TimeoutSeconds from now.
        program.start_at = StartAt(start_at_name=self._start_at)
        program.eval(self.env)
        self._execution_communication.terminated()


def redrive_execution(backend: Any, execution_arn: str, client_token: str | None) -> datetime.datetime:
    """StepFunctionsParserBackend.redrive_execution: returns the redrive date."""
    # InvalidArn / ExecutionDoesNotExist as DescribeExecution raises them.
    execution: Execution = backend.describe_execution(execution_arn)
    with _LOCK:
        tokens: OrderedDict = getattr(execution, "redrive_tokens", None) or OrderedDict()
        if client_token and client_token in tokens:
            return tokens[client_token]
        status, reason = redrive_status(execution)
        if status != REDRIVABLE:
            raise ExecutionNotRedrivable(f"{reason}: '{execution_arn}'")

        previous_worker: ExecutionWorker = execution.exec_worker
        previous_env: Environment = previous_worker.env
        definition = execution.state_machine.definition
        program = AmazonStateLanguageParser.parse(definition)[0]
        start_at, state_input = resume_point(
            program, previous_env.event_manager.get_event_history(), execution.input_data
        )

        count = redrive_count(execution) + 1
        date = datetime.datetime.now(tz=datetime.timezone.utc)
        worker = RedriveExecutionWorker(
            previous_env=previous_env,
            start_at=start_at,
            state_input=state_input,
            count=count,
            date=date,
            timed_out=_status(execution) == ExecutionStatus.TIMED_OUT.value,
            evaluation_details=EvaluationDetails(
                aws_execution_details=execution._get_start_aws_execution_details(),
                execution_details=execution.get_start_execution_details(),
                state_machine_details=execution.get_start_state_machine_details(),
            ),
            exec_comm=execution._get_start_execution_worker_comm(),
            cloud_watch_logging_session=execution._cloud_watch_logging_session,
            activity_store=execution._activity_store,
            mock_test_case=getattr(previous_worker, "_mock_test_case", None),
        )
        worker.prepare()

        execution.redrive_count = count
        execution.redrive_date = date
        if client_token:
            tokens[client_token] = date
            while len(tokens) > IDEMPOTENT_TOKENS:
                tokens.popitem(last=False)
        execution.redrive_tokens = tokens
        execution.exec_worker = worker
        execution.exec_status = ExecutionStatus.RUNNING
        execution.stop_date = None
        execution.output = None
        execution.error = None
        execution.cause = None
        worker.start()
        return date
