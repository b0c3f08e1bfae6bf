//! API version negotiation as dockerd does it: paths may start with `/v<version>`
//! (`/v1.24` through `/v1.47`) or carry none (the newest). A version outside that range
//! is answered with 400 and dockerd's message. The prefix is stripped before routing
//! and the version the client asked for is put in the request's extensions. Every
//! response gets the daemon's headers (`Api-Version`, `Docker-Experimental`, `Ostype`,
//! `Server`).

use axum::extract::Request;
use axum::http::{HeaderValue, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::{API_VERSION, MIN_API_VERSION, VERSION};

/// An API version, compared component by component (`1.9` < `1.24`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiVersion(Vec<u32>);

impl ApiVersion {
    /// Parses `1.47`; None if it is not dot-separated numbers.
    pub fn parse(s: &str) -> Option<ApiVersion> {
        let parts: Option<Vec<u32>> = s.split('.').map(|p| p.parse().ok()).collect();
        parts.filter(|p| !p.is_empty()).map(ApiVersion)
    }

    /// The newest version served.
    pub fn current() -> ApiVersion {
        ApiVersion(vec![1, 47])
    }

    /// Whether this is at least `major.minor`.
    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        *self >= ApiVersion(vec![major, minor])
    }
}

/// Splits `/v1.47/rest` into the version text and `/rest`; None without a version prefix.
pub fn split(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/v")?;
    let end = rest.find('/').unwrap_or(rest.len());
    let (version, tail) = rest.split_at(end);
    let numeric = !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    numeric.then_some((version, tail))
}

/// Checks `text` against the range served, with dockerd's messages.
pub fn check(text: &str) -> Result<ApiVersion, ApiError> {
    let v = ApiVersion::parse(text).ok_or(ApiError::NoRoute)?;
    let min = ApiVersion::parse(MIN_API_VERSION).unwrap_or_else(ApiVersion::current);
    if v < min {
        return Err(ApiError::BadVersion(format!(
            "client version {text} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"
        )));
    }
    if v > ApiVersion::current() {
        return Err(ApiError::BadVersion(format!(
            "client version {text} is too new. Maximum supported API version is {API_VERSION}"
        )));
    }
    Ok(v)
}

/// The middleware: strips and checks the version prefix, then adds the daemon's headers.
pub async fn negotiate(mut req: Request, next: Next) -> Response {
    let mut response = match strip(&mut req) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    };
    let h = response.headers_mut();
    h.insert("Api-Version", HeaderValue::from_static(API_VERSION));
    h.insert("Docker-Experimental", HeaderValue::from_static("false"));
    h.insert("Ostype", HeaderValue::from_static("linux"));
    if let Ok(server) = HeaderValue::from_str(&format!("berth/{VERSION} (linux)")) {
        h.insert("Server", server);
    }
    response
}

fn strip(req: &mut Request) -> Result<(), ApiError> {
    let path = req.uri().path();
    let Some((text, rest)) = split(path) else {
        req.extensions_mut().insert(ApiVersion::current());
        return Ok(());
    };
    let version = check(text)?;
    let rest = if rest.is_empty() { "/" } else { rest };
    let new = match req.uri().query() {
        Some(q) => format!("{rest}?{q}"),
        None => rest.to_string(),
    };
    *req.uri_mut() = new.parse::<Uri>().map_err(|_| ApiError::NoRoute)?;
    req.extensions_mut().insert(version);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        assert!(ApiVersion::parse("1.9").unwrap() < ApiVersion::parse("1.24").unwrap());
        assert!(ApiVersion::parse("1.47").unwrap().at_least(1, 44));
        assert!(ApiVersion::parse("x").is_none());
    }

    #[test]
    fn prefixes_split_and_range_is_checked() {
        assert_eq!(
            split("/v1.47/containers/json"),
            Some(("1.47", "/containers/json"))
        );
        assert_eq!(split("/version"), None);
        assert_eq!(split("/volumes"), None);
        assert!(check("1.24").is_ok() && check("1.47").is_ok());
        let old = check("1.23").unwrap_err().to_string();
        assert!(old
            .starts_with("client version 1.23 is too old. Minimum supported API version is 1.24"));
        let new = check("1.48").unwrap_err().to_string();
        assert_eq!(
            new,
            "client version 1.48 is too new. Maximum supported API version is 1.47"
        );
    }
}
