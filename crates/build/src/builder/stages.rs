//! Which stages a build needs: the target (the last stage without `--target`), the
//! stages its `FROM` names, the stages its `COPY --from`s name, and theirs in turn.

use crate::ast::{Dockerfile, Instruction, Stage};

use super::error::BuildError;

/// The index of the stage `name` (a stage name or a number) among the first `before`
/// stages; None if it names none (it is then an image).
pub fn find(stages: &[Stage], before: usize, name: &str) -> Option<usize> {
    let lower = name.to_ascii_lowercase();
    if let Some(i) = stages[..before]
        .iter()
        .position(|s| s.name.as_deref() == Some(lower.as_str()))
    {
        return Some(i);
    }
    name.parse::<usize>().ok().filter(|i| *i < before)
}

/// The target stage's index.
pub fn target(df: &Dockerfile, target: Option<&str>) -> Result<usize, BuildError> {
    if df.stages.is_empty() {
        return Err(BuildError::NoStage);
    }
    match target {
        None => Ok(df.stages.len() - 1),
        Some(t) => {
            let lower = t.to_ascii_lowercase();
            df.stages
                .iter()
                .position(|s| s.name.as_deref() == Some(lower.as_str()))
                .ok_or_else(|| BuildError::NoTarget(t.to_string()))
        }
    }
}

/// Whether each stage up to `target` is needed to build it. `bases` are the stages'
/// `FROM`s with the global ARGs expanded; other stage references are taken as written.
/// One that names no earlier stage is an image.
pub fn needed(df: &Dockerfile, target: usize, bases: &[String]) -> Vec<bool> {
    let mut need = vec![false; target + 1];
    need[target] = true;
    for i in (0..=target).rev() {
        if !need[i] {
            continue;
        }
        let stage = &df.stages[i];
        let base = bases.get(i).unwrap_or(&stage.base);
        if let Some(j) = find(&df.stages, i, base) {
            need[j] = true;
        }
        for ins in &stage.instructions {
            for from in sources(&ins.value) {
                if let Some(j) = find(&df.stages, i, from) {
                    need[j] = true;
                }
            }
        }
    }
    need
}

/// The stages (or images) an instruction reads from: `COPY --from`, `RUN --mount=from=`.
fn sources(ins: &Instruction) -> Vec<&str> {
    match ins {
        Instruction::Copy(c) => c.from.as_deref().into_iter().collect(),
        Instruction::Run { mounts, .. } => mounts
            .iter()
            .flat_map(|m| &m.fields)
            .filter(|(k, _)| k == "from")
            .filter_map(|(_, v)| v.as_deref())
            .collect(),
        _ => Vec::new(),
    }
}
