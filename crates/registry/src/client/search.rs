//! Search: the v1 search API of an index (`GET /v1/search?q=&n=`), which Docker Hub's
//! index and `berth-registry` serve and plain distribution registries do not.

use serde::{Deserialize, Serialize};

use super::{check, ClientError, RegistryConfig, Result, Session};
use crate::auth::Credentials;

/// Docker Hub's index, which answers searches for `docker.io`.
const DOCKER_HUB_INDEX: &str = "index.docker.io";

/// One search result, as the Engine API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchResult {
    /// Stars.
    #[serde(default)]
    pub star_count: u64,
    /// An official image.
    #[serde(default)]
    pub is_official: bool,
    /// The repository.
    pub name: String,
    /// Built automatically (always false today).
    #[serde(default)]
    pub is_automated: bool,
    /// Its description.
    #[serde(default)]
    pub description: String,
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    results: Vec<SearchResult>,
}

/// Splits `docker search`'s term into the registry to ask and the words: a first part
/// that looks like a host names the registry.
pub fn split_term(term: &str) -> (String, String) {
    match term.split_once('/') {
        Some((host, rest)) if host.contains(['.', ':']) || host == "localhost" => {
            (host.to_string(), rest.to_string())
        }
        _ => (
            berth_image::reference::DOCKER_HUB.to_string(),
            term.to_string(),
        ),
    }
}

/// Searches `registry` for `words`, at most `limit` results.
pub fn search(
    config: &RegistryConfig,
    registry: &str,
    words: &str,
    limit: usize,
    creds: Option<Credentials>,
) -> Result<Vec<SearchResult>> {
    let domain = if registry == berth_image::reference::DOCKER_HUB {
        DOCKER_HUB_INDEX
    } else {
        registry
    };
    let session = Session::connect(config, domain, creds, false)?;
    let url = session.url("/v1/search");
    let limit = limit.to_string();
    let resp = session.send("GET", &[], |c| {
        c.get(&url).query(&[("q", words), ("n", limit.as_str())])
    })?;
    let resp = check("GET", &url, resp)?;
    let answer: Answer = resp.json().map_err(|source| ClientError::Http {
        method: "GET",
        url: url.clone(),
        source,
    })?;
    Ok(answer.results)
}
