"""The Step Functions API side: RedriveExecution, and the redrive fields of
DescribeExecution and ListExecutions (``redriveFilter``, ``redriveCount``, ``redriveDate``).
"""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult
from moto.stepfunctions.exceptions import ValidationException
from moto.stepfunctions.utils import PAGINATION_MODEL
from moto.utilities.paginator import paginate

from . import redrive

# Stopped executions carry a stop date (moto's own handlers leave it off TIMED_OUT ones).
_CLOSED = ("SUCCEEDED", "FAILED", "ABORTED", "TIMED_OUT")
_REDRIVE_FILTERS = ("REDRIVEN", "NOT_REDRIVEN")


def redrive_fields(execution: Any, with_status: bool) -> dict[str, Any]:
    fields: dict[str, Any] = {"redriveCount": redrive.redrive_count(execution)}
    date = redrive.redrive_date(execution)
    if date is not None:
        fields["redriveDate"] = date
    if with_status:
        status, reason = redrive.redrive_status(execution)
        fields["redriveStatus"] = status
        if reason is not None:
            fields["redriveStatusReason"] = reason
    return fields


def _stop_date(execution: Any) -> dict[str, Any]:
    status = getattr(execution, "status", None)
    stop_date = getattr(execution, "stop_date", None)
    if status in _CLOSED and stop_date is not None:
        return {"stopDate": stop_date}
    return {}


def redrive_execution(self: Any) -> ActionResult:
    """StepFunctionResponse.redrive_execution (``AWSStepFunctions.RedriveExecution``)."""
    execution_arn = self._get_param("executionArn")
    client_token = self._get_param("clientToken")
    backend = self.stepfunction_backend
    if not hasattr(backend, "redrive_execution"):
        raise ValidationException(
            "RedriveExecution needs moto to execute state machines: POST "
            '{"stepfunctions":{"execute_state_machine":true}} to /moto-api/config'
        )
    date = backend.redrive_execution(execution_arn, client_token)
    return ActionResult({"redriveDate": date})


def wrap_describe_execution(original: Any) -> Any:
    def describe_execution(self: Any) -> ActionResult:
        result = original(self)
        execution = self.stepfunction_backend.describe_execution(
            self._get_param("executionArn")
        )
        response = result.result
        if isinstance(response, dict):
            response.update(_stop_date(execution))
            response.update(redrive_fields(execution, with_status=True))
        return result

    describe_execution.__name__ = "describe_execution"
    describe_execution.__doc__ = original.__doc__
    return describe_execution


def list_executions(self: Any) -> ActionResult:
    """moto's ListExecutions, with ``redriveFilter`` and the redrive fields per item."""
    max_results = self._get_int_param("maxResults")
    next_token = self._get_param("nextToken")
    arn = self._get_param("stateMachineArn")
    status_filter = self._get_param("statusFilter")
    redrive_filter = self._get_param("redriveFilter")
    if redrive_filter is not None and redrive_filter not in _REDRIVE_FILTERS:
        raise ValidationException(
            f"1 validation error detected: Value '{redrive_filter}' at 'redriveFilter' "
            f"failed to satisfy constraint: Member must satisfy enum value set: "
            f"[{', '.join(_REDRIVE_FILTERS)}]"
        )
    backend = self.stepfunction_backend
    state_machine = backend.describe_state_machine(arn)
    results, next_token = backend.list_executions(
        arn,
        status_filter=status_filter,
        redrive_filter=redrive_filter,
        max_results=max_results,
        next_token=next_token,
    )
    executions = []
    for execution in results:
        item = {
            "executionArn": execution.execution_arn,
            "name": execution.name,
            "startDate": execution.start_date,
            "stateMachineArn": state_machine.arn,
            "status": execution.status,
        }
        item.update(_stop_date(execution))
        item.update(redrive_fields(execution, with_status=False))
        executions.append(item)
    return ActionResult({"executions": executions, "nextToken": next_token})


def _backend_list_executions() -> Any:
    # paginate() looks its model up by the decorated function's own name.
    @paginate(pagination_model=PAGINATION_MODEL)
    def list_executions(
        self: Any,
        state_machine_arn: str,
        status_filter: str | None = None,
        redrive_filter: str | None = None,
    ) -> list[Any]:
        """StepFunctionBackend.list_executions, filtering on redrives before it paginates."""
        executions = self.describe_state_machine(state_machine_arn).executions
        if status_filter:
            executions = [e for e in executions if e.status == status_filter]
        if redrive_filter == "REDRIVEN":
            executions = [e for e in executions if redrive.redrive_count(e) > 0]
        elif redrive_filter == "NOT_REDRIVEN":
            executions = [e for e in executions if redrive.redrive_count(e) == 0]
        return sorted(executions, key=lambda x: x.start_date, reverse=True)

    return list_executions


backend_list_executions = _backend_list_executions()
