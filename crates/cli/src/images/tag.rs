//! `tag SOURCE TARGET`.

use berth_image::reference::Reference;

use super::open;
use crate::Cli;

/// Arguments of `tag`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// SOURCE_IMAGE[:TAG]
    source: String,
    /// TARGET_IMAGE[:TAG]
    target: String,
}

pub(super) fn run(cli: &Cli, args: &Args) -> anyhow::Result<u8> {
    let target = Reference::parse(&args.target).map_err(|e| {
        anyhow::anyhow!(
            "Error parsing reference: {:?} is not a valid repository/tag: {e}",
            args.target
        )
    })?;
    if target.digest.is_some() {
        anyhow::bail!("refusing to create a tag with a digest reference");
    }
    let store = open(cli)?;
    let id = store.db().resolve_id(&args.source)?;
    store.db().tag(&id, &target)?;
    Ok(0)
}
