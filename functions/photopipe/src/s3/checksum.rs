//! Checksums: the SHA-256 of an original, and the checked reads of stored copies (what a
//! copy's metadata says it was made from, and what its bytes really hash to).

use aws_sdk_s3::Client;
use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::primitives::ByteStream;
use sha2::{Digest, Sha256};

use crate::error::{PipelineError, Result};
use crate::s3::{head, meta};

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The SHA-256 and length of bytes hashed as they stream past, never held together.
#[derive(Clone, Default)]
pub struct StreamingSha256 {
    hasher: Sha256,
    length: u64,
}

impl std::fmt::Debug for StreamingSha256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamingSha256")
            .field("length", &self.length)
            .finish_non_exhaustive()
    }
}

impl StreamingSha256 {
    pub fn update(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.length += bytes.len() as u64;
    }

    /// How many bytes are hashed so far.
    pub fn length(&self) -> u64 {
        self.length
    }

    /// Lower-case hex SHA-256 of every byte hashed.
    pub fn finish(self) -> String {
        hex::encode(self.hasher.finalize())
    }
}

/// Base64 of a hex SHA-256, as `x-amz-checksum-sha256` wants it.
pub fn sha256_base64(hex_digest: &str) -> Result<String> {
    use base64::Engine;
    let raw = hex::decode(hex_digest)
        .map_err(|_| PipelineError::InvalidEvent(format!("{hex_digest:?} is not a hex SHA-256")))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(raw))
}

/// What a stored output's metadata says of the bytes it was made from.
#[derive(Debug)]
pub enum Recorded {
    /// Nothing is stored under the key.
    Absent,
    /// An output of these very bytes, with its HEAD answer.
    Same(Box<HeadObjectOutput>),
    /// An output of other bytes (another photo, or an older version of this one).
    Other,
}

/// HEAD of `bucket/key`, then the SHA-256 its metadata records under `field` compared with
/// `sha256`: the check thumbnail, archive and cleanup make before reusing or trusting a copy.
pub async fn recorded(
    client: &Client,
    bucket: &str,
    key: &str,
    field: &str,
    sha256: &str,
) -> Result<Recorded> {
    Ok(match head(client, bucket, key).await? {
        None => Recorded::Absent,
        Some(output) if meta::get(&output, field) == Some(sha256) => {
            Recorded::Same(Box::new(output))
        }
        Some(_) => Recorded::Other,
    })
}

/// Streams an object and returns its SHA-256 (hex) and length without holding it whole;
/// `None` when there is no such object.
pub async fn stream_sha256(
    client: &Client,
    bucket: &str,
    key: &str,
) -> Result<Option<(String, u64)>> {
    let output = match client.get_object().bucket(bucket).key(key).send().await {
        Ok(output) => output,
        Err(err) if err.as_service_error().is_some_and(|e| e.is_no_such_key()) => return Ok(None),
        Err(err) => {
            return Err(PipelineError::from_sdk(
                &format!("GetObject s3://{bucket}/{key}"),
                err,
            ));
        }
    };
    hash_stream(output.body, &format!("s3://{bucket}/{key}"))
        .await
        .map(Some)
}

/// Reads a stored copy back and checks that it holds exactly `size` bytes with SHA-256
/// `sha256`: `Photo.NotVerified` when it is missing, `Photo.IntegrityMismatch` when it differs.
pub async fn verify_copy(
    client: &Client,
    bucket: &str,
    key: &str,
    sha256: &str,
    size: u64,
) -> Result<()> {
    let Some((actual, length)) = stream_sha256(client, bucket, key).await? else {
        return Err(PipelineError::NotVerified(format!(
            "{bucket}/{key} is missing"
        )));
    };
    if actual != sha256 || length != size {
        return Err(PipelineError::IntegrityMismatch(format!(
            "{bucket}/{key} holds {length} bytes with SHA-256 {actual}, expected {size} bytes with {sha256}"
        )));
    }
    Ok(())
}

async fn hash_stream(mut body: ByteStream, what: &str) -> Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut length = 0u64;
    while let Some(chunk) = body
        .try_next()
        .await
        .map_err(|e| PipelineError::Transient(format!("reading {what} failed: {e}")))?
    {
        length += chunk.len() as u64;
        hasher.update(&chunk);
    }
    Ok((hex::encode(hasher.finalize()), length))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::operation::get_object::GetObjectOutput;
    use aws_sdk_s3::operation::head_object::HeadObjectError;
    use aws_sdk_s3::types::error::NotFound;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    #[test]
    fn a_streamed_sha256_is_the_sha256_of_the_bytes_together() {
        let mut streamed = StreamingSha256::default();
        streamed.update(b"hello ");
        streamed.update(b"world");
        assert_eq!(streamed.length(), 11);
        assert_eq!(streamed.finish(), sha256_hex(b"hello world"));
    }

    #[tokio::test]
    async fn recorded_tells_absent_same_and_other_apart() {
        let absent = mock!(Client::head_object)
            .then_error(|| HeadObjectError::NotFound(NotFound::builder().build()));
        let client = mock_client!(aws_sdk_s3, [&absent]);
        let answer = recorded(&client, "b", "k", meta::SHA256, "ab").await;
        assert!(matches!(answer, Ok(Recorded::Absent)), "{answer:?}");
        for (stored, same) in [("ab", true), ("cd", false)] {
            let present = mock!(Client::head_object).then_output(move || {
                HeadObjectOutput::builder()
                    .metadata(meta::SHA256, stored)
                    .build()
            });
            let client = mock_client!(aws_sdk_s3, [&present]);
            let answer = recorded(&client, "b", "k", meta::SHA256, "ab").await;
            assert_eq!(matches!(answer, Ok(Recorded::Same(_))), same, "{answer:?}");
            assert_eq!(matches!(answer, Ok(Recorded::Other)), !same, "{answer:?}");
        }
    }

    #[tokio::test]
    async fn verify_copy_names_a_missing_copy_and_a_differing_one_apart() {
        let get = mock!(Client::get_object).then_output(|| {
            GetObjectOutput::builder()
                .body(ByteStream::from_static(b"abc"))
                .build()
        });
        let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&get]);
        let sha = sha256_hex(b"abc");
        verify_copy(&client, "b", "k", &sha, 3).await.expect("same");
        let err = verify_copy(&client, "b", "k", &sha256_hex(b"abd"), 3)
            .await
            .expect_err("differs");
        assert_eq!(err.error_name(), "Photo.IntegrityMismatch");
    }
}
