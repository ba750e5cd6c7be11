//! The end-to-end tests live in `e2e/`, one test binary of modules; this library is empty.
