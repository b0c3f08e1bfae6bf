//! Loading and checking a bundle's `config.json`. Every error names the field that is wrong,
//! so a user can fix the file without reading the runtime's code.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

/// Errors in a bundle's configuration.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The file could not be read.
    #[error("read {path}: {source}")]
    Read {
        /// The config file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The JSON is malformed or a field has the wrong type or value.
    #[error("{path}: {field}: {message}")]
    Parse {
        /// The config file.
        path: PathBuf,
        /// The field, as a dotted JSON path.
        field: String,
        /// What the parser said.
        message: String,
    },
    /// A field has a value the runtime refuses.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field, as a dotted JSON path.
        field: String,
        /// Why it was refused.
        reason: String,
    },
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> SpecError {
    SpecError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

/// A spec together with the raw bytes it was parsed from and its resolved root path.
pub struct Loaded {
    /// The parsed configuration.
    pub spec: Spec,
    /// The exact bytes of config.json (kept with the container's state).
    pub raw: Vec<u8>,
    /// `root.path` resolved against the bundle directory.
    pub rootfs: PathBuf,
}

/// Reads and checks `<bundle>/config.json`.
pub fn load(bundle: &Path) -> Result<Loaded, SpecError> {
    let path = bundle.join("config.json");
    let raw = std::fs::read(&path).map_err(|source| SpecError::Read {
        path: path.clone(),
        source,
    })?;
    let spec = parse(&path, &raw)?;
    let rootfs = check(&spec, bundle)?;
    Ok(Loaded { spec, raw, rootfs })
}

/// Parses config.json bytes, naming the field on error.
pub fn parse(path: &Path, raw: &[u8]) -> Result<Spec, SpecError> {
    let mut de = serde_json::Deserializer::from_slice(raw);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        SpecError::Parse {
            path: path.to_path_buf(),
            field: if field == "." {
                "(document)".into()
            } else {
                field
            },
            message: inner.to_string(),
        }
    })
}

/// Checks the parts of the spec that serde cannot and returns the resolved root path.
pub fn check(spec: &Spec, bundle: &Path) -> Result<PathBuf, SpecError> {
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| invalid("root", "missing"))?;
    let rootfs = if root.path().is_absolute() {
        root.path().clone()
    } else {
        bundle.join(root.path())
    };
    if !rootfs.is_dir() {
        return Err(invalid(
            "root.path",
            format!("{} is not a directory", rootfs.display()),
        ));
    }
    check_process(spec)?;
    check_namespaces(spec)?;
    check_unsupported(spec)?;
    Ok(rootfs)
}

/// Fields berth cannot honour are refused rather than ignored.
fn check_unsupported(spec: &Spec) -> Result<(), SpecError> {
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    if linux.intel_rdt().is_some() {
        return Err(invalid("linux.intelRdt", "Intel RDT is not supported"));
    }
    if linux.net_devices().as_ref().is_some_and(|d| !d.is_empty()) {
        return Err(invalid(
            "linux.netDevices",
            "moving network devices is not supported",
        ));
    }
    if linux.memory_policy().is_some() {
        return Err(invalid(
            "linux.memoryPolicy",
            "memory policies are not supported",
        ));
    }
    Ok(())
}

fn check_process(spec: &Spec) -> Result<(), SpecError> {
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| invalid("process", "missing"))?;
    let args = process.args().as_deref().unwrap_or_default();
    if args.is_empty() {
        return Err(invalid("process.args", "must not be empty"));
    }
    if !process.cwd().is_absolute() {
        return Err(invalid(
            "process.cwd",
            format!("must be an absolute path, got {:?}", process.cwd()),
        ));
    }
    for (i, e) in process
        .env()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        if !e.contains('=') || e.contains('\0') {
            return Err(invalid(
                format!("process.env[{i}]"),
                format!("{e:?} is not of the form KEY=value"),
            ));
        }
    }
    Ok(())
}

fn check_namespaces(spec: &Spec) -> Result<(), SpecError> {
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    let namespaces = linux.namespaces().as_deref().unwrap_or_default();
    let mut seen = Vec::new();
    for (i, ns) in namespaces.iter().enumerate() {
        if seen.contains(&ns.typ()) {
            return Err(invalid(
                format!("linux.namespaces[{i}].type"),
                format!("namespace {} listed twice", ns.typ()),
            ));
        }
        seen.push(ns.typ());
        if let Some(p) = ns.path() {
            if !p.is_absolute() {
                return Err(invalid(
                    format!("linux.namespaces[{i}].path"),
                    format!("must be absolute, got {}", p.display()),
                ));
            }
        }
    }
    let has_user = seen.contains(&LinuxNamespaceType::User);
    if !has_user && linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty()) {
        return Err(invalid(
            "linux.uidMappings",
            "set without a user namespace in linux.namespaces",
        ));
    }
    if has_user && linux.uid_mappings().as_ref().is_none_or(|m| m.is_empty()) {
        let joined = namespaces
            .iter()
            .any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_some());
        if !joined {
            return Err(invalid(
                "linux.uidMappings",
                "a new user namespace needs uid mappings",
            ));
        }
    }
    Ok(())
}

/// The namespace entry of a type, if the spec lists it.
pub fn namespace(
    spec: &Spec,
    typ: LinuxNamespaceType,
) -> Option<&oci_spec::runtime::LinuxNamespace> {
    spec.linux()
        .as_ref()?
        .namespaces()
        .as_ref()?
        .iter()
        .find(|n| n.typ() == typ)
}

/// The config.json `spec` writes: what `runc spec` writes, with berth's hostname.
pub fn default_spec(rootless: bool) -> Spec {
    let mut spec = if rootless {
        Spec::rootless(
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        )
    } else {
        Spec::default()
    };
    spec.set_version("1.2.0".into());
    spec.set_hostname(Some("berth".into()));
    if let Some(p) = spec.process_mut() {
        p.set_terminal(Some(true));
    }
    spec
}
