//! A container made through the library with `create_kept`, on cgroup hierarchies found
//! before, and deleted with `delete_created` once its init is reaped (what berth's shim
//! does): its poststop hook runs, nothing is left behind, and a second delete (someone
//! else was first) is fine. Root needed.

mod common;

use std::path::Path;

use berth_cgroups::Hierarchies;
use berth_runtime::container::{CreateOptions, Runtime, CGROUP_ROOT};
use common::{assert_no_leftovers, Bundle};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use serde_json::json;

#[test]
fn a_kept_container_is_deleted_with_what_its_create_kept() {
    let mut b = Bundle::busybox();
    let logdir = tempfile::tempdir().unwrap();
    let log = logdir.path().join("log");
    let hook = format!("read -r s; echo \"$s\" >> {}", log.display());
    b.spec_mut()["hooks"] = json!({"poststop": [{"path": "/bin/sh", "args": ["sh", "-c", hook]}]});
    b.set_args(&["/bin/true"]);
    b.save();
    let root = tempfile::tempdir().unwrap();
    let h = Hierarchies::discover(Path::new(CGROUP_ROOT)).unwrap();
    let rt = Runtime::new(root.path()).with_hierarchies(h);
    let id = b.next_id();
    let opts = CreateOptions {
        id: id.clone(),
        bundle: b.path().into(),
        ..Default::default()
    };
    let created = rt.create_kept(&opts).unwrap();
    assert!(created.poststop);
    let paths = created.cgroup.paths();
    assert!(paths.iter().all(|p| p.is_dir()), "{paths:?}");
    rt.start(&id).unwrap();
    let pid = Pid::from_raw(created.saved.pid);
    assert_eq!(waitpid(pid, None).unwrap(), WaitStatus::Exited(pid, 0));
    assert_eq!(created.oom_kills(), 0);
    rt.delete_created(&created).unwrap();
    let cgroup = created.saved.cgroup_path.to_string_lossy().into_owned();
    assert_no_leftovers(root.path(), &id, &cgroup, b.path());
    let ran = std::fs::read_to_string(&log).unwrap();
    assert!(ran.contains("\"status\":\"stopped\""), "{ran}");
    // Deleted already: nothing to do, and the hook does not run again.
    rt.delete_created(&created).unwrap();
    assert_eq!(std::fs::read_to_string(&log).unwrap(), ran);
}

/// Creates, starts and reaps a `/bin/true` container on `rt` from `b`.
fn run_to_exit(rt: &Runtime, b: &Bundle) -> berth_runtime::container::Created {
    let opts = CreateOptions {
        id: b.next_id(),
        bundle: b.path().into(),
        ..Default::default()
    };
    let created = rt.create_kept(&opts).unwrap();
    rt.start(&opts.id).unwrap();
    let pid = Pid::from_raw(created.saved.pid);
    assert_eq!(waitpid(pid, None).unwrap(), WaitStatus::Exited(pid, 0));
    created
}

#[test]
fn a_kept_container_state_can_be_moved_to_a_grave_instead_of_removed() {
    let mut b = Bundle::busybox();
    b.set_args(&["/bin/true"]);
    b.save();
    let root = tempfile::tempdir().unwrap();
    let h = Hierarchies::discover(Path::new(CGROUP_ROOT)).unwrap();
    let rt = Runtime::new(root.path()).with_hierarchies(h);
    // The grave lies on the runtime root's file system, as a container's directory does.
    let grave = root.path().join("grave");
    let first = run_to_exit(&rt, &b);
    rt.delete_created_moving(&first, Some(&grave)).unwrap();
    let cgroup = first.saved.cgroup_path.to_string_lossy().into_owned();
    assert_no_leftovers(root.path(), &first.saved.id, &cgroup, b.path());
    assert!(grave.join(berth_runtime::state::STATE_FILE).is_file());
    // A second run's state takes the place of the first's.
    let second = run_to_exit(&rt, &b);
    rt.delete_created_moving(&second, Some(&grave)).unwrap();
    assert!(!root.path().join(&second.saved.id).exists());
    let state = std::fs::read_to_string(grave.join(berth_runtime::state::STATE_FILE)).unwrap();
    assert!(state.contains(&second.saved.id), "{state}");
    // Deleted already: nothing to do, and the grave stays as it is.
    rt.delete_created_moving(&second, Some(&grave)).unwrap();
    assert!(grave.join(berth_runtime::state::STATE_FILE).is_file());
    // A grave that cannot be reached (its parent is missing): removed in place.
    let third = run_to_exit(&rt, &b);
    let nowhere = root.path().join("missing/grave");
    rt.delete_created_moving(&third, Some(&nowhere)).unwrap();
    assert!(!root.path().join(&third.saved.id).exists());
    assert!(!nowhere.exists());
}
