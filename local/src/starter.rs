//! What the EventBridge rule does on AWS: turn each S3 "Object Created" event from the
//! dropbox's `photos/` into a state machine execution. moto cannot target a state machine
//! from a rule, so the rule delivers to an SQS queue and this starter drains it.

use std::time::{Duration, Instant};

use anyhow::Context;
use aws_sdk_eventbridge::types::Target;

/// One execution the starter began.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    /// The object key, decoded.
    pub key: String,
    pub execution_arn: String,
    pub name: String,
    /// The execution's input, as the rule would pass it.
    pub input: String,
}

/// The queue behind the rule, and where executions go.
#[derive(Debug, Clone)]
pub struct Starter {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    target: Option<(aws_sdk_sfn::Client, String)>,
}

/// The rule's event pattern: the one CDK deploys.
pub fn event_pattern(bucket: &str) -> serde_json::Value {
    serde_json::json!({
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [bucket]}, "object": {"key": [{"prefix": photopipe::settings::PHOTOS_PREFIX}]}}
    })
}

impl Starter {
    /// Creates the queue and the rule that feeds it.
    pub async fn create(aws: &aws_config::SdkConfig, bucket: &str) -> anyhow::Result<Self> {
        let sqs = aws_sdk_sqs::Client::new(aws);
        let queue_url = sqs
            .create_queue()
            .queue_name("photopipe-starts")
            .send()
            .await?
            .queue_url
            .context("no queue URL")?;
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await?;
        let queue_arn = attributes
            .attributes()
            .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
            .context("no queue ARN")?
            .clone();
        let events = aws_sdk_eventbridge::Client::new(aws);
        events
            .put_rule()
            .name("photopipe-object-created")
            .event_pattern(event_pattern(bucket).to_string())
            .send()
            .await?;
        events
            .put_targets()
            .rule("photopipe-object-created")
            .targets(Target::builder().id("starts").arn(queue_arn).build()?)
            .send()
            .await?;
        Ok(Self {
            sqs,
            queue_url,
            target: None,
        })
    }

    pub fn for_state_machine(self, sfn: aws_sdk_sfn::Client, state_machine_arn: String) -> Self {
        Self {
            target: Some((sfn, state_machine_arn)),
            ..self
        }
    }

    /// The events now in the queue, up to ten (waiting up to a second for one).
    async fn receive(&self) -> anyhow::Result<Vec<aws_sdk_sqs::types::Message>> {
        Ok(self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await?
            .messages
            .unwrap_or_default())
    }

    /// Removes a handled event from the queue.
    async fn delete(&self, message: &aws_sdk_sqs::types::Message) -> anyhow::Result<()> {
        if let Some(handle) = message.receipt_handle() {
            self.sqs
                .delete_message()
                .queue_url(&self.queue_url)
                .receipt_handle(handle)
                .send()
                .await?;
        }
        Ok(())
    }

    /// Starts an execution for every event now in the queue (waiting up to a second).
    pub async fn start_pending(&self) -> anyhow::Result<Vec<Started>> {
        let (sfn, state_machine_arn) = self.target.as_ref().context("no state machine to start")?;
        let received = self.receive().await?;
        let mut started = Vec::new();
        for message in &received {
            let body = message.body().context("event without a body")?;
            let (key, input, unique) = as_aws_event(body)?;
            let name = execution_name(&key, &unique);
            let execution_arn = sfn
                .start_execution()
                .state_machine_arn(state_machine_arn)
                .name(&name)
                .input(&input)
                .send()
                .await
                .with_context(|| format!("starting {name}"))?
                .execution_arn;
            self.delete(message).await?;
            started.push(Started {
                key,
                execution_arn,
                name,
                input,
            });
        }
        Ok(started)
    }

    /// Receives every event now in the queue (waiting up to a second) and deletes it without
    /// starting a run: an event lost on its way (a rule disabled, a delivery that never came),
    /// which the reconciler's test needs. Returns the decoded keys of the events dropped.
    pub async fn drop_pending(&self) -> anyhow::Result<Vec<String>> {
        let received = self.receive().await?;
        let mut dropped = Vec::new();
        for message in &received {
            let (key, _, _) = as_aws_event(message.body().context("event without a body")?)?;
            self.delete(message).await?;
            dropped.push(key);
        }
        Ok(dropped)
    }

    /// Starts executions until `count` have started, or `within` has passed.
    pub async fn start(&self, count: usize, within: Duration) -> anyhow::Result<Vec<Started>> {
        let begin = Instant::now();
        let mut started = Vec::new();
        while started.len() < count {
            anyhow::ensure!(
                begin.elapsed() < within,
                "only {} of {count} uploads produced an event within {within:?}",
                started.len()
            );
            started.extend(self.start_pending().await?);
        }
        Ok(started)
    }
}

/// moto writes the object key into the event as it is; S3 on AWS writes it form-URL-encoded
/// (`a b.jpg` as `a+b.jpg`). Re-encode it, so the pipeline gets exactly what AWS sends.
fn as_aws_event(body: &str) -> anyhow::Result<(String, String, String)> {
    let mut event: serde_json::Value = serde_json::from_str(body).context("event is not JSON")?;
    let key = event
        .pointer("/detail/object/key")
        .and_then(|k| k.as_str())
        .context("event has no object key")?
        .to_owned();
    event["detail"]["object"]["key"] = photopipe::event::encode_event_key(&key).into();
    // moto gives every event the same id; the version id tells uploads apart.
    let version = event
        .pointer("/detail/object/version-id")
        .and_then(|v| v.as_str())
        .filter(|v| !v.is_empty() && *v != "null");
    let unique = version
        .or_else(|| event.get("id").and_then(|i| i.as_str()))
        .unwrap_or_default()
        .to_owned();
    Ok((key, event.to_string(), unique))
}

/// A readable, valid and unique execution name: the key's file name, then what makes the
/// upload unique (its version id).
pub fn execution_name(key: &str, unique: &str) -> String {
    let file = key.rsplit('/').next().unwrap_or(key);
    let mut name: String = file
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    let id: String = unique
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(38)
        .collect();
    name.push('-');
    name.push_str(&id);
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_valid_execution_names() {
        let name = execution_name(
            "photos/My Trip/été: 1+1?.jpg",
            "17793124-05d4-b198-2fde-7ededc63b103",
        );
        assert_eq!(name, "_t___1_1_.jpg-17793124-05d4-b198-2fde-7ededc63b103");
        assert!(name.len() <= 80);
        let long = execution_name(&format!("photos/{}.jpg", "x".repeat(200)), "id");
        assert!(long.len() <= 80);
    }

    #[test]
    fn keys_are_encoded_as_aws_does() {
        let body =
            r#"{"id":"e1","detail":{"object":{"key":"photos/a b+c.jpg","version-id":"v9"}}}"#;
        let (key, input, unique) = as_aws_event(body).expect("event");
        assert_eq!((key.as_str(), unique.as_str()), ("photos/a b+c.jpg", "v9"));
        assert!(input.contains(r#""key":"photos/a+b%2Bc.jpg""#), "{input}");
    }
}
