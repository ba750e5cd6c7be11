"""moto's server as the provider's integration test runs it: `moto_server` with one fix.

moto 5.2.5 wraps GetBucketVersioning's answer in a `GetBucketVersioningResponse` element;
S3 (and Wasabi) answer `<VersioningConfiguration>`, the only root aws-sdk-s3 accepts. Run
with the venv's Python and moto_server's own arguments.
"""

import sys

sys.dont_write_bytecode = True

from moto.core import serialize  # noqa: E402
from moto.server import main  # noqa: E402

_wrapped = serialize.S3Serializer._serialized_result_to_response


def _versioning_as_s3_answers(self, resp, result, shape, serialized_result):
    resp = _wrapped(self, resp, result, shape, serialized_result)
    if self.operation_model.name == "GetBucketVersioning":
        body = resp["body"]
        if isinstance(body, bytes):
            body = body.decode()
        resp["body"] = body.replace("GetBucketVersioningResponse", "VersioningConfiguration")
    return resp


if __name__ == "__main__":
    serialize.S3Serializer._serialized_result_to_response = _versioning_as_s3_answers
    sys.exit(main())
