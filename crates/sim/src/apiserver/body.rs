//! A request body as the apiserver's input negotiation reads it: JSON, YAML, or the protobuf of
//! the kinds `protobuf` knows; anything else gets the real 415.

use bytes::Bytes;
use serde_json::Value;

use crate::util::Status;

/// A create or update body, as the apiserver's input negotiation reads it. The world decodes JSON,
/// YAML and the protobuf of the few kinds `protobuf` knows: any other body gets the real 415,
/// never a half-read object.
pub fn decode_object(content_type: &str, body: &Bytes) -> Result<Value, Status> {
    let unrecognized = |e: &dyn std::fmt::Display| {
        Status::bad_request(format!("the object provided is unrecognized: {e}"))
    };
    match content_type.split(';').next().unwrap_or("").trim() {
        "application/json" => serde_json::from_slice(body).map_err(|e| unrecognized(&e)),
        "application/yaml" => serde_saphyr::from_slice(body).map_err(|e| unrecognized(&e)),
        super::protobuf::MEDIA_TYPE => super::protobuf::decode(body)
            .map_err(|e| e.status(&["application/json", "application/yaml"])),
        _ => Err(Status::unsupported_media_type(&[
            "application/json",
            "application/yaml",
        ])),
    }
}
