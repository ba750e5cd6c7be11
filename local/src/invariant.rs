//! The nothing-lost invariant on the local stack: every version ever uploaded under
//! `photos/` is archived, quarantined or pending (see [`photopipe_cli::invariant`], the
//! checker `photopipe audit` runs against a deployment). Every end-to-end test ends with this
//! check.

use photopipe::settings::Rendition;
pub use photopipe_cli::invariant::{Violation, ViolationKind};

use crate::stack::{ARCHIVE, DROPBOX, LocalStack, THUMBNAILS};

/// Every version under `photos/` that is not archived, quarantined or pending, given the
/// thumbnail renditions the stack makes.
pub async fn check(stack: &LocalStack, renditions: &[Rendition]) -> anyhow::Result<Vec<Violation>> {
    photopipe_cli::invariant::check(&scope(stack, renditions)).await
}

/// The local stack's clients and names, for the checker.
pub fn scope<'a>(
    stack: &'a LocalStack,
    renditions: &'a [Rendition],
) -> photopipe_cli::invariant::Scope<'a> {
    photopipe_cli::invariant::Scope {
        s3: &stack.s3,
        archive: &stack.wasabi_s3,
        sfn: &stack.sfn,
        dropbox: DROPBOX,
        thumbnails: THUMBNAILS,
        archive_bucket: ARCHIVE,
        state_machine_arn: &stack.state_machine_arn,
        renditions,
    }
}
