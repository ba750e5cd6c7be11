//! RedriveExecution on the local stack's moto (the `moto_redrive` extension that
//! `Moto::start` loads): a small state machine of its own whose one Task calls a Lambda
//! stand-in this test controls, failing until the test "fixes" it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_sfn::error::ProvideErrorMetadata;
use aws_sdk_sfn::primitives::DateTime;
use aws_sdk_sfn::types::{
    ExecutionRedriveFilter, ExecutionRedriveStatus, ExecutionStatus, HistoryEvent, HistoryEventType,
};
use hyper::StatusCode;
use photopipe_local::http::{body_bytes, reply, service};
use photopipe_local::moto::Moto;
use photopipe_local::server::{Server, loopback};
use photopipe_local::stack::StackOptions;
use serde_json::{Value, json};

const ROLE: &str = "arn:aws:iam::123456789012:role/redrive-test";
const FLAKY: &str = "arn:aws:lambda:us-east-1:123456789012:function:flaky";

/// `Start` (Pass) → `Work` (Task on the stand-in; one retry of `Flaky.Transient`) → `Done`.
fn definition() -> String {
    json!({
        "StartAt": "Start",
        "States": {
            "Start": {"Type": "Pass", "Result": {"n": 1}, "ResultPath": "$.start", "Next": "Work"},
            "Work": {
                "Type": "Task",
                "Resource": FLAKY,
                "Parameters": {
                    "state.$": "$",
                    "execution.$": "$$.Execution.Input",
                    "redrives.$": "$$.Execution.RedriveCount"
                },
                "ResultPath": "$.work",
                "Retry": [{"ErrorEquals": ["Flaky.Transient"], "IntervalSeconds": 1, "MaxAttempts": 1}],
                "Next": "Done"
            },
            "Done": {"Type": "Succeed"}
        }
    })
    .to_string()
}

/// The Lambda Invoke API for `flaky`: a `Flaky.Transient` function error while `failing`,
/// `{"fixed": true}` afterwards; every payload it was sent is kept.
#[derive(Debug, Default)]
struct Flaky {
    failing: AtomicBool,
    payloads: Mutex<Vec<Value>>,
}

impl Flaky {
    fn payloads(&self) -> Vec<Value> {
        self.payloads.lock().expect("payloads").clone()
    }
}

/// moto with the extension, the stand-in on moto's Lambda port, an SFN client.
struct Fixture {
    sfn: aws_sdk_sfn::Client,
    flaky: Arc<Flaky>,
    moto: Moto,
    stand_in: Server,
    _logs: tempfile::TempDir,
}

impl Fixture {
    async fn start() -> Self {
        let flaky = Arc::new(Flaky {
            failing: AtomicBool::new(true),
            payloads: Mutex::default(),
        });
        let listener = loopback().await.expect("binds");
        let invoke_port = listener.local_addr().expect("address").port();
        let handler = {
            let flaky = flaky.clone();
            move |request: hyper::Request<hyper::body::Incoming>| {
                let flaky = flaky.clone();
                async move {
                    if !request.uri().path().ends_with("/invocations") {
                        return reply(StatusCode::NOT_FOUND, &[], "unknown route");
                    }
                    let payload: Value =
                        serde_json::from_slice(&body_bytes(request).await).unwrap_or(Value::Null);
                    flaky.payloads.lock().expect("payloads").push(payload);
                    if flaky.failing.load(Ordering::SeqCst) {
                        let error =
                            json!({"errorType": "Flaky.Transient", "errorMessage": "not yet"});
                        reply(
                            StatusCode::OK,
                            &[("X-Amz-Function-Error", "Unhandled")],
                            error.to_string(),
                        )
                    } else {
                        reply(StatusCode::OK, &[], json!({"fixed": true}).to_string())
                    }
                }
            }
        };
        let stand_in = Server::serve(listener, service(handler)).expect("serves");
        let logs = tempfile::tempdir().expect("tempdir");
        let options = StackOptions::for_workspace(logs.path().to_path_buf()).expect("options");
        let moto = Moto::start(
            &options.moto_server,
            invoke_port,
            &logs.path().join("moto.log"),
        )
        .await
        .expect("moto starts");
        let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(&moto.endpoint)
            .credentials_provider(aws_credential_types::Credentials::new(
                "test",
                "test",
                None,
                None,
                "redrive-test",
            ))
            .load()
            .await;
        Self {
            sfn: aws_sdk_sfn::Client::new(&aws),
            flaky,
            moto,
            stand_in,
            _logs: logs,
        }
    }

    async fn stop(self) {
        self.moto.stop().await;
        self.stand_in.stop().await;
    }

    async fn state_machine(&self, name: &str, definition: &str) -> String {
        self.sfn
            .create_state_machine()
            .name(name)
            .definition(definition)
            .role_arn(ROLE)
            .send()
            .await
            .expect("creates the state machine")
            .state_machine_arn
    }

    async fn start_execution(&self, state_machine: &str, name: &str, input: &str) -> String {
        self.sfn
            .start_execution()
            .state_machine_arn(state_machine)
            .name(name)
            .input(input)
            .send()
            .await
            .expect("starts")
            .execution_arn
    }

    /// Waits for the execution to close (30 s at most) and returns its status.
    async fn closed(&self, execution: &str) -> ExecutionStatus {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let status = self.describe(execution).await.status;
            if status != ExecutionStatus::Running {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{execution} still running after 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn describe(
        &self,
        execution: &str,
    ) -> aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput {
        self.sfn
            .describe_execution()
            .execution_arn(execution)
            .send()
            .await
            .expect("describes")
    }

    async fn redrive(&self, execution: &str) -> DateTime {
        self.sfn
            .redrive_execution()
            .execution_arn(execution)
            .send()
            .await
            .expect("redrives")
            .redrive_date
    }

    async fn history(&self, execution: &str) -> Vec<HistoryEvent> {
        self.sfn
            .get_execution_history()
            .execution_arn(execution)
            .send()
            .await
            .expect("history")
            .events
    }

    async fn listed(&self, state_machine: &str, filter: ExecutionRedriveFilter) -> Vec<String> {
        self.sfn
            .list_executions()
            .state_machine_arn(state_machine)
            .redrive_filter(filter)
            .send()
            .await
            .expect("lists")
            .executions
            .into_iter()
            .map(|item| item.name)
            .collect()
    }
}

fn of_type(history: &[HistoryEvent], kind: HistoryEventType) -> Vec<&HistoryEvent> {
    history.iter().filter(|e| e.r#type == kind).collect()
}

#[tokio::test]
async fn a_redrive_resumes_at_the_failed_task_and_succeeds_once_it_is_fixed() {
    let fixture = Fixture::start().await;
    let machine = fixture.state_machine("redrive-once", &definition()).await;
    let input = r#"{"photo":"a.jpg"}"#;
    let execution = fixture.start_execution(&machine, "one", input).await;

    assert_eq!(fixture.closed(&execution).await, ExecutionStatus::Failed);
    let failed = fixture.describe(&execution).await;
    assert_eq!(failed.error.as_deref(), Some("Flaky.Transient"));
    assert_eq!(failed.redrive_count, Some(0));
    assert_eq!(failed.redrive_date, None);
    assert_eq!(
        failed.redrive_status,
        Some(ExecutionRedriveStatus::Redrivable)
    );
    assert_eq!(
        fixture
            .listed(&machine, ExecutionRedriveFilter::NotRedriven)
            .await,
        ["one"]
    );
    assert!(
        fixture
            .listed(&machine, ExecutionRedriveFilter::Redriven)
            .await
            .is_empty()
    );
    let events_before = fixture.history(&execution).await.len();
    let first_attempt = fixture.flaky.payloads();
    assert_eq!(first_attempt.len(), 2, "one try and one retry");

    fixture.flaky.failing.store(false, Ordering::SeqCst);
    let redrive_date = fixture.redrive(&execution).await;
    assert_eq!(fixture.closed(&execution).await, ExecutionStatus::Succeeded);

    let succeeded = fixture.describe(&execution).await;
    assert_eq!(succeeded.execution_arn, execution, "the same execution");
    assert_eq!(succeeded.redrive_count, Some(1));
    assert_eq!(succeeded.redrive_date, Some(redrive_date));
    assert_eq!(
        succeeded.redrive_status,
        Some(ExecutionRedriveStatus::NotRedrivable)
    );
    assert!(succeeded.redrive_status_reason.is_some());
    let output: Value =
        serde_json::from_str(succeeded.output.as_deref().expect("output")).expect("JSON");
    assert_eq!(
        output,
        json!({"photo": "a.jpg", "start": {"n": 1}, "work": {"fixed": true}})
    );

    // The redriven Task got the state input of the failed attempt, `$$.Execution.Input`
    // unchanged, and `$$.Execution.RedriveCount` 1.
    let payloads = fixture.flaky.payloads();
    assert_eq!(payloads.len(), 3, "the Task ran once more, and succeeded");
    assert_eq!(payloads[2]["state"], first_attempt[0]["state"]);
    assert_eq!(
        payloads[2]["state"],
        json!({"photo": "a.jpg", "start": {"n": 1}})
    );
    assert_eq!(payloads[2]["execution"], json!({"photo": "a.jpg"}));
    assert_eq!(first_attempt[0]["redrives"], json!(0));
    assert_eq!(payloads[2]["redrives"], json!(1));

    let history = fixture.history(&execution).await;
    let ids: Vec<i64> = history.iter().map(|e| e.id).collect();
    assert_eq!(
        ids,
        (1..=history.len() as i64).collect::<Vec<_>>(),
        "ids continue"
    );
    let redriven = of_type(&history, HistoryEventType::ExecutionRedriven);
    assert_eq!(redriven.len(), 1);
    assert_eq!(
        redriven[0].id,
        events_before as i64 + 1,
        "appended to the old history"
    );
    assert_eq!(redriven[0].previous_event_id, events_before as i64);
    assert_eq!(
        redriven[0]
            .execution_redriven_event_details
            .as_ref()
            .map(|d| d.redrive_count),
        Some(Some(1))
    );
    assert_eq!(
        of_type(&history, HistoryEventType::PassStateEntered).len(),
        1,
        "Start is not run again"
    );
    let tasks = of_type(&history, HistoryEventType::TaskStateEntered);
    assert_eq!(tasks.len(), 2);
    let entered = |e: &HistoryEvent| {
        let details = e.state_entered_event_details.as_ref().expect("details");
        (details.name.clone(), details.input.clone())
    };
    assert_eq!(
        entered(tasks[1]),
        entered(tasks[0]),
        "resumed with the Task's input"
    );
    assert!(tasks[1].id > redriven[0].id);
    assert_eq!(
        history.last().map(|e| e.r#type.clone()),
        Some(HistoryEventType::ExecutionSucceeded)
    );

    assert_eq!(
        fixture
            .listed(&machine, ExecutionRedriveFilter::Redriven)
            .await,
        ["one"]
    );
    assert!(
        fixture
            .listed(&machine, ExecutionRedriveFilter::NotRedriven)
            .await
            .is_empty()
    );
    let all = fixture
        .sfn
        .list_executions()
        .state_machine_arn(&machine)
        .send()
        .await
        .expect("lists");
    assert_eq!(all.executions[0].redrive_count, Some(1));
    assert_eq!(all.executions[0].redrive_date, Some(redrive_date));

    let refused = fixture
        .sfn
        .redrive_execution()
        .execution_arn(&execution)
        .send()
        .await
        .expect_err("a SUCCEEDED execution is not redrivable")
        .into_service_error();
    assert!(refused.is_execution_not_redrivable(), "{refused:?}");
    assert!(
        refused.message().is_some_and(|m| m.contains("SUCCEEDED")),
        "{refused:?}"
    );

    let unknown = fixture
        .sfn
        .redrive_execution()
        .execution_arn(format!("{execution}-missing"))
        .send()
        .await
        .expect_err("no such execution")
        .into_service_error();
    assert!(unknown.is_execution_does_not_exist(), "{unknown:?}");
    fixture.stop().await;
}

#[tokio::test]
async fn two_failures_and_two_redrives_count_two_with_fresh_retries() {
    let fixture = Fixture::start().await;
    let machine = fixture.state_machine("redrive-twice", &definition()).await;
    let execution = fixture.start_execution(&machine, "two", "{}").await;
    assert_eq!(fixture.closed(&execution).await, ExecutionStatus::Failed);

    fixture.redrive(&execution).await;
    assert_eq!(fixture.closed(&execution).await, ExecutionStatus::Failed);
    let once = fixture.describe(&execution).await;
    assert_eq!(once.redrive_count, Some(1));
    assert_eq!(
        once.redrive_status,
        Some(ExecutionRedriveStatus::Redrivable)
    );
    // The retry counter restarted: the redriven Task was tried and retried again.
    assert_eq!(fixture.flaky.payloads().len(), 4);

    fixture.flaky.failing.store(false, Ordering::SeqCst);
    let second = fixture.redrive(&execution).await;
    assert_eq!(fixture.closed(&execution).await, ExecutionStatus::Succeeded);
    let twice = fixture.describe(&execution).await;
    assert_eq!(twice.redrive_count, Some(2));
    assert_eq!(twice.redrive_date, Some(second));
    assert_eq!(fixture.flaky.payloads()[4]["redrives"], json!(2));

    let history = fixture.history(&execution).await;
    let counts: Vec<Option<i32>> = of_type(&history, HistoryEventType::ExecutionRedriven)
        .iter()
        .map(|e| {
            e.execution_redriven_event_details
                .as_ref()
                .and_then(|d| d.redrive_count)
        })
        .collect();
    assert_eq!(counts, [Some(1), Some(2)]);
    assert_eq!(
        of_type(&history, HistoryEventType::ExecutionFailed).len(),
        2
    );
    assert_eq!(
        of_type(&history, HistoryEventType::PassStateEntered).len(),
        1
    );
    let ids: Vec<i64> = history.iter().map(|e| e.id).collect();
    assert_eq!(ids, (1..=history.len() as i64).collect::<Vec<_>>());
    fixture.stop().await;
}

#[tokio::test]
async fn a_running_execution_is_refused_and_an_aborted_one_resumes() {
    let fixture = Fixture::start().await;
    let definition = json!({
        "StartAt": "Start",
        "States": {
            "Start": {"Type": "Pass", "Next": "Hold"},
            "Hold": {"Type": "Wait", "Seconds": 60, "End": true}
        }
    })
    .to_string();
    let machine = fixture.state_machine("redrive-aborted", &definition).await;
    let execution = fixture.start_execution(&machine, "held", "{}").await;

    let running = fixture.describe(&execution).await;
    assert_eq!(running.status, ExecutionStatus::Running);
    assert_eq!(
        running.redrive_status,
        Some(ExecutionRedriveStatus::NotRedrivable)
    );
    let refused = fixture
        .sfn
        .redrive_execution()
        .execution_arn(&execution)
        .send()
        .await
        .expect_err("a RUNNING execution is not redrivable")
        .into_service_error();
    assert!(refused.is_execution_not_redrivable(), "{refused:?}");

    fixture
        .sfn
        .stop_execution()
        .execution_arn(&execution)
        .send()
        .await
        .expect("stops");
    assert_eq!(fixture.closed(&execution).await, ExecutionStatus::Aborted);
    assert_eq!(
        fixture.describe(&execution).await.redrive_status,
        Some(ExecutionRedriveStatus::Redrivable)
    );

    fixture.redrive(&execution).await;
    let resumed = fixture.describe(&execution).await;
    assert_eq!(resumed.status, ExecutionStatus::Running);
    assert_eq!(resumed.stop_date, None);
    let kinds: Vec<HistoryEventType> = fixture
        .history(&execution)
        .await
        .into_iter()
        .map(|e| e.r#type)
        .skip_while(|kind| *kind != HistoryEventType::ExecutionAborted)
        .collect();
    assert_eq!(
        kinds[..3],
        [
            HistoryEventType::ExecutionAborted,
            HistoryEventType::ExecutionRedriven,
            HistoryEventType::WaitStateEntered
        ]
    );
    fixture
        .sfn
        .stop_execution()
        .execution_arn(&execution)
        .send()
        .await
        .expect("stops the redriven run");
    assert_eq!(fixture.closed(&execution).await, ExecutionStatus::Aborted);
    fixture.stop().await;
}
