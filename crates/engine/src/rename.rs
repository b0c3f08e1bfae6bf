//! `rename`: a container's name moves to a new one; the new name is reserved before the
//! old one is released, so the container always has one.

use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::record::Container;

impl Engine {
    /// Renames container `c` to `name` (a leading `/` is dropped), as docker does: an
    /// empty, invalid, unchanged or taken name is refused.
    pub fn rename(&self, c: &Container, name: &str) -> Result<()> {
        let name = name.strip_prefix('/').unwrap_or(name);
        if name.is_empty() {
            return Err(EngineError::EmptyName);
        }
        if name == c.name {
            return Err(EngineError::SameName(name.into()));
        }
        let name = self.containers().reserve_name(Some(name), &c.id)?;
        let mut record = match self.containers().load(&c.id) {
            Ok(r) => r,
            Err(e) => {
                self.containers().release_name(&name).ok();
                return Err(e);
            }
        };
        let old = std::mem::replace(&mut record.name, name.clone());
        if let Err(e) = self.containers().save(&record) {
            self.containers().release_name(&name).ok();
            return Err(e);
        }
        self.rename_endpoints(&c.id, &name)?;
        self.containers().release_name(&old)
    }
}
