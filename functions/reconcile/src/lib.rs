//! The reconciler: its handler, a library so that the end-to-end tests run it against the
//! local stack with the stack's clients.

pub mod handler;
