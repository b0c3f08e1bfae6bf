//! Manifest endpoints: fetch by tag or digest, push (checked: valid JSON, the digest
//! named matches, the blobs or manifests it references are in the repository; a
//! `subject` makes it a referrer), delete by digest or tag.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_image::digest::Digest;
use serde_json::Value;

use super::{internal, located, valid_tag, Code, Registry};

/// The largest manifest accepted.
const MANIFEST_LIMIT: usize = 4 << 20;

/// `GET`/`HEAD /v2/<name>/manifests/<reference>`.
pub async fn get(reg: Arc<Registry>, name: String, reference: String, head: bool) -> Response {
    let Some((digest, media)) = reg.storage.manifest(&name, &reference) else {
        return Code::ManifestUnknown.reply(format!("manifest {reference} unknown to {name}"));
    };
    let bytes = match std::fs::read(reg.storage.blob_path(&digest)) {
        Ok(b) => b,
        Err(e) => return internal(e),
    };
    let mut h = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&media) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&digest.to_string()) {
        h.insert("Docker-Content-Digest", v);
    }
    h.insert(header::CONTENT_LENGTH, bytes.len().into());
    if head {
        return (StatusCode::OK, h).into_response();
    }
    (StatusCode::OK, h, bytes).into_response()
}

/// `PUT /v2/<name>/manifests/<reference>`.
pub async fn put(
    reg: Arc<Registry>,
    name: String,
    reference: String,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    let bytes = match axum::body::to_bytes(body, MANIFEST_LIMIT).await {
        Ok(b) => b,
        Err(e) => return Code::ManifestInvalid.reply(e),
    };
    let digest = Digest::of(&bytes);
    let tag = match Digest::parse(&reference) {
        Ok(named) if named != digest => {
            return Code::DigestInvalid.reply(format!("manifest digest is {digest}, not {named}"))
        }
        Ok(_) => None,
        Err(_) if valid_tag(&reference) => Some(reference),
        Err(_) => return Code::ManifestInvalid.reply(format!("invalid tag {reference:?}")),
    };
    let doc: Value = match serde_json::from_slice(&bytes) {
        Ok(v @ Value::Object(_)) => v,
        _ => return Code::ManifestInvalid.reply("manifest is not a JSON object"),
    };
    let media = media_type(headers, &doc);
    let declared = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or(v).trim());
    if let (Some(own), Some(declared)) = (doc["mediaType"].as_str(), declared) {
        if own != declared && declared != "application/json" {
            return Code::ManifestInvalid.reply(format!(
                "mediaType {own:?} does not match the Content-Type {declared:?}"
            ));
        }
    }
    if let Some(refusal) = check_references(&reg, &name, &doc) {
        return refusal;
    }
    store(&reg, &name, &bytes, &digest, &media, tag.as_deref(), &doc)
}

/// The manifest's media type: its own `mediaType`, else the request's `Content-Type`.
fn media_type(headers: &HeaderMap, doc: &Value) -> String {
    doc["mediaType"]
        .as_str()
        .map(String::from)
        .or_else(|| {
            headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(String::from)
        })
        .unwrap_or_else(|| berth_image::formats::media::OCI_MANIFEST.into())
}

/// The refusal of a manifest whose config or layers (or, for an index, manifests) the
/// repository does not have.
fn check_references(reg: &Registry, name: &str, doc: &Value) -> Option<Response> {
    let blobs = doc["layers"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(doc.get("config"));
    for desc in blobs {
        let known = desc["digest"]
            .as_str()
            .and_then(|d| Digest::parse(d).ok())
            .and_then(|d| reg.storage.blob_size(name, &d));
        if known.is_none() {
            let d = desc["digest"].as_str().unwrap_or("(none)");
            return Some(Code::ManifestBlobUnknown.reply(format!("blob {d} unknown to {name}")));
        }
    }
    for desc in doc["manifests"].as_array().into_iter().flatten() {
        let known = desc["digest"]
            .as_str()
            .is_some_and(|d| reg.storage.manifest(name, d).is_some());
        if !known {
            let d = desc["digest"].as_str().unwrap_or("(none)");
            return Some(Code::ManifestUnknown.reply(format!("manifest {d} unknown to {name}")));
        }
    }
    None
}

fn store(
    reg: &Registry,
    name: &str,
    bytes: &[u8],
    digest: &Digest,
    media: &str,
    tag: Option<&str>,
    doc: &Value,
) -> Response {
    let stored = reg
        .storage
        .put_bytes(bytes)
        .and_then(|_| reg.storage.put_manifest(name, digest, media, tag));
    if let Err(e) = stored {
        return internal(e);
    }
    let mut h = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&digest.to_string()) {
        h.insert("Docker-Content-Digest", v);
    }
    if let Some(subject) = subject(doc) {
        let desc = referrer_descriptor(doc, media, digest, bytes.len());
        if let Err(e) = reg
            .storage
            .add_referrer(name, &subject, digest, desc.as_bytes())
        {
            return internal(e);
        }
        if let Ok(v) = HeaderValue::from_str(&subject.to_string()) {
            h.insert("OCI-Subject", v);
        }
    }
    located(
        StatusCode::CREATED,
        format!("/v2/{name}/manifests/{digest}"),
        h,
    )
}

fn subject(doc: &Value) -> Option<Digest> {
    Digest::parse(doc["subject"]["digest"].as_str()?).ok()
}

/// The descriptor the referrers API lists for a manifest: its artifact type is its own
/// `artifactType`, else its config's media type.
fn referrer_descriptor(doc: &Value, media: &str, digest: &Digest, size: usize) -> String {
    let artifact = doc["artifactType"]
        .as_str()
        .or_else(|| doc["config"]["mediaType"].as_str());
    let mut desc = serde_json::json!({
        "mediaType": media,
        "digest": digest.to_string(),
        "size": size,
    });
    if let Some(a) = artifact {
        desc["artifactType"] = a.into();
    }
    if let Some(ann) = doc.get("annotations") {
        desc["annotations"] = ann.clone();
    }
    desc.to_string()
}

/// `DELETE /v2/<name>/manifests/<reference>`: by digest the manifest (and its tags),
/// by tag the tag only.
pub async fn delete(reg: Arc<Registry>, name: String, reference: String) -> Response {
    let deleted = match Digest::parse(&reference) {
        Ok(d) => reg.storage.delete_manifest(&name, &d),
        Err(_) => reg.storage.delete_tag(&name, &reference),
    };
    match deleted {
        Ok(true) => StatusCode::ACCEPTED.into_response(),
        Ok(false) => Code::ManifestUnknown.reply(format!("manifest {reference} unknown to {name}")),
        Err(e) => internal(e),
    }
}
