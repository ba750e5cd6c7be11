//! The archive bucket at Wasabi, made by `cdk deploy`: the handler of a CloudFormation custom
//! resource (behind CDK's Provider framework) that creates the bucket with Object Lock (so
//! versioning) and its default retention when it does not exist, and checks an existing one
//! (versioning must be on, Object Lock is reported), refusing the deploy clearly for wrong
//! credentials, a bucket of another account, or versioning off. A library so that its
//! integration test drives the same code the Lambda runs.

pub mod event;
pub mod handler;
