//! photopipe on one machine, with no AWS account and no Docker: moto as AWS, an
//! S3-compatible server that checks credentials as Wasabi, and the real Lambda binaries
//! behind an AWS-faithful Invoke API. Used by the `photopipe-local` command and the
//! end-to-end tests.

pub mod contract;
pub mod cost;
pub mod fault_proxy;
pub mod history;
pub mod http;
pub mod invariant;
pub mod invocations;
pub mod lambda;
pub mod load;
pub mod moto;
pub mod redrive;
pub mod run;
pub mod server;
pub mod stack;
pub mod starter;
pub mod wasabi_stand_in;
